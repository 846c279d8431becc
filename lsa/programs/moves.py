"""The move vocabulary of `net` (mixed into `NetView`): exact single moves, sweeps, tabu steps,
kicks, swaps, exact cluster re-solves, restarts and the time-capped searches, each a call into the
incremental move engine (`lsa.engine`). Every call starts from the array it is given.
"""
from __future__ import annotations

import math
import time

import numpy as np

from lsa.engine import search
from lsa.engine.state import MoveState


class EngineMoves:
    """Methods of `net` that run the move engine; relies on NetView's `_net`, `_assignment`,
    `_link`, `time_left` and `offer`."""

    # ----- the move engine: exact moves, searches (each call starts from the array you pass) --------
    def _engine(self, assignment) -> MoveState:
        """The engine state at `assignment` (kept between calls: only changed links are moved)."""
        a = self._assignment(assignment)
        if getattr(self, "_state", None) is None:
            self._state = MoveState(self._net, a)
        else:
            self._state.set(a)
        return self._state

    def _budget_s(self, time_s) -> float:
        """`time_s` capped by time_left() less a small margin to return (2 %, at least 10 ms: the
        offers streamed on the way count even if the program is then stopped); 1 s outside the sandbox."""
        left = self.time_left()
        cap = 1.0 if math.isinf(left) else max(0.0, left - max(0.01, 0.02 * left))
        if time_s is None:
            return cap
        time_s = float(time_s)
        if math.isnan(time_s):
            raise ValueError("time_s must be a number of seconds, got nan")
        return min(max(time_s, 0.0), cap)                # asking for negative time gets none

    def _rng(self, rng) -> np.random.Generator:
        if rng is None:
            return np.random.default_rng(0)
        if not isinstance(rng, np.random.Generator):
            raise TypeError("rng must be the numpy Generator your program received (or None)")
        return rng

    def _greedy_state(self, deadline: float) -> MoveState:
        """A fresh engine state at the greedy assignment (links not placed by `deadline` take channel 0)."""
        state = MoveState(self._net)
        state.greedy(deadline=deadline)
        if (state.assignment < 0).any():
            state.set(np.maximum(state.assignment, 0))
        return state

    def _offers(self):
        """on_best callback for long searches: stream improvements to offer(), at most every 50 ms."""
        last = [0.0]

        def on_best(assignment, utility):
            now = time.perf_counter()
            if now - last[0] >= 0.05:
                last[0] = now
                self.offer(assignment)
        return on_best

    def best_move(self, assignment, i: int) -> tuple[int, float]:
        """(channel, gain): link i's best other channel and the exact utility change of moving it
        there alone (gain <= 0: staying is best). O(its degree + K)."""
        return self._engine(assignment).best_other(self._link(i))

    def improve(self, assignment, links=None, sweeps: int = 1) -> np.ndarray:
        """First-improvement rounds: `sweeps` times, each link of `links` (default all, in that
        order) in turn moves to its best channel if that raises utility (exact gains, each move
        applied before the next link looks). Never worse; about 2 ms per sweep at N = 2000."""
        state = self._engine(assignment)
        order = None if links is None else self._links(links)
        deadline = time.perf_counter() + self._budget_s(None)
        for _ in range(max(0, int(sweeps))):
            if state.sweep(order, deadline=deadline) == 0:
                break
        return state.assignment.copy()

    def descend(self, assignment, links=None) -> np.ndarray:
        """improve() until no single move of `links` (default all) raises utility: a local optimum
        (stops at time_left()). Returns a new array."""
        state = self._engine(assignment)
        state.descend(None if links is None else self._links(links),
                      deadline=time.perf_counter() + self._budget_s(None))
        return state.assignment.copy()

    def tabu_search(self, assignment, rng=None, steps: int = 1000, tenure: int = 10, sample: int = 8) -> np.ndarray:
        """`steps` tabu steps: each makes the best move among `sample` random links that is not tabu
        (even if it lowers utility); a link may not return to a channel it left for tenure..2*tenure
        steps unless that beats the best. Returns the best assignment seen (never worse)."""
        state = self._engine(assignment)
        deadline = time.perf_counter() + self._budget_s(None)
        search.tabu(state, deadline, self._rng(rng), tenure=max(1, int(tenure)), sample=max(1, int(sample)),
                    max_steps=max(0, int(steps)))
        return state.assignment.copy()

    def kick(self, assignment, rng, size: int = 3, center=None) -> np.ndarray:
        """Perturbation: link `center` (default random) and size-1 of its most coupled neighbours
        each get a random other channel (utility usually drops: follow with improve/descend and
        keep the better one). Returns a new array."""
        a = self._assignment(assignment).copy()
        rng = self._rng(rng)
        links = self.cluster(int(rng.integers(self.N)) if center is None else center, size)
        if self.K > 1:
            a[links] = (a[links] + rng.integers(1, self.K, size=links.size)) % self.K
        return a

    def cluster(self, i: int, size: int = 4) -> np.ndarray:
        """Link i and its size-1 most strongly coupled neighbours (normalised interference either
        way), the natural group for solve_cluster() or kick()."""
        i = self._link(i)
        size = max(1, int(size))
        nbr = self.neighbors(i)
        if nbr.size == 0 or size == 1:
            return np.array([i], dtype=np.int64)
        net = self._net
        mean_signal = np.maximum(net.signal_w.mean(axis=1), 1e-300)
        src, p_in = self.interferers(i)
        dst, p_out = self.victims(i)
        score = np.zeros(nbr.size)
        score[np.searchsorted(nbr, src)] += p_in / mean_signal[i]
        np.add.at(score, np.searchsorted(nbr, dst), p_out / mean_signal[dst])
        return np.r_[i, nbr[np.argsort(-score, kind="stable")[:size - 1]]].astype(np.int64)

    def swap_gain(self, assignment, i: int, j: int) -> float:
        """Exact utility change if links i and j exchange their channels."""
        state = self._engine(assignment)
        i, j = self._link(i), self._link(j)
        return state.swap_gain(i, j)

    def swap(self, assignment, i: int, j: int) -> np.ndarray:
        """`assignment` with the channels of links i and j exchanged (a new array)."""
        a = self._assignment(assignment).copy()
        i, j = self._link(i), self._link(j)
        a[i], a[j] = a[j], a[i]
        return a

    def improve_swaps(self, assignment, partners: int = 4) -> np.ndarray:
        """One round of channel swaps: each link exchanges channels with the first of its `partners`
        most coupled neighbours for which that raises utility (exact). Never worse."""
        state = self._engine(assignment)
        deadline = time.perf_counter() + self._budget_s(None)
        state.swap_round(max(1, int(partners)), deadline=deadline)
        return state.assignment.copy()

    def solve_cluster(self, assignment, links) -> np.ndarray:
        """Exact re-solve of a small group: the jointly best channels of `links` (at most 5 for
        K = 8: K^n combinations, about 1 ms per 1000) with every other link fixed. Never worse."""
        state = self._engine(assignment)
        state.solve_cluster(self._links(links))
        return state.assignment.copy()

    def restarts(self, rng=None, time_s=None, jitter: float = 0.5) -> np.ndarray:
        """Restarts that keep the best: greedy in a randomly perturbed strongest-first order plus
        descend(), repeated for `time_s` seconds (capped by time_left()). Returns the best."""
        deadline = time.perf_counter() + self._budget_s(time_s)
        state = self._greedy_state(deadline)
        state.descend(deadline=deadline)
        search.multistart(state, deadline, self._rng(rng), jitter=float(jitter), on_best=self._offers())
        return state.assignment.copy()

    def ils(self, assignment, rng=None, time_s=None, kick_size: int = 3) -> np.ndarray:
        """Iterated local search for `time_s` seconds (capped by time_left()): kick `kick_size`
        coupled links, repair locally, keep if not worse; restarts from the best with bigger kicks.
        Offers improvements as it goes. Returns the best (never worse)."""
        state = self._engine(assignment)
        search.ils(state, time.perf_counter() + self._budget_s(time_s), self._rng(rng),
                   kick_size=max(1, int(kick_size)), on_best=self._offers())
        return state.assignment.copy()

    def anneal(self, assignment, rng=None, time_s=None, temperature: float = 0.5) -> np.ndarray:
        """Simulated annealing for `time_s` seconds (capped by time_left()): random links take a
        channel with probability ~ exp(gain / T), T falling from `temperature` x mean link rate to
        1/100 of it. Offers improvements as it goes. Returns the best seen (never worse)."""
        state = self._engine(assignment)
        t_start = max(float(temperature), 1e-6) * max(state.utility, 1e-9) / self.N
        start, budget = time.perf_counter(), self._budget_s(time_s)
        search.anneal(state, start + 0.9 * budget, self._rng(rng), t_start=t_start, t_end=t_start / 100,
                      on_best=self._offers())
        state.descend(deadline=start + budget)            # the final descent within the same time_s
        return state.assignment.copy()

    def local_search(self, assignment=None, rng=None, time_s=None) -> np.ndarray:
        """The full classical local search in one call (the `local-search` baseline): from
        `assignment` (default: net.start(), the incumbent of earlier programs, else the greedy
        start), descend(), then anneal() and ils() for `time_s` seconds (default and cap:
        time_left()). Offers improvements as it goes. Returns the best."""
        budget = self._budget_s(time_s)
        deadline = time.perf_counter() + budget
        rng = self._rng(rng)
        if assignment is None and getattr(self, "_start", None) is not None:
            assignment = self._start
        state = self._greedy_state(deadline) if assignment is None else self._engine(assignment)
        state.descend(deadline=deadline)
        self.offer(state.assignment)
        search.hybrid(state, deadline, rng, on_best=self._offers())
        return state.assignment.copy()

    def _links(self, links) -> np.ndarray:
        idx = np.asarray(links)
        if idx.dtype.kind not in "iu":
            raise ValueError(f"links must be integer link indices, got dtype {idx.dtype}")
        idx = idx.astype(np.int64).ravel()
        if idx.size and (idx.min() < 0 or idx.max() >= self.N):
            raise IndexError(f"links hold an index outside [0, {self.N})")
        return idx

