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

from lsa.sim.engine import MoveState, signal_order
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
def _levels(order, position, nbr_ptr, nbr_idx):  # pragma: no cover - compiled
    level = np.zeros(order.shape[0], dtype=np.int64)
    for t in range(order.shape[0]):
        i = order[t]
        deepest = 0
        for e in range(nbr_ptr[i], nbr_ptr[i + 1]):
            j = nbr_idx[e]
            if position[j] < t and level[j] + 1 > deepest:
                deepest = level[j] + 1
        level[i] = deepest
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
        """The visiting order cut into waves of mutually non-adjacent links whose earlier neighbours
        are all in earlier waves: placing a wave at once gives exactly the sequential episode."""
        if self._batches is None:
            level = _levels(self.order, self.position, self.nbr_ptr, self.nbr_idx)
            by_level = self.order[np.argsort(level[self.order], kind="stable")]
            self._batches = np.split(by_level, np.cumsum(np.bincount(level))[:-1])
        return self._batches


def observe(ctx: EpisodeContext, state: MoveState, links: np.ndarray,
            slots: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(B, observation_size(S)) float32 observations of the unplaced `links` with slot s showing
    channel `slots[s]` (default: S = K slots, one per channel), and their (B, K) exact marginal
    sum-rate gains per channel (the rewards of the possible actions)."""
    net = ctx.net
    K, noise = net.K, net.noise_w
    links = np.asarray(links, dtype=np.int64)
    B = links.shape[0]
    if slots is None:
        slots = np.arange(K)
    valid = (np.arange(len(slots)) < K).astype(np.float64)
    gains = state.all_gains(links)
    interference = state.interference_of(links)
    own_rate = np.log2(1.0 + net.signal_w[links] / (noise + interference))
    # neighbours of every link of the batch, flattened (row = index in the batch)
    start, stop = ctx.nbr_ptr[links], ctx.nbr_ptr[links + 1]
    degree = stop - start
    rows = np.repeat(np.arange(B), degree)
    entries = np.arange(int(degree.sum())) - np.repeat(np.cumsum(degree) - degree, degree) + np.repeat(start, degree)
    nbr = ctx.nbr_idx[entries]
    channel = state.assignment[nbr]          # a view (or one O(N) copy on renumbered large instances)
    placed = channel >= 0
    n_placed = np.bincount(rows[placed], minlength=B)
    occupancy = np.bincount(rows[placed] * K + channel[placed], minlength=B * K).reshape(B, K)
    free = ~placed
    demand = np.bincount(rows[free] * K + ctx.best_channel[nbr[free]], weights=ctx.nbr_w[entries[free]],
                         minlength=B * K).reshape(B, K)
    per_degree = 1.0 / np.maximum(degree, 1)
    per_channel = np.stack([
        ctx.snr_feature[links],
        10.0 * np.log10(1.0 + interference / noise) / DB_SCALE,
        own_rate / RATE_SCALE,
        (own_rate - gains) / RATE_SCALE,
        occupancy * per_degree[:, None],
        np.log1p(demand),
    ], axis=2)[:, slots, :]
    per_channel = np.concatenate([per_channel, np.broadcast_to(valid[None, :, None], (B, len(slots), 1))], axis=2)
    overall = np.stack([ctx.position[links] / net.N, np.full(B, np.log2(K) / 4.0),
                        np.log1p(degree) / np.log1p(DEGREE_SCALE), n_placed * per_degree], axis=1)
    obs = np.concatenate([per_channel.reshape(B, -1), overall], axis=1)
    return np.clip(obs, -CLIP, CLIP).astype(np.float32), gains
