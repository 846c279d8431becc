"""`exact`: the sum-rate optimum by depth-first branch and bound (small N only), and a plain
`brute_force` reference used by the tests.

Bound: interference only grows as links are added, so at a node the placed links' rates at their
current interference plus each unplaced link's best rate over channels given the placed links is
an upper bound on every completion. The last few links are enumerated in one vectorised shot.
"""
from __future__ import annotations

import itertools

import numpy as np

from lsa.engine.state import MoveState, coupling_order, greedy_assign
from lsa.engine.warm import prepare
from lsa.errors import MethodTooLarge
from lsa.methods.protocol import Anytime
from lsa.methods.registry import Method, register
from lsa.sim.network import Network
from lsa.sim.utility import sum_rate

#: a leaf block enumerates at most this many completions at once
ENUM_MAX_COMBOS = 256


def brute_force(net: Network, max_assignments: int = 200_000) -> tuple[np.ndarray, float]:
    """Reference optimum by evaluating every assignment with `sum_rate` (tiny instances only)."""
    if net.K ** net.N > max_assignments:
        raise MethodTooLarge(f"brute force needs K^N = {net.K}^{net.N} evaluations (> {max_assignments})")
    best, best_u = None, -np.inf
    for combo in itertools.product(range(net.K), repeat=net.N):
        a = np.array(combo, dtype=np.int64)
        u = sum_rate(net, a)
        if u > best_u:
            best, best_u = a, u
    return best, best_u


def hill_climb(net: Network, a: np.ndarray, run: Anytime | None = None) -> np.ndarray:
    """First-improvement single-link moves on the move engine until none improves."""
    state = MoveState(net, a)
    state.descend(deadline=None if run is None else run.deadline)
    return state.assignment.copy()


class _BranchAndBound:
    def __init__(self, net: Network, run: Anytime, order: np.ndarray, incumbent: float):
        self.net, self.run = net, run
        n = net.N
        self.order = order
        # dense matrices in branching order (N is small)
        W = net.interference_matrix.toarray()
        self.W = W[np.ix_(order, order)]                 # W[i, j]: j interferes with i
        self.S = np.asarray(net.signal_w)[order]         # (N, K)
        self.noise = net.noise_w
        self.K = net.K
        self.best_value = incumbent
        self.best = None                                 # in branching order
        self.nodes = 0
        self.aborted = False
        # channels are interchangeable when no link's desired power depends on the channel
        self.symmetric = bool(np.all(self.S == self.S[:, :1]))
        L = 0
        while L < n and self.K ** (L + 1) <= ENUM_MAX_COMBOS:
            L += 1
        self.enum_len = max(L, 1)
        self.combos = {length: np.array(list(itertools.product(range(self.K), repeat=length)), dtype=np.int64)
                       for length in range(1, self.enum_len + 1)}

    def rates(self, S, interf):
        return np.log2(1.0 + S / (self.noise + interf))

    def search(self):
        n, K = self.net.N, self.K
        a = np.full(n, -1, dtype=np.int64)
        interf = np.zeros(n)                 # placed links: interference from placed links
        ch_int = np.zeros((n, K))            # every link: interference from placed links per channel
        self._dfs(0, a, interf, ch_int, -1)

    def _dfs(self, depth, a, interf, ch_int, max_used):
        if self.run.expired():
            self.aborted = True
            return
        n, K = self.net.N, self.K
        self.nodes += 1
        if n - depth <= self.enum_len:
            self._enumerate(depth, a, interf, ch_int)
            return
        i = depth
        W, S = self.W, self.S
        placed = slice(0, depth)
        # children bounds for every channel of link i, vectorised
        r_placed = self.rates(S[placed, :][np.arange(depth), a[placed]], interf[placed])
        r_after = self.rates(S[placed, :][np.arange(depth), a[placed]], interf[placed] + W[placed, i])
        loss = np.bincount(a[placed], weights=r_placed - r_after, minlength=K)
        own = self.rates(S[i], ch_int[i])
        rest = slice(depth + 1, n)
        R0 = self.rates(S[rest], ch_int[rest])                       # (U, K)
        R1 = self.rates(S[rest], ch_int[rest] + W[rest, i][:, None])  # (U, K) if i joins k
        top = np.sort(R0, axis=1)
        top1, top2 = top[:, -1], top[:, -2] if K > 1 else np.full(len(R0), -np.inf)
        arg = np.argmax(R0, axis=1)
        best_other = np.where(arg[:, None] == np.arange(K)[None, :], top2[:, None], top1[:, None])
        rest_bound = np.maximum(R1, best_other).sum(axis=0)
        bounds = r_placed.sum() - loss + own + rest_bound
        channels = np.argsort(-bounds, kind="stable")
        if self.symmetric:
            channels = channels[channels <= max_used + 1]
        for k in channels:
            if bounds[k] <= self.best_value + 1e-9:
                continue
            same = a[placed] == k
            delta = np.where(same, W[placed, i], 0.0)
            interf[placed] += delta
            interf[i] = ch_int[i, k]
            a[i] = k
            ch_int[:, k] += W[:, i]
            self._dfs(depth + 1, a, interf, ch_int, max(max_used, int(k)))
            ch_int[:, k] -= W[:, i]
            a[i] = -1
            interf[i] = 0.0
            interf[placed] -= delta
            if self.aborted:
                return

    def _enumerate(self, depth, a, interf, ch_int):
        """All completions of links depth..n-1 at once."""
        n = self.net.N
        L = n - depth
        combos = self.combos[L]
        W, S = self.W, self.S
        P = slice(0, depth)
        U = slice(depth, n)
        # placed links: extra interference from the unplaced links that share their channel
        same_pu = combos[:, None, :] == a[P][None, :, None]                      # (C, depth, L)
        interf_p = interf[P][None, :] + (same_pu * W[P, U][None]).sum(axis=2)  # (C, depth)
        rate_p = self.rates(S[np.arange(depth), a[P]][None, :], interf_p).sum(axis=1)
        # unplaced links: interference from placed (ch_int) plus from each other
        base = ch_int[np.arange(depth, n)[None, :], combos]                      # (C, L)
        same_uu = combos[:, :, None] == combos[:, None, :]                       # (C, L, L)
        interf_u = base + (same_uu * W[U, U][None]).sum(axis=2)
        sig_u = S[np.arange(depth, n)[None, :], combos]
        values = rate_p + self.rates(sig_u, interf_u).sum(axis=1)
        best = int(np.argmax(values))
        if values[best] > self.best_value + 1e-12:
            full = a.copy()
            full[depth:] = combos[best]
            self.best_value = float(values[best])
            self.best = full
            assignment = np.empty(n, dtype=np.int64)
            assignment[self.order] = full
            self.run.offer(assignment)


def solve(net: Network, run: Anytime, rng: np.random.Generator, max_n: int = 24) -> dict:
    """Exact optimum (anytime): greedy + hill-climb warm start, then branch and bound.
    Refuses N > `max_n` with `MethodTooLarge`. Reports `optimal` (search completed) and `nodes`."""
    if net.N > max_n:
        raise MethodTooLarge(f"exact refuses N = {net.N} links (limit max_n = {max_n}; the search is "
                             f"exponential in N)")
    start = hill_climb(net, greedy_assign(net), run)
    run.offer(start)
    bb = _BranchAndBound(net, run, coupling_order(net), sum_rate(net, start) * (1 - 1e-12))
    bb.search()
    return {"optimal": not bb.aborted, "nodes": bb.nodes}


register(Method("exact", "exact optimum by branch and bound (small N only; refuses larger)", solve, prepare=prepare))
