"""Configuration of the reinforcement-learning baselines (README, Methods): the self-validating `rl:`
section — training instances, steps, seeds, the SB3 hyperparameters of DQN and PPO, inference.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lsa.config import Section, option, section

#: the RL algorithms (each is a method of the same name)
ALGORITHMS = ("dqn", "ppo")
#: where the shipped trained defaults live (inside the package, so pip installs them)
SHIPPED_RL_DIR = Path(__file__).resolve().parent.parent / "data" / "models" / "rl"

#: SB3 constructor arguments the profile may set (others are fixed by the formulation)
DQN_KEYS = ("learning_rate", "buffer_size", "learning_starts", "batch_size", "tau", "train_freq",
            "gradient_steps", "target_update_interval", "exploration_fraction", "exploration_initial_eps",
            "exploration_final_eps", "max_grad_norm")
PPO_KEYS = ("learning_rate", "n_steps", "batch_size", "n_epochs", "gae_lambda", "clip_range", "ent_coef",
            "vf_coef", "max_grad_norm", "normalize_advantage", "target_kl")


def shipped_model(algorithm: str) -> Path:
    """The trained default of `algorithm` that ships with the package."""
    return SHIPPED_RL_DIR / f"{algorithm}.zip"


@dataclass(frozen=True)
class RLConfig(Section):
    """DQN / PPO baselines: one shared policy assigns links sequentially from local features."""

    SECTION = "rl"

    max_channels: int = option(
        8, "K_max of training: the environment's action space is Discrete(K_max), an instance's K channels tiled "
           "over the slots (the first K valid). The policy scores every slot with one shared network, so "
           "inference takes any K.")
    train_n: list[int] = option([40, 80, 160], "Sizes N of the training instances.")
    train_k: list[int] = option([3, 4, 8], "Channel counts K of the training instances (each <= max_channels).")
    train_regimes: list[str] = option(["sparse", "dense", "ultra-dense"], "Density regimes of the training instances.")
    n_train_instances: int = option(36, "Training instances (every N x K x regime combination in turn); "
                                        "each episode assigns one of them, drawn at random.")
    instance_seed: int = option(1000, "Seed of the first training instance (evaluation uses seeds 0, 1, ...).")
    seeds: list[int] = option([0], "Training seeds: one model per algorithm and seed; the first is the default model.")
    timesteps: dict[str, int] = option({"dqn": 100000, "ppo": 100000}, "Environment steps (link assignments) per training run.")
    gamma: float = option(0.5, "Discount (Nasir & Guo 2019: 0.5). At 1 the return is the final sum-rate; lower values "
                               "weigh a link's own marginal gain more than its effect on the links after it.")
    net_arch: list[int] = option([64, 64], "Hidden layers of the MLP (Q-network for DQN; policy and value nets for PPO).")
    permute_channels: bool = option(
        True, "Training: show the channels in a random slot order at every step (channels are exchangeable).")
    dqn: dict[str, float | bool] = option(
        {"learning_rate": 5.0e-4, "buffer_size": 50000, "learning_starts": 1000, "batch_size": 64,
         "train_freq": 4, "target_update_interval": 1000, "exploration_fraction": 0.2,
         "exploration_final_eps": 0.05}, f"stable_baselines3.DQN arguments (allowed: {', '.join(DQN_KEYS)}).")
    ppo: dict[str, float | bool] = option(
        {"learning_rate": 3.0e-4, "n_steps": 1024, "batch_size": 256, "n_epochs": 4, "ent_coef": 0.01},
        f"sb3_contrib.MaskablePPO arguments (allowed: {', '.join(PPO_KEYS)}).")
    sample_epsilon: float = option(0.01, "Inference, DQN: share of random channels in the sampled rollouts after the greedy one.")
    sample_temperature: float = option(
        0.1, "Inference, PPO: the sampled rollouts after the greedy one draw from softmax(logits / temperature).")
    torch_threads: int = option(1, "torch.set_num_threads in training and inference (matched compute: 1).")

    def check(self) -> None:
        if not 2 <= self.max_channels <= 64:
            self.fail(f"max_channels must be in [2, 64], got {self.max_channels}")
        if not self.train_n or min(self.train_n) < 2:
            self.fail(f"train_n must be a non-empty list of sizes >= 2, got {self.train_n}")
        if not self.train_k or min(self.train_k) < 1 or max(self.train_k) > self.max_channels:
            self.fail(f"train_k must be a non-empty list in [1, max_channels={self.max_channels}], got {self.train_k}")
        if not self.train_regimes:
            self.fail("train_regimes must name at least one regime")
        if self.n_train_instances < 1 or self.instance_seed < 0:
            self.fail("need n_train_instances >= 1 and instance_seed >= 0")
        if not self.seeds or min(self.seeds) < 0:
            self.fail(f"seeds must be a non-empty list of integers >= 0, got {self.seeds}")
        unknown = sorted(set(self.timesteps) - set(ALGORITHMS))
        if unknown or any(not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in self.timesteps.values()):
            self.fail(f"timesteps maps {' and '.join(ALGORITHMS)} to positive integers, got {self.timesteps}")
        if not 0.0 < self.gamma <= 1.0:
            self.fail(f"gamma must be in (0, 1], got {self.gamma}")
        if not self.net_arch or min(self.net_arch) < 1:
            self.fail(f"net_arch must list positive layer widths, got {self.net_arch}")
        for name, values, allowed in (("dqn", self.dqn, DQN_KEYS), ("ppo", self.ppo, PPO_KEYS)):
            bad = sorted(set(values) - set(allowed))
            if bad:
                self.fail(f"{name}: unknown argument(s) {', '.join(bad)} (allowed: {', '.join(allowed)})")
        if not 0.0 <= self.sample_epsilon <= 1.0:
            self.fail(f"sample_epsilon must be in [0, 1], got {self.sample_epsilon}")
        if not self.sample_temperature > 0:
            self.fail(f"sample_temperature must be > 0, got {self.sample_temperature}")
        if self.torch_threads < 1:
            self.fail("torch_threads must be >= 1")

    def steps(self, algorithm: str) -> int:
        return int(self.timesteps.get(algorithm, 100000))

    def algorithm_kwargs(self, algorithm: str) -> dict:
        """The SB3 constructor arguments of `algorithm` (integers where SB3 wants them)."""
        values = dict(self.dqn if algorithm == "dqn" else self.ppo)
        for key in ("buffer_size", "learning_starts", "batch_size", "train_freq", "gradient_steps",
                    "target_update_interval", "n_steps", "n_epochs"):
            if key in values:
                values[key] = int(values[key])
        return values


def rl_config(config: dict | None) -> RLConfig:
    """The `rl:` section of a loaded profile (defaults where absent)."""
    return section(config, RLConfig)
