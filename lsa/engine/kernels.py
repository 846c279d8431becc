"""numba kernels of the move engine: the per-receiver interference state interf[i, k], exact move gains,
incremental moves, greedy placement, improvement sweeps and exact cluster re-solves.

All powers are in units of the noise power. State arrays (kernels take them in this order):
  a (N,) int64 channel or -1 (unplaced); interf (N, K) the interference receiver i gets on channel k from
  placed links; P (N, 4) per link [channel, 1 + interf on its channel, signal on its channel, 1 + SINR]
  packed so that one cache line holds what a victim contributes to a gain (unplaced: [-1, 1, 0, 1]);
  util (1,) sum-rate of the placed links; out_ptr (N+1,) int64 / out_dst (M,) int32 / out_w (M,):
  the victims of each transmitter and the power it causes there; signal (N, K) desired power.
A rate is log2(P[i, 3]); no log is taken per victim: changes of rates are products of ratios.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

#: running products are folded into a log before they can overflow or underflow
_FOLD = 1e200
_UNFOLD = 1e-200


@njit(cache=True)
def _place(i, c, a, interf, P, signal):
    """Set link i's channel and packed record (c = -1: unplaced); returns its new 1 + SINR."""
    a[i] = c
    if c < 0:
        P[i, 0] = -1.0
        P[i, 1] = 1.0
        P[i, 2] = 0.0
        P[i, 3] = 1.0
        return 1.0
    d = 1.0 + interf[i, c]
    x = 1.0 + signal[i, c] / d
    P[i, 0] = c
    P[i, 1] = d
    P[i, 2] = signal[i, c]
    P[i, 3] = x
    return x


@njit(cache=True)
def build(a, interf, P, util, out_ptr, out_dst, out_w, signal):
    """Recompute interf, P and util from scratch for assignment `a` (O(N K + M))."""
    N, K = interf.shape
    for i in range(N):
        for k in range(K):
            interf[i, k] = 0.0
    for j in range(N):
        c = a[j]
        if c < 0:
            continue
        for e in range(out_ptr[j], out_ptr[j + 1]):
            interf[out_dst[e], c] += out_w[e]
    total = 0.0
    for i in range(N):
        total += math.log2(_place(i, a[i], a, interf, P, signal))
    util[0] = total


@njit(cache=True)
def _victim_products(i, prod, a, interf, P, out_ptr, out_dst, out_w):
    """prod[0, b] = product over link i's placed victims on channel b of their loss factor
    lin x / (x + s) (x = d + w: i joins b) or, for b = c_i, of the inverse of their regain
    (x = d - w: i leaves); the rate change is -log2(prod[0, b]) - prod[1, b] (prod[1]: logs folded
    out of a product that would leave the float range). No branch, log or extra gather per
    victim; slot K collects unplaced victims (factor 1). Returns True if anything was folded."""
    K = interf.shape[1]
    c = a[i]
    acc = prod[0]
    folded = prod[1]
    for k in range(K + 1):
        acc[k] = 1.0
        folded[k] = 0.0
    fc = float(c)
    lo, hi = out_ptr[i], out_ptr[i + 1]
    for e in range(lo, hi):
        v = out_dst[e]
        pb = P[v, 0]
        w = out_w[e]
        x = P[v, 1] + (w if pb != fc else -w)
        b = int(pb)
        slot = b + (K + 1) * (b < 0)
        acc[slot] = acc[slot] * (P[v, 3] * x / (x + P[v, 2]))
    in_range = True
    for k in range(K + 1):
        in_range &= _UNFOLD < acc[k] < _FOLD
    if in_range:
        return False
    for k in range(K + 1):            # rare: some product left the range; redo with folding
        acc[k] = 1.0
    for e in range(lo, hi):
        v = out_dst[e]
        pb = P[v, 0]
        w = out_w[e]
        x = max(P[v, 1] + (w if pb != fc else -w), 1.0)
        b = int(pb)
        slot = b + (K + 1) * (b < 0)
        p = acc[slot] * (P[v, 3] * x / (x + P[v, 2]))
        if p > _FOLD or p < _UNFOLD:
            folded[slot] += math.log2(p)
            p = 1.0
        acc[slot] = p
    return True


