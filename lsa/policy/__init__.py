"""The LSA policy (docs/policy.md): hierarchical serializer, prompts, the program grammar and pretraining
corpus, models, rewards, pretraining, GRPO and SFT training, and inference (`lsa-code`, `lsa-direct`).
"""
