"""Observations of the sequential assignment episode: the normalised local features of a link given
the links placed before it, for one link (the environment) or a batch (inference), one implementation.

Per channel k of link i (dB are relative to the noise power, rates in bit/s/Hz):
  own SNR on k; interference it would receive on k from placed links (INR); its rate on k; the rate
  it would take from placed links on k (harm = own rate - exact marginal gain of the move engine);
  share of its conflict-graph neighbours placed on k; coupling of its unplaced neighbours that
  prefer k (their best own channel); a `valid` flag. Global: progress, log2 K, degree, share of
  neighbours placed. Observations have one slot per channel at inference; the training environment
  tiles the K channels over its K_max action slots (slot s >= K repeats a channel, valid = 0).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np

from lsa.engine.adjacency import adjacency
from lsa.engine.state import MoveState, signal_order
from lsa.engine.warm import warmup as engine_warmup
from lsa.sim import jit
from lsa.sim.generate import from_edges
from lsa.sim.network import Network

CHANNEL_FEATURES = ("snr_db", "inr_db", "own_rate", "harm", "occupancy", "demand", "valid")
GLOBAL_FEATURES = ("progress", "log2_channels", "degree", "placed_share")
#: dB values are divided by this, rates (bit/s/Hz) by RATE_SCALE; every feature is clipped to ±CLIP
DB_SCALE = 30.0
RATE_SCALE = 10.0
CLIP = 5.0
#: degree normalisation: log1p(deg) / log1p(DEGREE_SCALE)
DEGREE_SCALE = 512


def observation_size(n_slots: int) -> int:
    return n_slots * len(CHANNEL_FEATURES) + len(GLOBAL_FEATURES)


def slot_channels(K: int, n_slots: int, permutation: np.ndarray | None = None) -> np.ndarray:
    """(n_slots,) channel shown in each slot: s mod K, optionally through a channel permutation."""
    slots = np.arange(n_slots) % K
    return slots if permutation is None else np.asarray(permutation)[slots]


@numba.njit(cache=True)
def _levels(order, position, nbr_ptr, nbr_idx, victim_ptr, victim_idx, inv, perm):  # pragma: no cover - compiled
    """Wave of each link: after every earlier link it depends on, i.e. its conflict-graph neighbours
    and the other interferers of its victims (their interference enters its harm). Victim lists are
    in the engine's numbering (`inv`: instance -> internal, `perm`: internal -> instance)."""
    level = np.zeros(order.shape[0], dtype=np.int64)
    deepest_interferer = np.full(order.shape[0], -1, dtype=np.int64)   # per victim, over earlier links
    for t in range(order.shape[0]):
        i = order[t]
        deepest = 0
        for e in range(nbr_ptr[i], nbr_ptr[i + 1]):
            j = nbr_idx[e]
            if position[j] < t and level[j] + 1 > deepest:
                deepest = level[j] + 1
        for e in range(victim_ptr[inv[i]], victim_ptr[inv[i] + 1]):
            v = perm[victim_idx[e]]
            if deepest_interferer[v] + 1 > deepest:
                deepest = deepest_interferer[v] + 1
        level[i] = deepest
        for e in range(victim_ptr[inv[i]], victim_ptr[inv[i] + 1]):
            v = perm[victim_idx[e]]
            if deepest > deepest_interferer[v]:
                deepest_interferer[v] = deepest
    return level


@dataclass
class EpisodeContext:
    """What every step of an episode on `net` needs: the visiting order and the neighbour lists."""

    net: Network
    order: np.ndarray          # (N,) links in visiting order (strongest first: `signal_order`)
    position: np.ndarray       # (N,) step at which each link is visited
    nbr_ptr: np.ndarray        # CSR of the symmetric conflict graph, weights = normalised coupling
    nbr_idx: np.ndarray
    nbr_w: np.ndarray
    best_channel: np.ndarray   # (N,) channel of largest own gain
    snr_feature: np.ndarray    # (N, K) own SNR feature
    _batches: list | None = field(default=None, repr=False)

    @classmethod
    def build(cls, net: Network) -> "EpisodeContext":
        warmup()
        return cls._build(net)

    @classmethod
    def _build(cls, net: Network) -> "EpisodeContext":
        order = np.asarray(signal_order(net), dtype=np.int64)
        position = np.empty(net.N, dtype=np.int64)
        position[order] = np.arange(net.N)
        weight = net.symmetric_weight
        snr = np.maximum(net.signal_w, net.noise_w * 1e-9) / net.noise_w
        return cls(net, order, position, weight.indptr.astype(np.int64),
                   weight.indices.astype(np.int64), np.asarray(weight.data, dtype=np.float64),
                   np.argmax(net.signal_w, axis=1), 10.0 * np.log10(snr) / DB_SCALE)

    @property
    def batches(self) -> list[np.ndarray]:
        """The visiting order cut into waves: a link's observation depends only on its neighbours and
        on the other interferers of its victims, so each wave holds links that depend on none of the
        same wave and on no later link. Observing and placing a wave at once gives exactly the
        sequential episode (up to floating-point summation order)."""
        if self._batches is None:
            adj = adjacency(self.net)           # the engine's victim lists (internal numbering)
            identity = np.arange(self.net.N)
            level = _levels(self.order, self.position, self.nbr_ptr, self.nbr_idx, adj.out_ptr, adj.out_dst,
                            identity if adj.inv is None else adj.inv, identity if adj.perm is None else adj.perm)
            by_level = self.order[np.argsort(level[self.order], kind="stable")]
            self._batches = np.split(by_level, np.cumsum(np.bincount(level))[:-1])
        return self._batches


