"""`greedy`: sequential greedy by marginal sum-rate (least added interference / best SINR).

Strongest links choose first (ties: most coupled first); unplaced links at the deadline are completed at random.
"""
from __future__ import annotations

import numpy as np

from lsa.methods.protocol import Anytime
from lsa.methods.registry import Method, register
from lsa.sim.engine import greedy_assign
from lsa.sim.network import Network


def solve(net: Network, run: Anytime, rng: np.random.Generator) -> dict:
    a = greedy_assign(net, run=run)
    unplaced = a < 0
    if unplaced.any():
        a[unplaced] = rng.integers(0, net.K, size=int(unplaced.sum()))
    run.offer(a)
    return {"greedy_complete": bool(not unplaced.any())}


register(Method("greedy", "sequential greedy: strongest links first, channel of best marginal sum-rate", solve))
