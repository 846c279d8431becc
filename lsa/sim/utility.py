"""Utility and metrics of a channel assignment (SPEC §2), vectorised over the sparse cross gains.

Every method is scored by `evaluate(net, assignment)`; `sum_rate` is the fast path used in loops.
"""
from __future__ import annotations

import numpy as np

from lsa.sim.network import Network


def interference_w(net: Network, assignment: np.ndarray) -> np.ndarray:
    """(N,) co-channel interference power at each receiver, watts."""
    same = assignment[net.cross_row] == assignment[net.cross_col]
    return np.bincount(net.cross_row[same], weights=net.cross_power_w[same], minlength=net.N)


def channel_interference_w(net: Network, assignment: np.ndarray) -> np.ndarray:
    """(N, K) interference each receiver would see on each channel, given everyone else's channel."""
    flat = net.cross_row * net.K + assignment[net.cross_col]
    return np.bincount(flat, weights=net.cross_power_w, minlength=net.N * net.K).reshape(net.N, net.K)


def sinr(net: Network, assignment: np.ndarray) -> np.ndarray:
    signal = net.signal_w[np.arange(net.N), assignment]
    return signal / (net.noise_w + interference_w(net, assignment))


def link_rates(net: Network, assignment: np.ndarray) -> np.ndarray:
    """(N,) spectral efficiency log2(1 + SINR_i), bit/s/Hz."""
    return np.log2(1.0 + sinr(net, assignment))


def sum_rate(net: Network, assignment: np.ndarray) -> float:
    """Spectral utility U(c) = sum_i log2(1 + SINR_i(c)), bit/s/Hz."""
    return float(link_rates(net, assignment).sum())


def conflicts(net: Network, assignment: np.ndarray) -> int:
    """Unordered pairs with a stored cross gain (either direction) sharing a channel."""
    i, j = net.conflict_pairs
    return int(np.count_nonzero(assignment[i] == assignment[j]))


def jain_index(values: np.ndarray) -> float:
    values = np.asarray(values, dtype=np.float64)
    denom = len(values) * float(np.sum(values ** 2))
    return float(values.sum() ** 2 / denom) if denom > 0 else 1.0


def is_valid(net: Network, assignment) -> bool:
    a = np.asarray(assignment)
    return (a.shape == (net.N,) and a.dtype.kind in "iu" and (a.size == 0 or (a.min() >= 0 and a.max() < net.K)))


def evaluate(net: Network, assignment: np.ndarray) -> dict:
    """All SPEC §2 metrics: utility [bit/s/Hz], throughput [bit/s], mean/p5 link rate [bit/s], Jain, conflicts."""
    assignment = np.asarray(assignment, dtype=np.int64)
    rates = link_rates(net, assignment)
    rates_bps = rates * net.bandwidth_hz
    return {
        "utility": float(rates.sum()),
        "throughput_bps": float(rates_bps.sum()),
        "mean_rate_bps": float(rates_bps.mean()),
        "p5_rate_bps": float(np.percentile(rates_bps, 5)),
        "jain": jain_index(rates),
        "conflicts": conflicts(net, assignment),
    }