@njit(cache=True)
def gains_into(i, out, prod, a, interf, P, out_ptr, out_dst, out_w, signal):
    """out[k] = exact change of the placed links' sum-rate if link i moves to (or is placed on) k;
    0 at its own channel. O(out-degree + K); prod: (2, K + 1) scratch."""
    K = interf.shape[1]
    c = a[i]
    _victim_products(i, prod, a, interf, P, out_ptr, out_dst, out_w)
    acc = prod[0]
    folded = prod[1]
    leave_cost = 0.0                     # rate i gives up minus what its co-channel victims regain
    if c >= 0:
        leave_cost = math.log2(P[i, 3] * acc[c]) + folded[c]
    for k in range(K):
        out[k] = math.log2((1.0 + signal[i, k] / (1.0 + interf[i, k])) / acc[k]) - folded[k] - leave_cost
    if c >= 0:
        out[c] = 0.0


@njit(cache=True)
def best_improving(i, eps, buf, prod, a, interf, P, out_ptr, out_dst, out_w, signal):
    """(k, gain) of placed link i's best move if it gains more than `eps`, else (-1, 0.0). Exact;
    channels are compared by the ratio inside the log, so only the winner's log is taken."""
    K = interf.shape[1]
    c = a[i]
    if _victim_products(i, prod, a, interf, P, out_ptr, out_dst, out_w):
        gains_into(i, buf, prod, a, interf, P, out_ptr, out_dst, out_w, signal)
        best_k = -1
        best = eps
        for k in range(K):
            if k != c and buf[k] > best:
                best = buf[k]
                best_k = k
        return best_k, (best if best_k >= 0 else 0.0)
    acc = prod[0]
    best_k = -1
    best = 0.0
    for k in range(K):
        if k == c:
            continue
        ratio = (1.0 + signal[i, k] / (1.0 + interf[i, k])) / acc[k]
        if ratio > best:
            best = ratio
            best_k = k
    if best_k < 0:
        return -1, 0.0
    gain = math.log2(best / (P[i, 3] * acc[c]))
    if gain > eps:
        return best_k, gain
    return -1, 0.0


@njit(cache=True)
def move_delta(i, k, prod, a, interf, P, out_ptr, out_dst, out_w, signal):
    """Exact change of the sum-rate if placed link i moves to channel k (a branch-free pass over
    all victims is cheaper than a branchy one over those on its old and new channel)."""
    c = a[i]
    if c == k:
        return 0.0
    _victim_products(i, prod, a, interf, P, out_ptr, out_dst, out_w)
    own = 1.0 + signal[i, k] / (1.0 + interf[i, k])
    return (math.log2(own / (P[i, 3] * prod[0, c] * prod[0, k]))
            - prod[1, c] - prod[1, k])


@njit(cache=True)
def move(i, k, a, interf, P, util, out_ptr, out_dst, out_w, signal):
    """Move link i to channel k (k = -1: unplace it); interf, P and util follow in O(out-degree).
    Every victim's record is refreshed without a branch (unchanged ones reproduce bit for bit)."""
    c = a[i]
    if c == k:
        return
    ratio = 1.0 / P[i, 3]                # product of new / old (1 + SINR) over i and its victims
    folded = 0.0
    for e in range(out_ptr[i], out_ptr[i + 1]):
        v = out_dst[e]
        w = out_w[e]
        if c >= 0:
            x = interf[v, c] - w
            interf[v, c] = x if x > 0.0 else 0.0
        if k >= 0:
            interf[v, k] += w
        b = int(P[v, 0])
        placed = b >= 0
        d = 1.0 + interf[v, b * placed] * placed
        x = 1.0 + P[v, 2] / d
        ratio *= x / P[v, 3]
        P[v, 1] = d
        P[v, 3] = x
        if ratio > _FOLD or ratio < _UNFOLD:
            folded += math.log2(ratio)
            ratio = 1.0
    ratio *= _place(i, k, a, interf, P, signal)
    util[0] += math.log2(ratio) + folded


@njit(cache=True)
def gains_rows(links, out, prod, a, interf, P, out_ptr, out_dst, out_w, signal):
    """out[t] = `gains_into` of link links[t]."""
    for t in range(links.size):
        gains_into(links[t], out[t], prod, a, interf, P, out_ptr, out_dst, out_w, signal)


