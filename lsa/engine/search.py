"""Time-bounded searches on a `MoveState` (they modify it in place): iterated local search with
kicks, tabu steps, simulated annealing; each keeps its best and calls `on_best` with improvements.
"""
from __future__ import annotations

import time

import numpy as np

from lsa.engine import kernels as kn
from lsa.engine import search_kernels as sk
from lsa.engine.state import coupling_norm, next_chunk

__all__ = ["Best", "MIN_ANNEAL_SWEEPS", "anneal", "coupling_norm", "hybrid", "ils", "multistart", "next_chunk",
           "tabu", "warmup"]


class Best:
    """The best assignment a search has seen (the state itself may wander below it).

    Kernels keep it lazily in the state's internal numbering (`internal`): util[0] is the best
    utility; flags[0] = 1 while the state is at the best, flags[1] = 1 while `internal` holds it
    (a kernel copies only when leaving the best)."""

    def __init__(self, state, on_best=None):
        self.state = state
        self.internal = state.internal_assignment.copy()
        self.util = np.array([state.utility])
        self.flags = np.array([1, 1], dtype=np.int64)
        self.on_best = on_best
        self.reported = state.utility

    @property
    def utility(self) -> float:
        return float(self.util[0])

    @property
    def assignment(self) -> np.ndarray:
        """The best assignment in the instance's numbering (a new array)."""
        return self.state.to_instance_order(self.internal).copy()

    def update(self, state) -> None:
        """Complete the snapshot after a kernel ran and report a new best to `on_best`."""
        if state.utility > self.util[0]:
            self.util[0] = state.utility
            self.flags[:] = (1, 0)
        if self.flags[1] == 0:
            self.internal[:] = state.internal_assignment
            self.flags[1] = 1
        if self.util[0] > self.reported + sk.TOL:
            self.reported = self.utility
            if self.on_best is not None:
                self.on_best(self.assignment, self.utility)

    def restore(self, state) -> None:
        """Put the state back on the best assignment."""
        self.update(state)
        if self.flags[0] == 0:
            state.set_internal(self.internal)
            self.flags[0] = 1


def _run_steps(state, best: Best, deadline: float, run_chunk, chunk: int, max_steps: int | None, target: float,
             target_s: float) -> int:
    """Run a kernel in chunks (`run_chunk(chunk, steps_so_far, now)`) until `deadline`, `max_steps`
    or `target` utility, keeping the best; the state ends at the best. Returns the steps made."""
    steps = 0
    while ((now := time.perf_counter()) < deadline and (max_steps is None or steps < max_steps)
           and best.utility < target):
        run_chunk(chunk, steps, now)
        steps += chunk
        best.update(state)
        chunk = next_chunk(chunk, time.perf_counter() - now, deadline, target_s=target_s)
    best.restore(state)
    return steps


def _seed(rng: np.random.Generator) -> None:
    kn.seed_rng(int(rng.integers(0, 2**31 - 1)))


