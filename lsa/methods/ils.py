"""`ils`: iterated local search on the move engine (Lourenco, Martin & Stuetzle 2003): from the
greedy + descent start of `local-search`, kick a few coupled links to random channels, repair the
neighbourhood by first-improvement moves, undo when worse; restarts from the best with growing kicks.
"""
from __future__ import annotations

import time

import numpy as np

from lsa.engine import search
from lsa.engine.warm import prepare
from lsa.methods.local_search import RESERVE_S, interference_free_bound, start_state
from lsa.methods.protocol import Anytime
from lsa.methods.registry import Method, register
from lsa.sim.network import Network


def solve(net: Network, run: Anytime, rng: np.random.Generator, kick_size: int = 3, push_rel: float = 0.3,
          temperature: float = 0.0, start: str = "greedy") -> dict:
    """Kicks of `kick_size` links (a random link and some of its 8 most coupled links); the repair
    re-examines neighbours whose coupling to a moved link is at least `push_rel` of their noise +
    interference; `temperature` > 0 accepts worse kicks with probability exp(change / temperature)."""
    t0 = time.perf_counter()
    state = start_state(net, run, rng, start)
    info: dict = {"start_s": round(time.perf_counter() - t0, 4), "start_utility": state.utility}
    bound = interference_free_bound(net)
    deadline = run.deadline - RESERVE_S
    if net.K > 1 and state.utility < bound - 1e-9 and time.perf_counter() < deadline:
        best = search.Best(state, on_best=lambda a, u: run.offer(a, u))
        info.update(search.ils(state, deadline, rng, kick_size=kick_size, push_rel=push_rel,
                               temperature=temperature, best=best, target=bound - 1e-9))
    info["proved_optimal"] = bool(run.best_utility >= bound - 1e-9)
    return info


register(Method("ils", "iterated local search: kicks of coupled links, local repair, restarts keeping the best",
                solve, prepare=prepare))
