"""The LSA policy (SPEC §7): hierarchical serializer, prompts, the program grammar and pretraining
corpus, models, rewards, pretraining, GRPO and SFT training, and inference (`lsa-code`, `lsa-direct`).
"""
