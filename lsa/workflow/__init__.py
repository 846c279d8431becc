"""The reproduction workflow's library: where every stage writes (paths), what it trains and
evaluates (settings: policy families x training seeds), each stage's config slice and parameters
(stages), the studies, provenance, statistics, the figures and the reproduction report.

The CLI, the Snakefile and the stage notebooks call into it; the science layers (sim, methods,
programs, policy, rl) never import it.
"""
