"""`de`: scipy differential evolution (Storn & Price 1997) with `integrality` on the channel vector,
objective -sum_rate, stopped at the deadline by its callback (and by the objective itself).

The population is seeded with the greedy assignment, perturbations of it and random vectors;
its size is scaled to the evaluations the budget affords. On large N, DE on the full N-vector
mostly keeps its greedy seed; the `de_improved_on_seed` column reports whether it did better.
"""
from __future__ import annotations

import time

import numpy as np

from lsa.engine.state import greedy_assign
from lsa.engine.warm import prepare
from lsa.methods.protocol import Anytime
from lsa.methods.registry import Method, register
from lsa.sim.network import Network
from lsa.sim.utility import sum_rate


class _Objective:
    """Vectorised -sum_rate with best-so-far tracking; returns +inf once the deadline is near."""

    def __init__(self, net: Network, run: Anytime, stop_at: float):
        self.net, self.run, self.stop_at = net, run, stop_at
        self.evaluations = 0
        self.best_value = np.inf

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(x.T).T if x.ndim == 1 else x          # (N, S)
        out = np.full(x.shape[1], np.inf)
        for s in range(x.shape[1]):
            if time.perf_counter() >= self.stop_at:
                break
            a = np.clip(np.rint(x[:, s]), 0, self.net.K - 1).astype(np.int64)
            value = -sum_rate(self.net, a)
            out[s] = value
            self.evaluations += 1
            if value < self.best_value:
                self.best_value = value
                self.run.offer(a, -value)
        return out


def solve(net: Network, run: Anytime, rng: np.random.Generator, popsize: int | None = None,
          min_generations: int = 20, max_popsize: int = 64, perturb_fraction: float = 0.05,
          mutation=(0.5, 1.0), recombination: float = 0.3) -> dict:
    """DE with integrality. `popsize=None`: the number of individuals the remaining budget affords
    for `min_generations` generations, clamped to [5, min(15 N, max_popsize)]."""
    N, K = net.N, net.K
    seed = greedy_assign(net, run=run)
    unplaced = seed < 0
    if unplaced.any():
        seed[unplaced] = rng.integers(0, K, size=int(unplaced.sum()))
    t0 = time.perf_counter()
    seed_utility = sum_rate(net, seed)
    t_eval = time.perf_counter() - t0
    run.offer(seed, seed_utility)
    margin = 2 * t_eval + 0.01
    if K == 1 or run.remaining() <= margin + t_eval * 6:
        return {"de_generations": 0, "de_evaluations": 1, "de_popsize": 0, "de_improved_on_seed": False}
    if popsize is None:
        affordable = int((run.remaining() - margin) / max(t_eval, 1e-6) / min_generations)
        popsize = int(np.clip(affordable, 5, max(5, min(15 * N, max_popsize))))
    init = rng.integers(0, K, size=(popsize, N)).astype(np.float64)
    init[0] = seed
    n_perturbed = popsize // 2
    for s in range(1, n_perturbed):
        individual = seed.copy()
        flip = rng.random(N) < perturb_fraction
        individual[flip] = rng.integers(0, K, size=int(flip.sum()))
        init[s] = individual
    objective = _Objective(net, run, stop_at=run.deadline - margin)
    generations = 0

    def callback(intermediate_result=None):
        nonlocal generations
        generations += 1
        return time.perf_counter() >= objective.stop_at

    from scipy.optimize import differential_evolution  # lazily: other methods do not pay for scipy

    differential_evolution(objective, bounds=[(0, K - 1)] * N, integrality=np.ones(N, dtype=bool),
                           init=init, popsize=popsize, maxiter=10**9, tol=0.0, atol=0.0,
                           mutation=mutation, recombination=recombination, polish=False,
                           updating="deferred", vectorized=True, callback=callback, rng=rng)
    return {"de_generations": generations, "de_evaluations": objective.evaluations + 1,
            "de_popsize": popsize, "de_improved_on_seed": bool(-objective.best_value > seed_utility + 1e-9)}


register(Method("de", "scipy differential evolution with integrality on the channel vector", solve, prepare=prepare))
