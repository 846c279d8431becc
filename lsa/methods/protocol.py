"""Time-bounded anytime protocol (docs/protocol.md): the incumbent tracker, the harness and tidy result rows.

A method is `solve(net, run, rng, **params) -> dict` that offers assignments to `run` (an
`Anytime`) while `run.remaining() > 0`; the harness takes the incumbent as it stood at the budget.
"""
from __future__ import annotations

import gc
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from lsa.errors import LSAError, MethodTooLarge
from lsa.methods.registry import Method, get_method
from lsa.sim import utility
from lsa.sim.network import Network
from lsa.sim.utility import evaluate, sum_rate

#: an overrun beyond budget * (1 + GRACE_FRACTION) + GRACE_S is flagged
GRACE_FRACTION = 0.10
GRACE_S = 0.05
#: the largest budget any method accepts (seconds): budgets are finite and bounded
MAX_BUDGET_S = 3600.0


@dataclass
class Anytime:
    """Incumbent tracker with a wall-clock deadline. Offers after the deadline are not taken."""

    net: Network
    budget_s: float
    start: float = field(default_factory=time.perf_counter)
    best_assignment: np.ndarray | None = None
    best_utility: float = -np.inf
    offers: int = 0
    late_offers: int = 0
    first_incumbent_s: float | None = None

    @property
    def deadline(self) -> float:
        return self.start + self.budget_s

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def remaining(self) -> float:
        return self.deadline - time.perf_counter()

    def expired(self) -> bool:
        return time.perf_counter() >= self.deadline

    def offer(self, assignment: np.ndarray, utility: float | None = None) -> bool:
        """Offer a valid assignment; returns True if it became the incumbent."""
        if self.expired():
            self.late_offers += 1
            return False
        self.offers += 1
        assignment = np.asarray(assignment, dtype=np.int64)
        if utility is None:
            utility = sum_rate(self.net, assignment)
        if utility > self.best_utility:
            self.best_utility = float(utility)
            self.best_assignment = assignment.copy()
            if self.first_incumbent_s is None:
                self.first_incumbent_s = self.elapsed()
            return True
        return False


def random_assignment(net: Network, rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, net.K, size=net.N, dtype=np.int64)


def check_budget(budget_s, what: str = "budget") -> float:
    """A budget is a finite number of seconds in (0, MAX_BUDGET_S]; anything else is an `LSAError`."""
    if isinstance(budget_s, bool) or not isinstance(budget_s, (int, float, np.integer, np.floating)) \
            or not 0 < float(budget_s) <= MAX_BUDGET_S:
        raise LSAError(f"{what} must be a number of seconds in (0, {MAX_BUDGET_S:g}], got {budget_s}")
    return float(budget_s)


def check_run(method: str, budget_s, what: str = "budget") -> Method:
    """What a run needs before any instance is read: a known `method` (returned) and a budget of
    finite seconds in (0, MAX_BUDGET_S] (`what` names it in the error). `run_method` calls it; a
    command calls it first, so bad input fails before anything is read or loaded."""
    spec = get_method(method)
    check_budget(budget_s, what)
    return spec


@contextmanager
def setup_phase():
    """No garbage collection during set-up outside the budget: importing torch and transformers and
    loading a model allocate ~10^6 long-lived objects, and the collections they trigger cost ~20 % of
    that time (0.7 s of a fresh `lsa solve --method lsa-code` at N = 100 000). Collection is back on
    before any budget starts."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def start_loading(method: str, params: dict | None = None) -> None:
    """Start loading what `method` needs whatever the instance (a model) in the background, before
    the instance is read; `run_method`'s `prepare` then waits for it. A no-op for other methods."""
    spec = get_method(method)
    if spec.load is not None:
        spec.load(params or {})


def run_method(net: Network, method: str, budget_s: float, seed: int = 0, params: dict | None = None,
               instance: str = "", threads: int = 1) -> tuple[dict, np.ndarray]:
    """Solve `net` with `method` under `budget_s`; return (tidy row, assignment taken at the budget)."""
    spec = check_run(method, budget_s)
    rng = np.random.default_rng(seed)
    extra: dict = {}
    t0 = time.perf_counter()
    utility.warmup()              # the harness's scoring kernel: compiled before any clock starts
    state = None
    if spec.prepare is not None:  # model loading etc.: excluded from the budget, reported
        with setup_phase():
            state = spec.prepare(net, params or {})
    setup_s = time.perf_counter() - t0
    with limit_threads(threads):
        run = Anytime(net, budget_s)
        refused = ""
        try:
            kwargs = dict(params or {})
            if state is not None:
                kwargs["state"] = state
            extra = spec.solve(net, run, rng, **kwargs) or {}
        except MethodTooLarge as exc:
            refused = str(exc)
        runtime_s = run.elapsed()
    fallback = run.best_assignment is None
    assignment = random_assignment(net, np.random.default_rng(seed)) if fallback else run.best_assignment
    metrics = evaluate(net, assignment)
    row = {
        "instance": instance or net.meta.get("name", ""),
        "N": net.N, "K": net.K, "regime": net.regime, "seed": seed, "method": method,
        "budget_s": budget_s,
        "utility": metrics["utility"], "throughput": metrics["throughput_bps"],
        "mean_rate": metrics["mean_rate_bps"], "p5_rate": metrics["p5_rate_bps"],
        "jain": metrics["jain"], "conflicts": metrics["conflicts"],
        "runtime_s": runtime_s,
        "overrun": bool(runtime_s > budget_s * (1 + GRACE_FRACTION) + GRACE_S),
        "valid": not fallback,
        "repaired": int(extra.pop("repaired", 0)),
        "fallback_random": fallback,
        "refused": refused,
        "first_incumbent_s": run.first_incumbent_s,
        "late_offers": run.late_offers,
        "setup_s": setup_s,
    }
    row.update({k: v for k, v in extra.items() if k not in row})
    return row, assignment


class limit_threads:
    """Cap BLAS/OpenMP threads for matched compute (docs/protocol.md)."""

    def __init__(self, threads: int):
        self.threads = threads

    def __enter__(self):
        from threadpoolctl import threadpool_limits

        self._limits = threadpool_limits(limits=self.threads)
        return self

    def __exit__(self, *exc):
        self._limits.restore_original_limits()
        return False
