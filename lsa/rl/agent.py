"""Trained RL agents on disk and in memory: SB3's own `save` plus an `lsa_rl.json` entry naming the
algorithm and observation layout; loading reads only that JSON and the weights (no unpickling).

A model file is untrusted input: SB3's `load` would unpickle objects stored in the archive, so we
rebuild the policy from our own spaces and load its state dict with `torch.load(weights_only=True)`.
"""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lsa.errors import LSAError
from lsa.rl.features import CHANNEL_FEATURES, CLIP, GLOBAL_FEATURES, observation_size

FORMAT = "lsa-rl-v1"
#: the policy network (lsa.rl.policies): a per-slot scorer shared by every channel
ARCHITECTURE = "slot-scorer-v1"
META_NAME = "lsa_rl.json"
#: a metadata entry larger than this is not ours; nor an archive that unpacks to more than MAX_ARCHIVE_BYTES
MAX_META_BYTES = 1 << 16
MAX_ARCHIVE_BYTES = 256 << 20


def spaces(max_channels: int):
    """The observation and action spaces of the environment (and of every saved policy)."""
    import gymnasium as gym

    return (gym.spaces.Box(-CLIP, CLIP, shape=(observation_size(max_channels),), dtype=np.float32),
            gym.spaces.Discrete(max_channels))


def model_metadata(algorithm: str, max_channels: int, net_arch: list[int], **extra) -> dict:
    return {"format": FORMAT, "algorithm": algorithm, "architecture": ARCHITECTURE,
            "max_channels": int(max_channels),
            "channel_features": list(CHANNEL_FEATURES), "global_features": list(GLOBAL_FEATURES),
            "net_arch": [int(w) for w in net_arch], **extra}


def save_model(model, path: Path, metadata: dict) -> None:
    """SB3 `save` of `model` to `path` (a .zip written by the caller atomically) plus our metadata entry."""
    model.save(str(path))
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(META_NAME, json.dumps(metadata, indent=1))


@dataclass
class Agent:
    """A loaded policy: `scores(obs)` gives (B, S) slot scores (DQN: Q-values, PPO: logits) for
    observations with any number of slots S (one per channel at inference)."""

    algorithm: str
    policy: object
    max_channels: int
    source: str
    metadata: dict

    def scores(self, obs: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            x = torch.as_tensor(obs)
            if self.algorithm == "dqn":
                out = self.policy.q_net.q_net(x)               # the shared SlotScorer
            else:
                out = self.policy.mlp_extractor.forward_actor(x)
        return out.numpy()


def _fail(path: Path, problem: str):
    raise LSAError(f"cannot load RL model {path}: {problem}")


def read_metadata(path: str | Path) -> dict:
    """The `lsa_rl.json` entry of a saved model; a missing, foreign or broken file is an `LSAError`."""
    path = Path(path)
    if not path.is_file():
        _fail(path, "file not found" if not path.exists() else "not a file")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if META_NAME not in names or "policy.pth" not in names:
                _fail(path, f"not a model saved by `lsa rl-train` (no {META_NAME} or policy.pth in the archive)")
            if archive.getinfo(META_NAME).file_size > MAX_META_BYTES:
                _fail(path, f"{META_NAME} is too large")
            if sum(info.file_size for info in archive.infolist()) > MAX_ARCHIVE_BYTES:
                _fail(path, f"it unpacks to more than {MAX_ARCHIVE_BYTES >> 20} MiB")
            meta = json.loads(archive.read(META_NAME).decode())
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        _fail(path, f"not a model saved by `lsa rl-train` ({type(exc).__name__})")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        _fail(path, f"{META_NAME} does not declare format {FORMAT!r}")
    if meta.get("architecture") != ARCHITECTURE:
        _fail(path, f"its policy architecture {meta.get('architecture')!r} is not {ARCHITECTURE!r}")
    if meta.get("channel_features") != list(CHANNEL_FEATURES) or meta.get("global_features") != list(GLOBAL_FEATURES):
        _fail(path, "it was trained on other observation features than this version computes")
    if not isinstance(meta.get("max_channels"), int) or not 2 <= meta["max_channels"] <= 64:
        _fail(path, "max_channels missing or out of range")
    arch = meta.get("net_arch")
    if not isinstance(arch, list) or not arch or not all(isinstance(w, int) and 0 < w <= 4096 for w in arch):
        _fail(path, "net_arch missing or invalid")
    return meta


def load_agent(path: str | Path, algorithm: str) -> Agent:
    """Load a DQN or PPO policy saved by `lsa.rl.train` (weights only, on the CPU)."""
    from stable_baselines3.common.save_util import load_from_zip_file

    path = Path(path)
    meta = read_metadata(path)
    if meta.get("algorithm") != algorithm:
        _fail(path, f"it holds a {meta.get('algorithm')!r} model, not {algorithm!r}")
    obs_space, action_space = spaces(meta["max_channels"])
    from lsa.rl.policies import SlotActorCriticPolicy, SlotDQNPolicy

    policy_class = SlotDQNPolicy if algorithm == "dqn" else SlotActorCriticPolicy
    policy = policy_class(obs_space, action_space, lambda _: 0.0, net_arch=list(meta["net_arch"]))
    try:
        _, params, _ = load_from_zip_file(path, load_data=False, device="cpu")
        policy.load_state_dict(params["policy"], strict=True)
    except Exception as exc:  # noqa: BLE001 - any failure of a foreign archive is one clear line
        _fail(path, f"its policy weights do not load ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})")
    policy.set_training_mode(False)
    return Agent(algorithm, policy, int(meta["max_channels"]), str(path), meta)
