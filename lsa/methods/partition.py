"""Partitioning of the links into clusters and the cluster-by-cluster sweep shared by the
partitioned methods (`km-partitioned`, `pulp-partitioned`): budget split, fixed-neighbour
interference, periodic incumbents, and greedy completion of the clusters not reached.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np
from scipy.sparse.csgraph import reverse_cuthill_mckee

from lsa.methods.protocol import Anytime
from lsa.sim.engine import greedy_assign, signal_order
from lsa.sim.network import Network
from lsa.sim.utility import sum_rate


def partition(net: Network, cluster_size: int) -> list[np.ndarray]:
    """Split the links into clusters of at most `cluster_size` links, as balanced as possible.

    With receiver positions: recursive coordinate bisection (split at the median of the longer
    extent, the number of clusters on each side proportional to its links), so a cluster is a
    compact spatial cell and consecutive clusters are spatial neighbours. Without positions
    (graph instances): reverse Cuthill-McKee order of the conflict graph cut into consecutive
    chunks, so strongly connected links tend to share a cluster (Cuthill & McKee 1969).
    Every link is in exactly one cluster; each cluster is sorted.
    """
    if cluster_size < 1:
        raise ValueError(f"cluster_size must be >= 1, got {cluster_size}")
    N = net.N
    n_clusters = -(-N // cluster_size)
    if net.rx_xy is not None:
        clusters: list[np.ndarray] = []
        _bisect(np.asarray(net.rx_xy), np.arange(N), n_clusters, clusters)
    else:
        order = reverse_cuthill_mckee(net.adjacency, symmetric_mode=True).astype(np.int64)
        bounds = np.linspace(0, N, n_clusters + 1).round().astype(np.int64)
        clusters = [order[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])]
    return [np.sort(c) for c in clusters if len(c)]


def _bisect(xy: np.ndarray, idx: np.ndarray, parts: int, out: list) -> None:
    if parts <= 1 or len(idx) <= 1:
        out.append(idx)
        return
    pts = xy[idx]
    axis = int(np.argmax(pts.max(axis=0) - pts.min(axis=0)))
    left_parts = parts // 2
    n_left = int(round(len(idx) * left_parts / parts))
    order = np.argsort(pts[:, axis], kind="stable")
    _bisect(xy, idx[order[:n_left]], left_parts, out)
    _bisect(xy, idx[order[n_left:]], parts - left_parts, out)


# ----------------------------------------------------------------------------------------------
# cluster sweep
# ----------------------------------------------------------------------------------------------
class _Deadline:
    """Duck-typed stand-in for `Anytime.expired` with an earlier deadline (perf_counter time)."""

    def __init__(self, at: float):
        self.at = at

    def expired(self) -> bool:
        return time.perf_counter() >= self.at


def external_interference(net: Network, a: np.ndarray, links: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each link in `links`: (|links|, K) interference [W] it would receive on each channel from
    the links already assigned (a >= 0), and (|links|, K) first-order sum-rate loss it would inflict
    on assigned victims by joining each channel (exact for one newcomer per victim)."""
    K = net.K
    n = len(links)
    row_ptr = net.row_ptr
    starts, stops = row_ptr[links], row_ptr[links + 1]
    counts = stops - starts
    pos = np.repeat(starts - np.cumsum(np.r_[0, counts[:-1]]), counts) + np.arange(counts.sum())
    local = np.repeat(np.arange(n), counts)
    src_ch = a[net.cross_col[pos]]
    ok = src_ch >= 0
    recv = np.bincount(local[ok] * K + src_ch[ok], weights=net.cross_power_w[pos][ok],
                       minlength=n * K).reshape(n, K)
    # outgoing: victims already assigned
    col_ptr, out_order = net.col_ptr, net.out_order
    starts, stops = col_ptr[links], col_ptr[links + 1]
    counts = stops - starts
    opos = out_order[np.repeat(starts - np.cumsum(np.r_[0, counts[:-1]]), counts) + np.arange(counts.sum())]
    olocal = np.repeat(np.arange(n), counts)
    victim = net.cross_row[opos]
    vch = a[victim]
    ok = vch >= 0
    hurt = np.zeros((n, K))
    if ok.any():
        victim, vch, w, olocal = victim[ok], vch[ok], net.cross_power_w[opos][ok], olocal[ok]
        interf = _assigned_interference(net, a, victim)
        sig = net.signal_w[victim, vch]
        loss = np.log2(1.0 + sig / (net.noise_w + interf)) - np.log2(1.0 + sig / (net.noise_w + interf + w))
        hurt = np.bincount(olocal * K + vch, weights=loss, minlength=n * K).reshape(n, K)
    return recv, hurt


