"""The incremental move engine every method shares (its API is `MoveState` below; docs/architecture.md places it): `MoveState` keeps the
interference I[i, k] each receiver gets on each channel, so one link's exact gains cost O(deg + K).

Module helpers: `move_gains` (all links' gains), `greedy_assign`, `independent_movers`, the link
orders, and the two helpers the searches share (`coupling_norm`, `next_chunk`). Compiling every
kernel (`warmup`, `prepare`) lives in `lsa.engine.warm`.
"""
from __future__ import annotations

import time

import numpy as np

from lsa.engine import kernels as kn
from lsa.engine import search_kernels as sk
from lsa.engine.adjacency import adjacency, coupling_strength
from lsa.sim.network import Network

__all__ = ["MoveState", "adjacency", "coupling_norm", "coupling_order", "coupling_strength", "greedy_assign",
           "independent_movers", "move_gains", "next_chunk", "signal_order"]

def _check_assignment(net: Network, assignment) -> np.ndarray:
    a = np.array(assignment, dtype=np.int64)        # a private, writable copy
    if a.shape != (net.N,):
        raise ValueError(f"assignment must have shape ({net.N},), got {a.shape}")
    if a.size and (a.min() < -1 or a.max() >= net.K):
        raise ValueError(f"assignment values must be in [-1, {net.K - 1}] (-1 = unplaced)")
    return a


def _links(net: Network, links) -> np.ndarray:
    idx = np.array(links, dtype=np.int64).ravel()
    if idx.size and (idx.min() < 0 or idx.max() >= net.N):
        raise ValueError(f"link index outside [0, {net.N})")
    return idx