def ils(state, deadline: float, rng: np.random.Generator, kick_size: int = 3, push_rel: float = 0.3,
        max_evals: int = 2000, freeze: bool = True, strong: int = 8, temperature: float = 0.0,
        stall_kicks: int | None = None, max_kick_size: int = 24, chunk: int = 1, on_best=None,
        best: Best | None = None, max_kicks: int | None = None, target: float = np.inf) -> dict:
    """Iterated local search until `deadline` (or `target` utility): kicks of `kick_size` coupled
    links to random channels, local repair, undo when worse (at `temperature` > 0 a worse result is
    kept with probability exp(change / temperature)). Restarts keep the best: after `stall_kicks`
    kicks without improvement (default N) the search goes back to the best and doubles the kick
    size (up to `max_kick_size`); an improvement resets it. The state ends at the best.
    `strong` > 0 draws kicked neighbours from each link's `strong` most coupled links (0: any
    coupled link); with `freeze` the kicked links keep their new channels until the rest of the
    repair has settled. Measured at N = 2000, K = 8, 2 s (dense and ultra-dense: 6 instances x 2
    runs, sparse: 2): strong = 8 with freeze beats uniform kicks without it by 0.5 % to 1 %.
    The deadline holds for any `kick_size` (a kick moves at most N links) and from the first
    chunk on (chunks start at one kick and grow with the measured pace)."""
    if state.net.K < 2:
        return {"kicks": 0, "kicks_accepted": 0, "kicks_improved": 0, "restarts": 0}
    _seed(rng)
    best = best or Best(state, on_best)
    N = state.net.N
    queue = np.zeros(N, dtype=np.int64)
    inq = np.zeros(N, dtype=np.bool_)
    frozen = np.zeros(N, dtype=np.bool_)
    norm = coupling_norm(state)
    top, top_score = np.zeros(max(int(strong), 1), dtype=np.int64), np.zeros(max(int(strong), 1))
    journal_link = np.zeros(max(4 * N, 1024), dtype=np.int64)
    journal_chan = np.zeros_like(journal_link)
    adj = state.adj
    stall_kicks = N if stall_kicks is None else int(stall_kicks)
    kick_size = max(1, min(int(kick_size), N))
    size = kick_size
    kicks = accepted = improved = evals = restarts = since = 0
    while time.perf_counter() < deadline and (max_kicks is None or kicks < max_kicks) and best.utility < target:
        t0 = time.perf_counter()
        acc, imp, ev = sk.ils_kicks(chunk, size, float(push_rel), int(max_evals), 1e-12, int(strong), norm, top,
                                    top_score, bool(freeze), float(temperature), queue, inq, frozen, journal_link, journal_chan,
                                    *state.workspace, best.internal, best.util, best.flags,
                                    *state.kernel_arrays, adj.signal,
                                    adj.in_ptr, adj.in_src, adj.in_w, adj.in_scale, adj.out_ptr, adj.out_dst,
                                    adj.out_w)
        kicks += chunk
        evals += ev
        accepted += acc
        improved += imp
        since = 0 if imp else since + chunk
        if imp:
            size = kick_size
        best.update(state)
        if since >= stall_kicks:
            best.restore(state)
            size = min(2 * size, max_kick_size)
            since = 0
            restarts += 1
        spent = time.perf_counter() - t0
        chunk = next_chunk(chunk, spent, deadline, target_s=0.01)
    best.restore(state)
    return {"kicks": kicks, "kicks_accepted": accepted, "kicks_improved": improved, "kick_evals": evals,
            "restarts": restarts}


def multistart(state, deadline: float, rng: np.random.Generator, jitter: float = 0.5, on_best=None,
               best: Best | None = None, max_starts: int | None = None) -> dict:
    """Restarts that keep the best: greedy in a randomly perturbed strongest-first order (signal
    power times a log-normal factor of spread `jitter`), descent, repeated until `deadline`.
    The state ends at the best."""
    best = best or Best(state, on_best)
    net = state.net
    strength = net.signal_w.max(axis=1)
    starts = 0
    while time.perf_counter() < deadline and (max_starts is None or starts < max_starts):
        order = np.argsort(-strength * np.exp(jitter * rng.standard_normal(net.N)), kind="stable")
        trial = type(state)(net)
        if not trial.greedy(order, deadline=deadline):
            break
        trial.descend(deadline=deadline)
        starts += 1
        if trial.utility > best.utility + sk.TOL:
            state.set_internal(trial.internal_assignment)
            best.update(state)
    best.restore(state)
    return {"starts": starts}


def tabu(state, deadline: float, rng: np.random.Generator, tenure: int = 10, sample: int = 32,
         chunk: int = 1, on_best=None, best: Best | None = None, max_steps: int | None = None,
         target: float = np.inf) -> dict:
    """Tabu search with a sampled candidate list until `deadline`; the state ends at the best.
    A step samples at most N links (more draws add nothing but time)."""
    if state.net.K < 2:
        return {"tabu_steps": 0}
    sample = max(1, min(int(sample), state.net.N))
    _seed(rng)
    best = best or Best(state, on_best)
    tabu_until = np.zeros((state.net.N, state.net.K), dtype=np.int64)
    out_ptr, out_dst, out_w, signal = state.adj[4:8]

    def run_chunk(chunk: int, steps: int, now: float) -> None:
        sk.tabu_steps(chunk, steps, int(tenure), int(sample), tabu_until, *state.workspace, best.internal,
                      best.util, best.flags, *state.kernel_arrays, signal,
                      out_ptr, out_dst, out_w)

    steps = _run_steps(state, best, deadline, run_chunk, chunk, max_steps, target, target_s=0.01)
    return {"tabu_steps": steps}