@njit(cache=True)
def greedy_place(order, start, stop, buf, prod, a, interf, P, util, out_ptr, out_dst, out_w, signal):
    """Place the unplaced links order[start:stop], each on its channel of best marginal sum-rate
    given the links already placed (ties: lowest channel)."""
    K = interf.shape[1]
    for t in range(start, stop):
        i = order[t]
        if a[i] >= 0:
            continue
        gains_into(i, buf, prod, a, interf, P, out_ptr, out_dst, out_w, signal)
        best_k = 0
        for k in range(1, K):
            if buf[k] > buf[best_k]:
                best_k = k
        move(i, best_k, a, interf, P, util, out_ptr, out_dst, out_w, signal)


@njit(cache=True)
def sweep(order, start, stop, eps, buf, prod, a, interf, P, util, out_ptr, out_dst, out_w, signal):
    """First-improvement pass over the placed links order[start:stop]: each moves to its best
    channel when that gains more than `eps`. Returns the number of moves."""
    moves = 0
    for t in range(start, stop):
        i = order[t]
        if a[i] < 0:
            continue
        k, g = best_improving(i, eps, buf, prod, a, interf, P, out_ptr, out_dst, out_w, signal)
        if k >= 0:
            move(i, k, a, interf, P, util, out_ptr, out_dst, out_w, signal)
            moves += 1
    return moves


@njit(cache=True)
def cluster_optimum(links, a, interf, P, util, out_ptr, out_dst, out_w, signal):
    """Set `links` (distinct) to their jointly best channels with every other link fixed: all K^n
    combinations in reflected Gray-code order (one move per step). Never worse than the start
    (unplaced links get placed). Returns the utility gained."""
    n = links.size
    K = interf.shape[1]
    start_util = util[0]
    best = np.zeros(n, dtype=np.int64)
    if n > 0 and K > 1:
        best_util = -np.inf
        digit = np.zeros(n, dtype=np.int64)
        step = np.ones(n, dtype=np.int64)
        focus = np.arange(n + 1)
        for j in range(n):
            move(links[j], 0, a, interf, P, util, out_ptr, out_dst, out_w, signal)
        while True:
            if util[0] > best_util:
                best_util = util[0]
                best[:] = digit
            j = focus[0]
            focus[0] = 0
            if j == n:
                break
            digit[j] += step[j]
            move(links[j], digit[j], a, interf, P, util, out_ptr, out_dst, out_w, signal)
            if digit[j] == 0 or digit[j] == K - 1:
                step[j] = -step[j]
                focus[j] = focus[j + 1]
                focus[j + 1] = j + 1
    for j in range(n):
        move(links[j], best[j], a, interf, P, util, out_ptr, out_dst, out_w, signal)
    return util[0] - start_util


@njit(cache=True)
def column_csr(cross_row, cross_col, power_w, scale, out_ptr, out_dst, out_w):
    """Victims of each transmitter (column CSR) by a stable counting sort of the row-sorted pairs:
    out_dst[out_ptr[j]:out_ptr[j + 1]] are the receivers tx j reaches (ascending), out_w the power
    there times `scale`. out_ptr must be zero on entry. O(N + M)."""
    M = cross_row.size
    for e in range(M):
        out_ptr[cross_col[e] + 1] += 1
    for j in range(out_ptr.size - 1):
        out_ptr[j + 1] += out_ptr[j]
    fill = out_ptr[:-1].copy()
    for e in range(M):
        j = cross_col[e]
        p = fill[j]
        out_dst[p] = cross_row[e]
        out_w[p] = power_w[e] * scale
        fill[j] = p + 1


@njit(cache=True)
def coupling_sums(rows, cols, power_w, mean_signal, received, caused):
    """received[i] / caused[j] += power / mean signal of the receiver, over every pair (O(M))."""
    for e in range(rows.size):
        w = power_w[e] / mean_signal[rows[e]]
        received[rows[e]] += w
        caused[cols[e]] += w


@njit(cache=True)
def seed_rng(seed):
    """Seed numba's own generator (used by the search kernels), for reproducible runs."""
    np.random.seed(seed)