@numba.njit(cache=True)
def _features(links, slots, gains, interference, signal, noise, snr_feature, position, nbr_ptr, nbr_idx, nbr_w,
              assignment, best_channel, out):  # pragma: no cover - compiled
    n_slots, n_feat, K = slots.shape[0], len(CHANNEL_FEATURES), gains.shape[1]
    occupancy = np.zeros(K)
    demand = np.zeros(K)
    for b in range(links.shape[0]):
        i = links[b]
        occupancy[:] = 0.0
        demand[:] = 0.0
        placed = 0
        for e in range(nbr_ptr[i], nbr_ptr[i + 1]):
            c = assignment[nbr_idx[e]]
            if c >= 0:
                occupancy[c] += 1.0
                placed += 1
            else:
                demand[best_channel[nbr_idx[e]]] += nbr_w[e]
        degree = nbr_ptr[i + 1] - nbr_ptr[i]
        per_degree = 1.0 / max(degree, 1)
        for s in range(n_slots):
            k = slots[s]
            rate = np.log2(1.0 + signal[i, k] / (noise + interference[b, k]))
            row = (snr_feature[i, k], 10.0 * np.log10(1.0 + interference[b, k] / noise) / DB_SCALE,
                   rate / RATE_SCALE, (rate - gains[b, k]) / RATE_SCALE, occupancy[k] * per_degree,
                   np.log1p(demand[k]), 1.0 if s < K else 0.0)
            for f in range(n_feat):
                out[b, s * n_feat + f] = min(max(row[f], -CLIP), CLIP)
        base = n_slots * n_feat
        overall = (position[i] / position.shape[0], np.log2(K) / 4.0, np.log1p(degree) / np.log1p(DEGREE_SCALE),
                   placed * per_degree)
        for f in range(len(GLOBAL_FEATURES)):
            out[b, base + f] = min(max(overall[f], -CLIP), CLIP)


def observe(ctx: EpisodeContext, state: MoveState, links: np.ndarray,
            slots: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(B, observation_size(S)) float32 observations of the unplaced `links` with slot s showing
    channel `slots[s]` (default: S = K slots, one per channel), and their (B, K) exact marginal
    sum-rate gains per channel (the rewards of the possible actions)."""
    net = ctx.net
    links = np.asarray(links, dtype=np.int64)
    slots = np.arange(net.K) if slots is None else np.asarray(slots, dtype=np.int64)
    gains = state.all_gains(links)
    obs = np.empty((links.shape[0], observation_size(slots.shape[0])), dtype=np.float32)
    _features(links, slots, gains, state.interference_of(links), net.signal_w, float(net.noise_w), ctx.snr_feature,
              ctx.position, ctx.nbr_ptr, ctx.nbr_idx, ctx.nbr_w, state.assignment, ctx.best_channel, obs)
    return obs, gains


def warmup() -> float:
    """Compile (or load) this module's kernels once per process, under lsa.sim.jit's lock where this
    machine's cache is stale; returns the seconds it took (0.0 when already done)."""
    return engine_warmup() + jit.warm("rl", (__file__,), _compile_all)


def _compile_all() -> None:
    """Both kernels through the code paths of training and inference, on a tiny instance."""
    ctx = EpisodeContext._build(from_edges(4, [(0, 1), (1, 2), (2, 3)], 2))
    state = MoveState(ctx.net)
    observe(ctx, state, ctx.batches[0])                                           # inference (waves)
    observe(ctx, state, ctx.order[0:1], slot_channels(ctx.net.K, 3, np.array([1, 0])))  # environment
