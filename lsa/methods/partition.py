"""Partitioning of the links into clusters and the cluster-by-cluster sweep shared by the
partitioned methods (`km-partitioned`, `pulp-partitioned`): budget split, fixed-neighbour
interference (from the move engine), periodic incumbents, greedy completion of clusters not reached.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np

from lsa.engine.state import MoveState, signal_order
from lsa.methods.protocol import Anytime
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
        from scipy.sparse.csgraph import reverse_cuthill_mckee  # lazily (scipy import)

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
def external_interference(state: MoveState, links: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each (unplaced) link in `links`: (|links|, K) interference [W] it would receive on each
    channel from the placed links, and (|links|, K) sum-rate the placed victims would lose if it
    joined each channel (exact for one newcomer), both from the move engine in O(degrees)."""
    net = state.net
    recv = state.interference_of(links)
    own = np.log2(1.0 + net.signal_w[links] / (net.noise_w + recv))
    return recv, own - state.all_gains(links)


def myopic_fill(state: MoveState) -> np.ndarray:
    """The state's assignment with its -1 entries filled in one shot: each takes its best own-rate
    channel given the placed links (no mutual awareness between the newly filled links)."""
    a = state.assignment.copy()
    todo = np.flatnonzero(a < 0)
    if todo.size:
        recv = state.interference_of(todo)
        a[todo] = np.argmax(state.net.signal_w[todo] / (state.net.noise_w + recv), axis=1)
    return a


def cluster_sweep(net: Network, run: Anytime, clusters: list[np.ndarray],
                  solve_cluster: Callable[[np.ndarray, MoveState, float], np.ndarray | None],
                  offer_every_s: float | None = None, reserve_s: float | None = None,
                  min_share_s: Callable[[np.ndarray], float] | None = None) -> dict:
    """Assign clusters one after another; `solve_cluster(links, state, time_s)` returns the channels
    of `links` (or None to fall back to greedy for that cluster) given the move-engine state of the
    links placed so far (the cluster's links are unplaced; the state must be left as it came) and
    its share of the remaining time. The budget left after a completion reserve is split evenly
    over the clusters still to do. Clusters not reached get greedy completion on the engine, then
    a myopic fill if even that runs out. A full incumbent (partial + myopic fill) is offered at
    the start and every `offer_every_s`.
    Returns counts: clusters_solved, clusters_fallback (greedy), clusters_total.
    """
    N = net.N
    state = MoveState(net)
    t_eval = _offer(run, myopic_fill(state))
    # completion reserve: greedy costs ~ out-degree per link, plus the final evaluation
    degree = net.M / max(N, 1)
    greedy_s_per_link = 2e-6 + 2e-8 * degree
    offer_every_s = max(0.2 * run.budget_s, 10 * t_eval) if offer_every_s is None else offer_every_s
    last_offer = time.perf_counter()
    solved = fallback_clusters = 0
    order = signal_order(net)
    rank = np.empty(N, dtype=np.int64)
    rank[order] = np.arange(N)
    unplaced = N
    for c_idx, links in enumerate(clusters):
        left = len(clusters) - c_idx
        reserve = (reserve_s if reserve_s is not None
                   else 3 * t_eval + 0.02 + greedy_s_per_link * float(unplaced - len(links)))
        available = run.remaining() - reserve
        floor_s = min_share_s(links) if min_share_s is not None else 0.0
        if available <= 0 or available < floor_s:
            break
        # an even split, but never below what one cluster needs: when the budget cannot cover
        # every cluster, the first ones are solved properly and the rest fall back to greedy
        share = max(available / left, floor_s)
        channels = solve_cluster(links, state, share)
        if channels is None:
            complete = state.greedy(links[np.argsort(rank[links])], deadline=run.deadline - reserve)
            fallback_clusters += 1
            if not complete:
                break
        else:
            for i, k in zip(links.tolist(), np.asarray(channels).tolist()):
                state.move(i, k)
            solved += 1
        unplaced -= len(links)
        if time.perf_counter() - last_offer >= offer_every_s and run.remaining() > reserve:
            _offer(run, myopic_fill(state))
            last_offer = time.perf_counter()
    reached = solved + fallback_clusters
    if unplaced:
        state.greedy(order, deadline=run.deadline - 2 * t_eval - 0.01)
        fallback_clusters += len(clusters) - reached
    complete = not (state.assignment < 0).any()
    _offer(run, myopic_fill(state))
    return {"clusters_solved": solved, "clusters_fallback": fallback_clusters,
            "clusters_total": len(clusters), "greedy_completed": complete}


def _offer(run: Anytime, a: np.ndarray) -> float:
    """Offer `a` and return how long evaluating it took (used to size the final reserve)."""
    t0 = time.perf_counter()
    utility = sum_rate(run.net, a)
    run.offer(a, utility)
    return time.perf_counter() - t0
