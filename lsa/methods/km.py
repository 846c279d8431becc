"""`km` and `km-partitioned`: Kuhn-Munkres (Hungarian) assignment of links to channel slots with
`scipy.optimize.linear_sum_assignment` (Kuhn 1955; Munkres 1957).

Each channel offers ceil(n/K) identical slots, so the assignment balances the load over channels.
`km` is interference-blind as in the paper: the cost of link i in a slot of channel k is minus its
interference-free rate log2(1 + S_ik / noise). `km-partitioned` solves one assignment per cluster
(`partition`) with the interference from the links already assigned on each channel and the rate it
would take from them, so it is interference-aware across clusters.
"""
from __future__ import annotations

import numpy as np

from lsa.engine.warm import prepare
from lsa.errors import MethodTooLarge
from lsa.methods.partition import cluster_sweep, external_interference, partition
from lsa.methods.protocol import Anytime
from lsa.methods.registry import Method, register
from lsa.sim.network import Network
from lsa.sim.utility import sum_rate

#: measured linear_sum_assignment time on an N x N slot matrix at N = 2000 (s); scales ~ N^3
LSA_S_AT_2000 = 0.17
#: refuse slot matrices above this many entries (8 bytes each)
MAX_SLOT_ENTRIES = 30_000_000


def slot_assignment(cost: np.ndarray) -> np.ndarray:
    """Channels minimising sum cost[i, c_i] subject to at most ceil(n/K) links per channel."""
    n, K = cost.shape
    slots = -(-n // K)
    from scipy.optimize import linear_sum_assignment  # lazily: other methods do not pay for scipy

    rows, cols = linear_sum_assignment(np.repeat(cost, slots, axis=1))
    channels = np.empty(n, dtype=np.int64)
    channels[rows] = cols // slots
    return channels


def predicted_lsa_s(n: int) -> float:
    return LSA_S_AT_2000 * (n / 2000.0) ** 3


def solve(net: Network, run: Anytime, rng: np.random.Generator, safety: float = 2.0) -> dict:
    """Interference-blind Kuhn-Munkres on channel slots. Refuses when the slot matrix would not fit
    `MAX_SLOT_ENTRIES` or the predicted solve time (x `safety`) exceeds the remaining budget, since
    `linear_sum_assignment` cannot be interrupted."""
    N, K = net.N, net.K
    entries = N * K * -(-N // K)
    if entries > MAX_SLOT_ENTRIES:
        raise MethodTooLarge(f"km refuses N = {net.N}: the slot matrix would have {entries:.3g} entries "
                             f"(limit {MAX_SLOT_ENTRIES:.3g}); use km-partitioned")
    predicted = safety * predicted_lsa_s(N)
    if predicted > run.remaining():
        raise MethodTooLarge(f"km refuses N = {net.N}: Kuhn-Munkres needs about {predicted:.2g} s "
                             f"(with safety factor), {run.remaining():.2g} s remain; use km-partitioned")
    interference_free_rate = np.log2(1.0 + net.signal_w / net.noise_w)
    a = slot_assignment(-interference_free_rate)
    run.offer(a, sum_rate(net, a))
    return {"slots_per_channel": -(-N // K)}


def solve_partitioned(net: Network, run: Anytime, rng: np.random.Generator, cluster_size: int | None = None) -> dict:
    """One slot assignment per cluster, in partition order; cost = -(own rate under the
    interference from assigned links on each channel) + (rate that assigned victims would lose).
    Budget split and greedy completion of clusters not reached: `cluster_sweep`.
    `cluster_size=None` uses K (one slot per channel: neighbouring links get distinct channels);
    measured on dense N=2000, K=8 at 2 s: size 8 -> 6842, 16 -> 6158, 64 -> 5146 bit/s/Hz."""
    cluster_size = net.K if cluster_size is None else int(cluster_size)

    def solve_cluster(links: np.ndarray, state, share_s: float) -> np.ndarray | None:
        recv, hurt = external_interference(state, links)
        own = np.log2(1.0 + net.signal_w[links] / (net.noise_w + recv))
        return slot_assignment(hurt - own)

    clusters = partition(net, cluster_size)
    sweep = cluster_sweep(net, run, clusters, solve_cluster)
    return {"clusters_solved": sweep["clusters_solved"], "clusters_fallback": sweep["clusters_fallback"],
            "clusters_total": sweep["clusters_total"], "cluster_size": cluster_size}


register(Method("km", "Kuhn-Munkres on channel slots, interference-blind (scipy linear_sum_assignment)", solve))
register(Method("km-partitioned", "Kuhn-Munkres per spatial cluster, neighbours' channels as costs", solve_partitioned,
                prepare=prepare))
