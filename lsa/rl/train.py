"""Training of the DQN and PPO baselines with stable-baselines3 on `ChannelAssignmentEnv`: a pool of
generated instances (the `rl:` section), a per-episode reward log (CSV) and SB3's own `save`.

Both outputs are written atomically; the caller (CLI, workflow notebook) decides their paths.
"""
from __future__ import annotations

import itertools
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from lsa.engine.state import greedy_assign
from lsa.errors import LSAError
from lsa.io import atomic_path, check_writable
from lsa.rl.agent import load_agent, model_metadata, save_model
from lsa.rl.config import ALGORITHMS, RLConfig, shipped_model
from lsa.rl.env import ChannelAssignmentEnv
from lsa.sim.generate import generate_ppp
from lsa.sim.network import Network
from lsa.sim.params import NetworkConfig
from lsa.sim.utility import sum_rate

LOG_COLUMNS = ("algorithm", "seed", "episode", "timesteps", "instance", "N", "K", "regime",
               "episode_reward", "greedy_utility", "reward_vs_greedy", "wall_s")


def training_instances(cfg: RLConfig, network: NetworkConfig | None = None) -> list[Network]:
    """`n_train_instances` PPP instances cycling through train_n x train_k x train_regimes
    (seeds instance_seed, instance_seed + 1, ...: disjoint from the evaluation's small seeds)."""
    combos = list(itertools.product(cfg.train_n, cfg.train_k, cfg.train_regimes))
    return [generate_ppp(n, k, regime, cfg.instance_seed + i, network)
            for i, (n, k, regime) in zip(range(cfg.n_train_instances), itertools.cycle(combos))]


def _episode_logger(rows: list, greedy_utility: list[float], algorithm: str, seed: int, start: float):
    from stable_baselines3.common.callbacks import BaseCallback

    class EpisodeLog(BaseCallback):
        """One row per finished episode: its return (= final sum-rate) against greedy on the same instance."""

        def _on_step(self) -> bool:
            for done, info in zip(self.locals["dones"], self.locals["infos"]):
                if done and "utility" in info:
                    reference = greedy_utility[info["instance"]]
                    rows.append((algorithm, seed, len(rows), self.num_timesteps, info["instance"], info["N"],
                                 info["K"], info["regime"], info["utility"], reference,
                                 info["utility"] / reference if reference > 0 else np.nan,
                                 time.perf_counter() - start))
            return True

    return EpisodeLog()


def train_agent(algorithm: str, cfg: RLConfig, model_path: str | Path, log_path: str | Path, seed: int | None = None,
                network: NetworkConfig | None = None, timesteps: int | None = None) -> dict:
    """Train `algorithm` (dqn or ppo) for `timesteps` (default: cfg.timesteps) environment steps;
    save the model to `model_path` (.zip) and the per-episode reward log to `log_path` (.csv)."""
    import torch
    from sb3_contrib import MaskablePPO
    from stable_baselines3 import DQN
    from stable_baselines3.common.logger import Logger

    from lsa.rl.policies import SlotActorCriticPolicy, SlotDQNPolicy

    if algorithm not in ALGORITHMS:
        raise LSAError(f"unknown RL algorithm {algorithm!r}; known: {', '.join(ALGORITHMS)}")
    seed = cfg.seeds[0] if seed is None else int(seed)
    steps = cfg.steps(algorithm) if timesteps is None else int(timesteps)
    if steps < 1:
        raise LSAError(f"timesteps must be >= 1, got {steps}")
    model_path, log_path = Path(model_path), Path(log_path)
    if model_path.suffix != ".zip":
        raise LSAError(f"the model path must end in .zip (SB3 archive), got {model_path}")
    check_writable(model_path)
    check_writable(log_path)
    torch.set_num_threads(cfg.torch_threads)
    start = time.perf_counter()
    networks = training_instances(cfg, network)
    greedy_utility = [sum_rate(net, greedy_assign(net)) for net in networks]
    env = ChannelAssignmentEnv(networks, cfg.max_channels, cfg.permute_channels)
    setup_s = time.perf_counter() - start
    cls, policy = (DQN, SlotDQNPolicy) if algorithm == "dqn" else (MaskablePPO, SlotActorCriticPolicy)
    model = cls(policy, env, gamma=cfg.gamma, policy_kwargs={"net_arch": list(cfg.net_arch)}, seed=seed,
                device="cpu", verbose=0, **cfg.algorithm_kwargs(algorithm))
    # SB3's default logger (verbose=0) still creates $TMPDIR/SB3-<date>/ on every learn(); a logger
    # with no output format and no folder writes nothing (our own log is the per-episode CSV)
    model.set_logger(Logger(folder=None, output_formats=[]))
    rows: list[tuple] = []
    t0 = time.perf_counter()
    model.learn(total_timesteps=steps, callback=_episode_logger(rows, greedy_utility, algorithm, seed, t0))
    train_s = time.perf_counter() - t0
    log = pd.DataFrame(rows, columns=list(LOG_COLUMNS))
    with atomic_path(log_path) as tmp:
        log.to_csv(tmp, index=False)
    tail = log.tail(max(1, len(log) // 10))
    info = {"algorithm": algorithm, "seed": seed, "timesteps": steps, "episodes": len(log),
            "train_instances": len(networks), "setup_s": round(setup_s, 2), "train_s": round(train_s, 2),
            "last_decile_reward_vs_greedy": round(float(tail["reward_vs_greedy"].mean()), 4) if len(log) else None,
            "model": str(model_path), "log": str(log_path)}
    meta = model_metadata(algorithm, cfg.max_channels, cfg.net_arch, gamma=cfg.gamma, trained=info,
                          rl_config=cfg.to_dict())
    with atomic_path(model_path) as tmp:
        save_model(model, tmp, meta)
        Path(tmp).chmod(0o644)
    return info


def ship(model_path: str | Path, algorithm: str) -> Path:
    """Copy a trained model into the package as the default of `algorithm` (after checking it loads)."""
    load_agent(model_path, algorithm)
    target = shipped_model(algorithm)
    with atomic_path(target) as tmp:
        shutil.copyfile(model_path, tmp)
        Path(tmp).chmod(0o644)              # package data: readable by everyone
    return target
