"""`local-search`: greedy start, first-improvement descent to a local optimum of single moves, then
heat-bath simulated annealing and iterated local search (or tabu) on the move engine, best kept.

`start_state` (greedy + descent, offered as soon as each is done) is shared with `ils`.
"""
from __future__ import annotations

import time

import numpy as np

from lsa.engine import search
from lsa.engine.state import MoveState
from lsa.engine.warm import prepare
from lsa.methods.greedy import RESERVE_S
from lsa.methods.protocol import Anytime
from lsa.methods.registry import Method, register
from lsa.sim.network import Network

PHASES = ("hybrid", "anneal", "ils", "tabu", "descent")


def interference_free_bound(net: Network) -> float:
    """Sum of every link's best interference-free rate: no assignment beats it, and reaching it
    proves optimality (e.g. a proper colouring of a protocol instance)."""
    return float(np.log2(1.0 + net.signal_w.max(axis=1) / net.noise_w).sum())


def start_state(net: Network, run: Anytime, rng: np.random.Generator, start: str = "greedy") -> MoveState:
    """Greedy (links strongest first; any not placed by the deadline get random channels) or a
    random assignment, then first-improvement sweeps to a local optimum; each stage is offered."""
    deadline = run.deadline - RESERVE_S
    if start == "greedy":
        state = MoveState(net)
        state.greedy(deadline=deadline)
        unplaced = np.flatnonzero(state.assignment < 0)
        if unplaced.size:
            state.set(np.where(state.assignment < 0, rng.integers(0, net.K, size=net.N), state.assignment))
    elif start == "random":
        state = MoveState(net, rng.integers(0, net.K, size=net.N))
    else:
        raise ValueError(f"start must be 'greedy' or 'random', got {start!r}")
    run.offer(state.assignment, state.utility)
    if net.K > 1:
        state.descend(deadline=deadline)
        run.offer(state.assignment, state.utility)
    return state


def solve(net: Network, run: Anytime, rng: np.random.Generator, phase: str = "hybrid", start: str = "greedy",
          temperature: float = 0.5, anneal_share: float = 0.5, tabu_tenure: int = 10, tabu_sample: int = 8) -> dict:
    """`phase` after the descent: "hybrid" (default: heat-bath annealing for `anneal_share` of the
    remaining time, then iterated local search), "anneal", "ils", "tabu" (sampled candidate list,
    `tabu_sample` links per step, tenure `tabu_tenure` steps) or "descent" (stop at the first local
    optimum). The annealing temperature falls geometrically from `temperature` times the mean link
    rate of the start to a hundredth of that (bit/s/Hz); where the budget affords too few annealing
    steps per link (`search.MIN_ANNEAL_SWEEPS`) the hybrid is pure ILS. Measured at N = 2000,
    K = 8, 2 s (3 instances per density): annealing is strongest on sparse and dense networks, ILS
    on ultra-dense ones; the hybrid is within 1 % of the better of the two everywhere."""
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {', '.join(PHASES)}; got {phase!r}")
    t0 = time.perf_counter()
    state = start_state(net, run, rng, start)
    info: dict = {"start_s": round(time.perf_counter() - t0, 4), "start_utility": state.utility}
    bound = interference_free_bound(net)
    deadline = run.deadline - RESERVE_S
    if net.K > 1 and phase != "descent" and state.utility < bound - 1e-9 and time.perf_counter() < deadline:
        best = search.Best(state, on_best=lambda a, u: run.offer(a, u))
        if phase in ("hybrid", "anneal"):
            info.update(search.hybrid(state, deadline, rng, temperature=temperature, anneal_share=anneal_share,
                                      anneal_only=phase == "anneal", best=best, target=bound - 1e-9))
        elif phase == "ils":
            info.update(search.ils(state, deadline, rng, best=best, target=bound - 1e-9))
        else:
            info.update(search.tabu(state, deadline, rng, tenure=tabu_tenure, sample=tabu_sample, best=best,
                                    target=bound - 1e-9))
    info["proved_optimal"] = bool(run.best_utility >= bound - 1e-9)
    return info


register(Method("local-search", "greedy start, first-improvement descent, heat-bath annealing then iterated "
                                "local search on the incremental move engine", solve, prepare=prepare))
