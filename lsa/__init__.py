"""LSA: LLM-driven large-scale spectrum access. Layers, each importing only from those above it:
errors/io/config → sim → methods → programs → policy → rl → workflow → cli (see docs/architecture.md).
"""