def anneal(state, deadline: float, rng: np.random.Generator, t_start: float = 0.05, t_end: float = 1e-4,
           chunk: int = 1024, on_best=None, best: Best | None = None,
           max_steps: int | None = None, target: float = np.inf) -> dict:
    """Simulated annealing with a geometric schedule from `t_start` to `t_end` (bit/s/Hz) over the
    time left until `deadline`; the state ends at the best."""
    if state.net.K < 2:
        return {"anneal_steps": 0}
    _seed(rng)
    best = best or Best(state, on_best)
    out_ptr, out_dst, out_w, signal = state.adj[4:8]
    start = time.perf_counter()
    span = max(deadline - start, 1e-9)
    accepted = [0]

    def run_chunk(chunk: int, steps: int, now: float) -> None:
        temperature = t_start * (t_end / t_start) ** ((now - start) / span)
        accepted[0] += sk.anneal_steps(chunk, temperature, *state.workspace, best.internal, best.util,
                                       best.flags, *state.kernel_arrays, signal,
                                       out_ptr, out_dst, out_w)

    steps = _run_steps(state, best, deadline, run_chunk, chunk, max_steps, target, target_s=0.005)
    accepted = accepted[0]
    return {"anneal_steps": steps, "anneal_accepted": accepted}


#: the hybrid anneals only when the budget affords this many sweeps' worth of heat-bath steps
#: (N = 100,000 dense, 10 s affords ~20 and ILS alone is 2.4 % better; N = 10,000, 5 s ~350: a tie)
MIN_ANNEAL_SWEEPS = 150


def hybrid(state, deadline: float, rng: np.random.Generator, temperature: float = 0.5, anneal_share: float = 0.5,
           anneal_only: bool = False, on_best=None, best: Best | None = None, target: float = np.inf) -> dict:
    """The improvement phase of `local-search` from a local optimum (`state.descend()` just ran):
    heat-bath annealing for `anneal_share` of the time left (temperature from `temperature` times
    the mean link rate down to a hundredth of it), a descent, then ILS until `deadline`. Where the
    budget affords fewer than MIN_ANNEAL_SWEEPS sweeps' worth of annealing steps (a step costs about
    the last sweep's time / N), all the time goes to ILS; `anneal_only` skips the ILS instead."""
    best = best or Best(state, on_best)
    info: dict = {}
    sweeps = (deadline - time.perf_counter()) / max(1.3 * getattr(state, "last_sweep_s", 0.0), 1e-9)
    info["anneal_sweeps_affordable"] = round(float(sweeps), 1)
    if anneal_only or sweeps >= MIN_ANNEAL_SWEEPS:
        t_start = temperature * max(state.utility, 1e-9) / state.net.N
        stop = time.perf_counter() + (1.0 if anneal_only else anneal_share) * (deadline - time.perf_counter())
        info.update(anneal(state, stop, rng, t_start=t_start, t_end=t_start / 100, best=best, target=target))
        state.descend(deadline=deadline)
        best.update(state)
    if not anneal_only:
        info.update(ils(state, deadline, rng, best=best, target=target))
    return info


def warmup(state) -> None:
    """Compile every search kernel on a tiny state (the state is modified)."""
    rng = np.random.default_rng(0)
    far = time.perf_counter() + 60.0
    ils(state, far, rng, chunk=1, max_kicks=1)
    ils(state, far, rng, chunk=1, max_kicks=1, strong=2, freeze=True, temperature=0.1)
    multistart(state, far, rng, max_starts=1)
    tabu(state, far, rng, chunk=1, max_steps=1)
    anneal(state, far, rng, chunk=1, max_steps=1)
