"""`local-search`: vectorised best-response with tabu (min-conflicts on protocol instances).

Each round computes the exact single-move gains of all links (`move_gains`), moves an
independent set of improving links at once (a link moves only if its gain beats every
neighbouring candidate's, Luby style), and when stuck takes the best non-tabu move of a few
random links (tabu tenure in rounds). Starts from greedy when time allows, else random.
"""
from __future__ import annotations

import numpy as np

from lsa.methods.protocol import Anytime, random_assignment
from lsa.methods.registry import Method, register
from lsa.sim.engine import greedy_assign, independent_movers, move_gains
from lsa.sim.network import Network
from lsa.sim.utility import sum_rate


def solve(net: Network, run: Anytime, rng: np.random.Generator, tabu_tenure: int = 7,
          kick_links: int | None = None, start: str = "greedy") -> dict:
    N, K = net.N, net.K
    if start == "greedy":
        a = greedy_assign(net, run=run)
        if (a < 0).any():
            a[a < 0] = rng.integers(0, K, size=int((a < 0).sum()))
    else:
        a = random_assignment(net, rng)
    utility = sum_rate(net, a)
    run.offer(a, utility)
    if K == 1:
        return {"rounds": 0, "moves": 0}
    # interference-free optimum: reaching it proves optimality (e.g. a proper colouring), so stop
    upper_bound = float(np.log2(1.0 + net.signal_w.max(axis=1) / net.noise_w).sum())
    tabu_until = np.zeros((N, K), dtype=np.int64)
    kick = kick_links or max(1, N // 100)
    rounds = moves = 0
    while not run.expired() and run.best_utility < upper_bound - 1e-9:
        rounds += 1
        gains = move_gains(net, a)
        allowed = tabu_until <= rounds
        allowed[np.arange(N), a] = False
        masked = np.where(allowed, gains, -np.inf)
        # aspiration: a tabu move that beats the incumbent by itself is allowed
        aspire = (~allowed) & (utility + gains > run.best_utility + 1e-12)
        aspire[np.arange(N), a] = False
        masked = np.where(aspire, gains, masked)
        best_k = np.argmax(masked, axis=1)
        best_gain = masked[np.arange(N), best_k]
        improving = best_gain > 1e-12
        if improving.any():
            movers = independent_movers(net, np.where(improving, best_gain + 1e-9 * rng.random(N), -np.inf))
        else:
            # stuck: kick a few random links with their best allowed move (possibly worsening)
            candidates = np.flatnonzero(np.isfinite(best_gain))
            if candidates.size == 0:
                tabu_until[:] = 0
                continue
            movers = np.zeros(N, dtype=bool)
            movers[rng.choice(candidates, size=min(kick, candidates.size), replace=False)] = True
        idx = np.flatnonzero(movers)
        tabu_until[idx, a[idx]] = rounds + tabu_tenure + rng.integers(0, 3, size=idx.size)
        a[idx] = best_k[idx]
        moves += idx.size
        utility = sum_rate(net, a)
        run.offer(a, utility)
    return {"rounds": rounds, "moves": moves, "proved_optimal": bool(run.best_utility >= upper_bound - 1e-9)}


register(Method("local-search", "vectorised best-response with tabu from the greedy start", solve))
