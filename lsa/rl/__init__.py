"""The reinforcement-learning baselines `dqn` and `ppo` (README, Methods): a gymnasium environment of
sequential channel assignment, stable-baselines3 training, and the anytime methods built on it.

Public API (import from the modules; this package imports nothing, so `lsa methods` stays fast):
  lsa.rl.config    RLConfig (the `rl:` section), rl_config, shipped_model
  lsa.rl.env       ChannelAssignmentEnv
  lsa.rl.features  EpisodeContext, observe (one observation code path for training and inference)
  lsa.rl.train     train_agent, training_instances, ship
  lsa.rl.agent     load_agent, read_metadata (weights-only loading of SB3 archives)
  lsa.rl.methods   DQN_METHOD, PPO_METHOD, rollout (entry points of the group `lsa.methods`)
"""
