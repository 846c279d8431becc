"""`greedy`: sequential greedy by marginal sum-rate (least added interference / best SINR).

Strongest links choose first (ties: most coupled first); unplaced links at the deadline are completed at random.
"""
from __future__ import annotations

import numpy as np

from ..network import Network
from ..protocol import Anytime
from .common import greedy_assign


def solve(net: Network, run: Anytime, rng: np.random.Generator) -> dict:
    a = greedy_assign(net, run=run)
    unplaced = a < 0
    if unplaced.any():
        a[unplaced] = rng.integers(0, net.K, size=int(unplaced.sum()))
    run.offer(a)
    return {"greedy_complete": bool(not unplaced.any())}