def _assigned_interference(net: Network, a: np.ndarray, victims: np.ndarray) -> np.ndarray:
    """Interference [W] at each (assigned) victim from assigned co-channel links."""
    uniq, inv = np.unique(victims, return_inverse=True)
    row_ptr = net.row_ptr
    starts, stops = row_ptr[uniq], row_ptr[uniq + 1]
    counts = stops - starts
    pos = np.repeat(starts - np.cumsum(np.r_[0, counts[:-1]]), counts) + np.arange(counts.sum())
    local = np.repeat(np.arange(len(uniq)), counts)
    same = a[net.cross_col[pos]] == a[uniq][local]
    vals = np.bincount(local[same], weights=net.cross_power_w[pos][same], minlength=len(uniq))
    return vals[inv]


def myopic_fill(net: Network, a: np.ndarray) -> np.ndarray:
    """Complete the -1 entries in one vectorised shot: each takes its best own-rate channel given
    the assigned links (no mutual awareness between the newly filled links). O(M)."""
    a = a.copy()
    todo = a < 0
    if not todo.any():
        return a
    src_ch = a[net.cross_col]
    ok = src_ch >= 0
    ch_int = np.bincount(net.cross_row[ok] * net.K + src_ch[ok], weights=net.cross_power_w[ok],
                         minlength=net.N * net.K).reshape(net.N, net.K)
    own = net.signal_w[todo] / (net.noise_w + ch_int[todo])
    a[todo] = np.argmax(own, axis=1)
    return a


def cluster_sweep(net: Network, run: Anytime, clusters: list[np.ndarray],
                  solve_cluster: Callable[[np.ndarray, np.ndarray, float], np.ndarray | None],
                  offer_every_s: float | None = None, reserve_s: float | None = None,
                  min_share_s: Callable[[np.ndarray], float] | None = None) -> dict:
    """Assign clusters one after another; `solve_cluster(links, a, time_s)` returns the channels
    of `links` (or None to fall back to greedy for that cluster) given the current partial
    assignment `a` (-1 = unassigned) and its share of the remaining time. The budget left after
    a completion reserve is split evenly over the clusters still to do. Clusters not reached get
    greedy completion (`greedy_assign`), then a vectorised myopic fill if even that runs out.
    A full incumbent (partial + myopic fill) is offered at the start and every `offer_every_s`.
    Returns counts: clusters_solved, clusters_fallback (greedy), clusters_total.
    """
    N = net.N
    a = np.full(N, -1, dtype=np.int64)
    t_eval = _offer(run, myopic_fill(net, a))
    # completion reserve: greedy costs ~ (in + out degree) per link, plus the final evaluation
    degree = net.M / max(N, 1)
    greedy_s_per_link = 4e-6 + 2.5e-7 * 2 * degree
    offer_every_s = max(0.2 * run.budget_s, 10 * t_eval) if offer_every_s is None else offer_every_s
    last_offer = time.perf_counter()
    solved = fallback_clusters = 0
    order = signal_order(net)
    for c_idx, links in enumerate(clusters):
        left = len(clusters) - c_idx
        reserve = (reserve_s if reserve_s is not None
                   else 3 * t_eval + 0.02 + greedy_s_per_link * float((a < 0).sum() - len(links)))
        available = run.remaining() - reserve
        floor_s = min_share_s(links) if min_share_s is not None else 0.0
        if available <= 0 or available < floor_s:
            break
        # an even split, but never below what one cluster needs: when the budget cannot cover
        # every cluster, the first ones are solved properly and the rest fall back to greedy
        share = max(available / left, floor_s)
        channels = solve_cluster(links, a, share)
        if channels is None:
            a = greedy_assign(net, order=order[np.isin(order, links)], assignment=a, run=_Deadline(run.deadline - reserve))
            fallback_clusters += 1
            if (a[links] < 0).any():
                break
        else:
            a[links] = channels
            solved += 1
        if time.perf_counter() - last_offer >= offer_every_s and run.remaining() > reserve:
            _offer(run, myopic_fill(net, a))
            last_offer = time.perf_counter()
    reached = solved + fallback_clusters
    unassigned = a < 0
    if unassigned.any():
        a = greedy_assign(net, order=order, assignment=a, run=_Deadline(run.deadline - 2 * t_eval - 0.01))
        fallback_clusters += len(clusters) - reached
    complete = not (a < 0).any()
    _offer(run, myopic_fill(net, a))
    return {"clusters_solved": solved, "clusters_fallback": fallback_clusters,
            "clusters_total": len(clusters), "greedy_completed": complete}


def _offer(run: Anytime, a: np.ndarray) -> float:
    """Offer `a` and return how long evaluating it took (used to size the final reserve)."""
    t0 = time.perf_counter()
    utility = sum_rate(run.net, a)
    run.offer(a, utility)
    return time.perf_counter() - t0
