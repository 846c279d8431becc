"""`greedy`: sequential greedy by marginal sum-rate (least added interference / best SINR) on the
move engine. Strongest links choose first (ties: most coupled first); links not placed by the
deadline are completed at random.
"""
from __future__ import annotations

import numpy as np

from lsa.engine.state import MoveState
from lsa.engine.warm import prepare
from lsa.methods.protocol import Anytime
from lsa.methods.registry import Method, register
from lsa.sim.network import Network

#: engine methods stop this long before the deadline so that their last offer lands in time (seconds)
RESERVE_S = 0.015


def solve(net: Network, run: Anytime, rng: np.random.Generator) -> dict:
    state = MoveState(net)
    complete = state.greedy(deadline=run.deadline - RESERVE_S)
    a = state.assignment.copy()
    if not complete:
        unplaced = a < 0
        a[unplaced] = rng.integers(0, net.K, size=int(unplaced.sum()))
        run.offer(a)
    else:
        run.offer(a, state.utility)
    return {"greedy_complete": bool(complete)}


register(Method("greedy", "sequential greedy: strongest links first, channel of best marginal sum-rate", solve,
                prepare=prepare))