class MoveState:
    """Assignment (-1 = unplaced) with its interference I[i, k] [W], link rates and sum-rate
    [bit/s/Hz], kept exact under moves. Unplaced links contribute nothing and cause nothing.

    Link indices and arrays of the public methods are in the instance's numbering; inside, the
    state may be renumbered (`adj.perm`, spatial order on large instances) for cache locality."""

    def __init__(self, net: Network, assignment=None):
        self.net = net
        self.adj = adjacency(net)
        N, K = net.N, net.K
        self._a = np.full(N, -1, dtype=np.int64) if assignment is None else self._inner_array(
            _check_assignment(net, assignment))
        self._I = np.zeros((N, K))
        self._P = np.zeros((N, 4))
        self._util = np.zeros(1)
        self._buf = np.zeros(K)
        self._scratch = np.zeros((2, K + 1))
        self.last_sweep_s = 0.0
        self.resync()

    # ----- numbering and the argument tuples of the kernels ---------------------------------------
    def _inner(self, links: np.ndarray) -> np.ndarray:
        """Instance link indices -> internal ones (a new writable int64 array)."""
        return links.copy() if self.adj.inv is None else self.adj.inv[links]

    def _inner_array(self, values: np.ndarray) -> np.ndarray:
        """A per-link array in instance order -> internal order (a new array)."""
        return values.copy() if self.adj.perm is None else values[self.adj.perm]

    def to_instance_order(self, values: np.ndarray) -> np.ndarray:
        """A per-link array in internal order -> instance order (a view when they coincide)."""
        return values if self.adj.inv is None else values[self.adj.inv]

    @property
    def _view(self):     # what gain computations read
        adj = self.adj
        return self._a, self._I, self._P, adj.out_ptr, adj.out_dst, adj.out_w, adj.signal

    @property
    def _mut(self):      # what moves update
        adj = self.adj
        return self._a, self._I, self._P, self._util, adj.out_ptr, adj.out_dst, adj.out_w, adj.signal

    # ----- what the searches (lsa.engine.search) hand to their kernels, in the internal numbering --
    @property
    def internal_assignment(self) -> np.ndarray:
        """The live (N,) channels in the internal numbering; kernels update it in place (read or
        copy it; change it only through `set_internal` or the moves)."""
        return self._a

    @property
    def kernel_arrays(self) -> tuple:
        """(channels, interference I, per-link P, utility): the state arrays a kernel updates."""
        return self._a, self._I, self._P, self._util

    @property
    def workspace(self) -> tuple:
        """(buf, scratch): the state's scratch arrays that kernels write into."""
        return self._buf, self._scratch

    # ----- read access ---------------------------------------------------------------------------
    @property
    def assignment(self) -> np.ndarray:
        """(N,) channels, -1 = unplaced (read-only; copy it to keep it)."""
        view = self.to_instance_order(self._a).view()
        view.setflags(write=False)
        return view

    @property
    def utility(self) -> float:
        """Sum-rate of the placed links, bit/s/Hz (maintained incrementally)."""
        return float(self._util[0])

    @property
    def interference_w(self) -> np.ndarray:
        """(N, K) interference [W] receiver i gets on channel k from the placed links (a new array)."""
        return self.to_instance_order(self._I) * float(self.net.noise_w)

    @property
    def rates(self) -> np.ndarray:
        """(N,) log2(1 + SINR) of each placed link (0 if unplaced), a new array."""
        return np.log2(self.to_instance_order(self._P[:, 3]))

    def _link(self, i) -> int:
        i = int(i)
        if not 0 <= i < self.net.N:
            raise ValueError(f"link index {i} outside [0, {self.net.N})")
        return i if self.adj.inv is None else int(self.adj.inv[i])

    def gains(self, i: int) -> np.ndarray:
        """(K,) exact sum-rate change if link i moves to (or, unplaced, is placed on) channel k."""
        out = np.empty(self.net.K)
        kn.gains_into(self._link(i), out, self._scratch, *self._view)
        return out

    def all_gains(self, links=None) -> np.ndarray:
        """(N, K) `gains` of every link, or (len(links), K) of `links`."""
        links = np.arange(self.net.N) if links is None else _links(self.net, links)
        out = np.empty((links.size, self.net.K))
        kn.gains_rows(self._inner(links), out, self._scratch, *self._view)
        return out

    def channels_of(self, links) -> np.ndarray:
        """Channels of `links` (-1 = unplaced), O(len(links)) also on renumbered instances."""
        return self._a[self._inner(_links(self.net, links))]

    def interference_of(self, links) -> np.ndarray:
        """(len(links), K) interference [W] each of `links` gets on each channel from the placed links."""
        return self._I[self._inner(_links(self.net, links))] * float(self.net.noise_w)

    def best_other(self, i: int) -> tuple[int, float]:
        """(channel, gain) of link i's best channel other than its own (for an unplaced link: its
        best placement); the gain may be negative."""
        gains = self.gains(i)
        c = int(self._a[self._link(i)])
        if c >= 0 and self.net.K > 1:
            gains[c] = -np.inf
        k = int(np.argmax(gains))
        return k, float(gains[k])

    def swap_gain(self, i: int, j: int) -> float:
        """Exact sum-rate change if placed links i and j exchange channels (state unchanged)."""
        i, j = self._link(i), self._link(j)
        ci, cj = int(self._a[i]), int(self._a[j])
        if ci < 0 or cj < 0:
            raise ValueError("swap_gain needs two placed links")
        if ci == cj or i == j:
            return 0.0
        before = self.utility
        kn.move(i, cj, *self._mut)
        kn.move(j, ci, *self._mut)
        gain = self.utility - before
        kn.move(j, cj, *self._mut)
        kn.move(i, ci, *self._mut)
        return gain

    def swap_round(self, partners: int = 4, eps: float = 1e-12, deadline: float | None = None) -> int:
        """Each link in turn exchanges channels with the first of its `partners` most coupled
        neighbours for which that raises the sum-rate. Returns the number of swaps."""
        adj = self.adj
        # a link has at most (in + out)-degree coupled links: more partners change nothing but cost
        degree = np.diff(adj.in_ptr) + np.diff(adj.out_ptr)
        m = max(1, min(int(partners), int(degree.max()) if degree.size else 1))
        norm = coupling_norm(self)
        top, top_score = np.zeros(m, dtype=np.int64), np.zeros(m)
        swaps = [0]

        def chunk(lo, hi):
            swaps[0] += sk.swap_round(lo, hi, m, norm, top, top_score, float(eps), adj.in_ptr, adj.in_src, adj.in_w,
                                      adj.in_scale, *self._mut)
        _chunked(chunk, self.net.N, deadline, first=max(1, 256 // m))
        return swaps[0]

    def move_delta(self, i: int, k: int) -> float:
        """Exact sum-rate change of moving placed link i to channel k."""
        return float(kn.move_delta(self._link(i), int(k), self._scratch, *self._view))

    def best_move(self, i: int, eps: float = 1e-12) -> tuple[int, float]:
        """(channel, gain) of placed link i's best move if it gains more than `eps`, else (-1, 0.0)."""
        k, g = kn.best_improving(self._link(i), float(eps), self._buf, self._scratch, *self._view)
        return int(k), float(g)

    # ----- updates -------------------------------------------------------------------------------
    def move(self, i: int, k: int) -> None:
        """Place or move link i on channel k (0 <= k < K); O(out-degree)."""
        if not 0 <= int(k) < self.net.K:
            raise ValueError(f"channel {k} outside [0, {self.net.K})")
        kn.move(self._link(i), int(k), *self._mut)

    def unplace(self, i: int) -> None:
        """Remove link i (it stops contributing and interfering)."""
        kn.move(self._link(i), -1, *self._mut)

    def set(self, assignment) -> int:
        """Move every link whose channel differs in `assignment`; rebuild when many differ.
        Returns the number of links changed."""
        return self.set_internal(self._inner_array(_check_assignment(self.net, assignment)))

    def set_internal(self, target: np.ndarray) -> int:
        """`set` with `target` already in the internal numbering (e.g. a search's best snapshot)."""
        diff = np.flatnonzero(target != self._a)
        if diff.size > max(64, self.net.N // 8):
            self._a[:] = target
            self.resync()
        else:
            for i in diff.tolist():
                kn.move(i, int(target[i]), *self._mut)
        return int(diff.size)

    def resync(self) -> None:
        """Recompute I, rates and utility from scratch (removes floating-point drift)."""
        kn.build(*self._mut)

    def copy(self) -> "MoveState":
        other = object.__new__(MoveState)
        other.__dict__.update(self.__dict__)
        for key in ("_a", "_I", "_P", "_util", "_buf", "_scratch"):
            setattr(other, key, getattr(self, key).copy())
        return other

    # ----- compound steps ------------------------------------------------------------------------
    def greedy(self, order=None, deadline: float | None = None) -> bool:
        """Place the unplaced links of `order` (default `signal_order`) one by one on their channel of
        best marginal sum-rate. Stops at `deadline` (perf_counter time); returns True if complete."""
        order = self._inner(signal_order(self.net) if order is None else _links(self.net, order))
        return _chunked(lambda lo, hi: kn.greedy_place(order, lo, hi, self._buf, self._scratch, *self._mut),
                        order.size, deadline)

    def sweep(self, order=None, eps: float = 1e-12, deadline: float | None = None) -> int:
        """One first-improvement pass: each placed link of `order` (default all) takes its best
        channel if that gains more than `eps`. Returns the number of moves."""
        order = np.arange(self.net.N) if order is None else self._inner(_links(self.net, order))
        moves = [0]

        def chunk(lo, hi):
            moves[0] += kn.sweep(order, lo, hi, float(eps), self._buf, self._scratch, *self._mut)
        _chunked(chunk, order.size, deadline)
        return moves[0]

    def descend(self, order=None, max_sweeps: int = 1_000_000, deadline: float | None = None,
                eps: float = 1e-12) -> int:
        """Sweeps until a local optimum (no single move gains more than `eps`), `max_sweeps` or the
        deadline. Returns the number of moves; `last_sweep_s` keeps how long the last sweep took."""
        total = 0
        for _ in range(int(max_sweeps)):
            t0 = time.perf_counter()
            moves = self.sweep(order, eps, deadline)
            self.last_sweep_s = time.perf_counter() - t0
            total += moves
            if moves == 0 or (deadline is not None and time.perf_counter() >= deadline):
                break
        return total

    def solve_cluster(self, links) -> float:
        """Jointly best channels for `links` (K^n <= 300,000 combinations) with the others fixed.
        Returns the utility gained (>= 0 up to rounding)."""
        links = np.unique(_links(self.net, links))
        if self.net.K ** links.size > 300_000:
            raise ValueError(f"solve_cluster enumerates K^n = {self.net.K}^{links.size} combinations; "
                             f"use at most {max_cluster(self.net.K)} links")
        return float(kn.cluster_optimum(self._inner(links), *self._mut))


def max_cluster(K: int) -> int:
    """Largest cluster `solve_cluster` accepts for K channels."""
    n = 1
    while K ** (n + 1) <= 300_000 and n < 12:
        n += 1
    return n


def coupling_norm(state: MoveState) -> np.ndarray:
    """(N,) mean desired power of each link in the engine's numbering (noise units), the
    normaliser of the coupling by which kicks and swaps pick neighbours."""
    return np.maximum(state.adj.signal.mean(axis=1), 1e-300)


def next_chunk(chunk: int, spent_s: float, deadline: float, target_s: float) -> int:
    """Size of the next chunk of a kernel loop: about `target_s` long at the last chunk's pace,
    at most twice the last one and at most half the time left before `deadline`."""
    per_item = max(spent_s, 1e-7) / max(chunk, 1)
    left = deadline - time.perf_counter()
    return int(max(1, min(target_s / per_item, 2 * chunk, 0.5 * left / per_item)))


def _chunked(fn, n: int, deadline: float | None, first: int = 64) -> bool:
    """Run fn(lo, hi) over [0, n) in chunks of about 3 ms (see `next_chunk`), checking
    `deadline` between chunks; returns True if all of [0, n) was done."""
    if deadline is None:
        fn(0, n)
        return True
    lo, size = 0, first
    while lo < n:
        if deadline is not None and time.perf_counter() >= deadline:
            return False
        hi = min(n, lo + size)
        t0 = time.perf_counter()
        fn(lo, hi)
        spent = time.perf_counter() - t0
        lo = hi
        size = next_chunk(size, spent, deadline, target_s=0.003)
    return True


# ----- module-level helpers (API of the pre-engine code, now on the engine) -----------------------
def move_gains(net: Network, assignment: np.ndarray) -> np.ndarray:
    """(N, K) exact change of sum-rate [bit/s/Hz] if link i alone moved to channel k (0 at k = c_i)."""
    return MoveState(net, assignment).all_gains()


def greedy_assign(net: Network, order: np.ndarray | None = None, assignment: np.ndarray | None = None,
                  run=None) -> np.ndarray:
    """Sequential greedy (default order: `signal_order`): each link in `order` takes the channel of
    best marginal sum-rate given the links already placed (entries >= 0 in `assignment` are placed
    and kept). Stops early, leaving -1 entries, when `run` (an `Anytime`) expires."""
    state = MoveState(net, assignment)
    state.greedy(order, deadline=None if run is None else run.deadline)
    return state.assignment.copy()


def independent_movers(net: Network, score: np.ndarray) -> np.ndarray:
    """Links whose finite `score` beats every coupled link's (ties: lower index wins), Luby style.

    The winners share no stored cross gain, so their single moves can be applied together."""
    row, col = net.cross_row, net.cross_col
    s_row, s_col = score[row], score[col]
    loser = np.zeros(net.N, dtype=bool)
    loser[row[(s_col > s_row) | ((s_col == s_row) & (col < row))]] = True
    loser[col[(s_row > s_col) | ((s_row == s_col) & (row < col))]] = True
    return np.isfinite(score) & ~loser


def coupling_order(net: Network) -> np.ndarray:
    """Links by descending total normalised coupling (most constrained first, Welsh-Powell style)."""
    return np.argsort(-coupling_strength(net), kind="stable")


def signal_order(net: Network) -> np.ndarray:
    """Links by descending best-channel desired power, ties by descending coupling.

    Strongest links choose first: on the PPP instances this beats most-coupled-first clearly
    (ultra-dense N = 2000, K = 8: 2333 vs 1851 bit/s/Hz); on protocol instances, where every
    signal is equal, it reduces to Welsh-Powell (most-coupled first)."""
    return np.lexsort((-coupling_strength(net), -net.signal_w.max(axis=1)))
