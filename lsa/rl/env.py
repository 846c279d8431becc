"""The gymnasium environment of the RL baselines: one episode assigns every link of an instance a
channel, one link per step in `signal_order`; the reward is the exact marginal change of sum-rate.

The rewards of an episode therefore sum to the sum-rate of the final assignment (docs/model.md, SINR and utility).
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np

from lsa.engine.state import MoveState
from lsa.rl.features import CLIP, EpisodeContext, observation_size, observe, slot_channels
from lsa.sim.network import Network


class ChannelAssignmentEnv(gym.Env):
    """Sequential channel assignment over a pool of instances (one drawn at random per episode).

    Observation: `lsa.rl.features` of the current link (Box, float32); action: `Discrete(K_max)`,
    slot s meaning channel `slots[s]` (the K channels tiled over K_max slots; with
    `permute_channels`, in a random order drawn at every step); `action_masks()` marks the first
    K slots (sb3-contrib MaskablePPO); DQN may pick a tiled copy, which means the same channel. `info` at the end of an episode
    holds `utility` (the final sum-rate) and `instance` (the pool index)."""

    metadata = {"render_modes": []}

    def __init__(self, networks: list[Network], max_channels: int, permute_channels: bool = False):
        super().__init__()
        if not networks:
            raise ValueError("the environment needs at least one instance")
        too_many = [net.K for net in networks if net.K > max_channels]
        if too_many:
            raise ValueError(f"instances with K = {max(too_many)} > max_channels = {max_channels}")
        self.contexts = [EpisodeContext.build(net) for net in networks]
        self.max_channels = max_channels
        self.permute_channels = permute_channels
        self.observation_space = gym.spaces.Box(-CLIP, CLIP, shape=(observation_size(max_channels),),
                                                dtype=np.float32)
        self.action_space = gym.spaces.Discrete(max_channels)
        self.instance = 0
        self._ctx = self.contexts[0]
        self._state: MoveState | None = None
        self._step = 0

    # ----- gymnasium API ------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if options and "instance" in options:
            self.instance = int(options["instance"])
        else:
            self.instance = int(self.np_random.integers(len(self.contexts)))
        self._ctx = self.contexts[self.instance]
        self._state = MoveState(self._ctx.net)
        self._step = 0
        return self._observe(), {}

    def step(self, action):
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        link = self._ctx.order[self._step]
        channel = int(self._slots[int(action)])
        reward = float(self._gains[channel])
        self._state.move(link, channel)
        self._step += 1
        terminated = self._step == self._ctx.net.N
        info = {}
        if terminated:
            obs = np.zeros(self.observation_space.shape, dtype=np.float32)
            info = {"utility": float(self._state.utility), "instance": self.instance,
                    "N": self._ctx.net.N, "K": self._ctx.net.K, "regime": self._ctx.net.regime}
        else:
            obs = self._observe()
        return obs, reward, terminated, False, info

    def action_masks(self) -> np.ndarray:
        """(K_max,) True for the slots of distinct channels (the first K)."""
        return np.arange(self.max_channels) < self._ctx.net.K

    # ----- helpers ------------------------------------------------------------------------
    @property
    def assignment(self) -> np.ndarray:
        """The episode's assignment so far (-1 = not yet placed)."""
        return self._state.assignment.copy()

    def _observe(self) -> np.ndarray:
        K = self._ctx.net.K
        permutation = self.np_random.permutation(K) if self.permute_channels else None
        self._slots = slot_channels(K, self.max_channels, permutation)
        link = self._ctx.order[self._step:self._step + 1]
        obs, gains = observe(self._ctx, self._state, link, self._slots)
        self._gains = gains[0]
        return obs[0]
