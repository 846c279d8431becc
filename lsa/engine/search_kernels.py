"""numba kernels of the searches built on the move engine: iterated local search (kicks + local
repair + undo), tabu steps, simulated annealing, and the best-so-far snapshot they share.

Argument order as in `lsa.engine.kernels`; in_ptr / in_src / in_w (watts; times in_scale = 1 / noise) are
the interferers of each receiver (row CSR), as out_* are the victims of each transmitter.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from lsa.engine.kernels import best_improving, gains_into, move

#: utility differences below this are ties (bit/s/Hz)
TOL = 1e-9


@njit(cache=True)
def _push_neighbours(i, push_rel, queue, inq, tail, count, a, P, in_ptr, in_src, in_w, in_scale, out_ptr, out_dst, out_w):
    """Queue the placed neighbours of link i whose gains its last move changed noticeably: victims
    for which its power is >= push_rel of their noise + interference, and interferers whose power
    at i is >= push_rel of i's noise + interference (powers in noise units)."""
    N = a.size
    for e in range(out_ptr[i], out_ptr[i + 1]):
        v = out_dst[e]
        av = a[v]
        if inq[v] or av < 0:
            continue
        if out_w[e] >= push_rel * P[v, 1]:
            inq[v] = True
            queue[tail] = v
            tail = (tail + 1) % N
            count += 1
    ref = push_rel * P[i, 1]
    for e in range(in_ptr[i], in_ptr[i + 1]):
        u = in_src[e]
        if inq[u] or a[u] < 0:
            continue
        if in_w[e] * in_scale >= ref:
            inq[u] = True
            queue[tail] = u
            tail = (tail + 1) % N
            count += 1
    return tail, count


@njit(cache=True)
def _enqueue(i, queue, inq, tail, count):
    if not inq[i]:
        inq[i] = True
        queue[tail] = i
        tail = (tail + 1) % queue.size
        count += 1
    return tail, count


@njit(cache=True)
def _top_coupled(i, m, top, score, coupling_norm, in_ptr, in_src, in_w, in_scale, out_ptr, out_dst, out_w):
    """Fill top[:m] with the links most strongly coupled with i (interference either way over the
    victim's mean desired power, `coupling_norm` in noise units; a link coupled both ways may
    appear twice), strongest first, -1 padded. O(degree x m), no allocation."""
    for t in range(m):
        top[t] = -1
        score[t] = -1.0
    for e in range(in_ptr[i], in_ptr[i + 1]):
        _insert(in_src[e], in_w[e] * in_scale / coupling_norm[i], m, top, score)
    for e in range(out_ptr[i], out_ptr[i + 1]):
        v = out_dst[e]
        _insert(v, out_w[e] / coupling_norm[v], m, top, score)


@njit(cache=True)
def _insert(link, value, m, top, score):
    if value <= score[m - 1]:
        return
    t = m - 1
    while t > 0 and score[t - 1] < value:
        score[t] = score[t - 1]
        top[t] = top[t - 1]
        t -= 1
    score[t] = value
    top[t] = link


@njit(cache=True)
def _repair(head, tail, count, max_evals, eps, push_rel, frozen, queue, inq, jl, jr_link, jr_chan, buf, scratch,
            a, interf, P, util, signal, in_ptr, in_src, in_w, in_scale, out_ptr, out_dst, out_w):
    """First-improvement moves of the queued links (frozen ones are skipped) until the queue is
    empty or `max_evals` evaluations; every move is journalled. Returns (journal length, evals)."""
    N = a.size
    cap = jr_link.size
    evals = 0
    while count > 0:
        i = queue[head]
        head = (head + 1) % N
        count -= 1
        inq[i] = False
        if evals >= max_evals or jl >= cap or frozen[i]:
            continue
        evals += 1
        k, g = best_improving(i, eps, buf, scratch, a, interf, P, out_ptr, out_dst, out_w, signal)
        if k >= 0:
            jr_link[jl] = i
            jr_chan[jl] = a[i]
            jl += 1
            move(i, k, a, interf, P, util, out_ptr, out_dst, out_w, signal)
            tail, count = _push_neighbours(i, push_rel, queue, inq, tail, count, a, P,
                                           in_ptr, in_src, in_w, in_scale, out_ptr, out_dst, out_w)
    return jl, evals


@njit(cache=True)
def ils_kicks(n_kicks, kick_size, push_rel, max_evals, eps, m, coupling_norm, top, top_score, freeze, temperature,
              queue, inq, frozen, jr_link, jr_chan, buf, scratch, best_a, best_util, flags,
              a, interf, P, util, signal, in_ptr, in_src, in_w, in_scale, out_ptr, out_dst, out_w):
    """`n_kicks` iterations of: move a random link i0 and up to kick_size-1 of its neighbours (among
    its m most coupled links, `_top_coupled`; m = 0: any coupled link) to random other channels, repair by
    first-improvement moves of the affected links (a work queue, at most `max_evals` evaluations;
    with `freeze` the kicked links keep their new channel until the rest has settled), keep the
    result if it is not worse (or, at `temperature` > 0, with probability exp(change / temperature)),
    else undo every move. Returns (accepted, improved, evaluations)."""
    N, K = interf.shape
    accepted = improved = evals_total = 0
    cap = jr_link.size
    for _ in range(n_kicks):
        u0 = util[0]
        jl = 0
        head = tail = count = 0
        i0 = np.random.randint(N)
        nout = out_ptr[i0 + 1] - out_ptr[i0]
        deg = nout + (in_ptr[i0 + 1] - in_ptr[i0])
        kicked = 0
        if m > 0 and kick_size > 1:
            _top_coupled(i0, m, top, top_score, coupling_norm, in_ptr, in_src, in_w, in_scale, out_ptr, out_dst,
                         out_w)
        for s in range(kick_size):
            if s == 0:
                j = i0
            elif m > 0:
                j = top[np.random.randint(m)]
            elif deg > 0:
                r = np.random.randint(deg)
                j = out_dst[out_ptr[i0] + r] if r < nout else in_src[in_ptr[i0] + r - nout]
            else:
                break
            if j < 0 or a[j] < 0 or frozen[j] or jl >= cap:
                continue
            c = a[j]
            k = np.random.randint(K - 1)
            if k >= c:
                k += 1
            jr_link[jl] = j
            jr_chan[jl] = c
            jl += 1
            kicked += 1
            move(j, k, a, interf, P, util, out_ptr, out_dst, out_w, signal)
            frozen[j] = freeze
            tail, count = _enqueue(j, queue, inq, tail, count)
            tail, count = _push_neighbours(j, push_rel, queue, inq, tail, count, a, P,
                                           in_ptr, in_src, in_w, in_scale, out_ptr, out_dst, out_w)
        jl, evals = _repair(head, tail, count, max_evals, eps, push_rel, frozen, queue, inq, jl, jr_link, jr_chan,
                            buf, scratch, a, interf, P, util, signal, in_ptr, in_src, in_w, in_scale, out_ptr, out_dst, out_w)
        if freeze:
            head = tail = count = 0
            for t in range(kicked):
                frozen[jr_link[t]] = False
                tail, count = _enqueue(jr_link[t], queue, inq, tail, count)
            jl, more = _repair(head, tail, count, max_evals, eps, push_rel, frozen, queue, inq, jl, jr_link,
                               jr_chan, buf, scratch, a, interf, P, util, signal, in_ptr, in_src, in_w, in_scale, out_ptr,
                               out_dst, out_w)
            evals += more
        evals_total += evals
        change = util[0] - u0
        if change < -TOL and not (temperature > 0.0 and np.random.random() < math.exp(change / temperature)):
            for t in range(jl - 1, -1, -1):
                move(jr_link[t], jr_chan[t], a, interf, P, util, out_ptr, out_dst, out_w, signal)
            continue
        accepted += 1
        if change > TOL:
            improved += 1
        if change < -TOL and flags[0] == 1 and flags[1] == 0:
            # leaving the best: step back to it for the snapshot, then forward again
            for t in range(jl - 1, -1, -1):
                c_new = a[jr_link[t]]
                move(jr_link[t], jr_chan[t], a, interf, P, util, out_ptr, out_dst, out_w, signal)
                jr_chan[t] = c_new
            best_a[:] = a
            flags[1] = 1
            for t in range(jl):
                move(jr_link[t], jr_chan[t], a, interf, P, util, out_ptr, out_dst, out_w, signal)
        _after_move(best_util, flags, util)
    return accepted, improved, evals_total


@njit(cache=True)
def _keep_best(gain, best_a, best_util, flags, a, util):
    """Lazy best-so-far snapshot. flags[0]: the current assignment is the best; flags[1]: best_a
    holds it. Called before a move of `gain`; copies only when a worsening move leaves the best."""
    if gain < 0.0 and flags[0] == 1 and flags[1] == 0:
        best_a[:] = a
        flags[1] = 1


@njit(cache=True)
def _after_move(best_util, flags, util):
    if util[0] > best_util[0] + TOL:
        best_util[0] = util[0]
        flags[0] = 1
        flags[1] = 0
    elif util[0] < best_util[0] - TOL:
        flags[0] = 0


@njit(cache=True)
def _random_link_gains(N, buf, scratch, a, interf, P, out_ptr, out_dst, out_w, signal):
    """A uniformly random link and its exact gains for every channel in `buf`; -1 (and `buf`
    untouched) when the link is not placed."""
    i = np.random.randint(N)
    if a[i] < 0:
        return -1
    gains_into(i, buf, scratch, a, interf, P, out_ptr, out_dst, out_w, signal)
    return i


@njit(cache=True)
def tabu_steps(n_steps, step0, tenure, sample, tabu_until, buf, scratch, best_a, best_util, flags,
               a, interf, P, util, signal, out_ptr, out_dst, out_w):
    """`n_steps` tabu steps: among `sample` random links, make the best move that is not tabu (a tabu
    move is allowed when it would beat the best utility: aspiration), even if it worsens; the link's
    old channel becomes tabu for tenure + U{0..tenure} steps. Returns the number of moves."""
    N, K = interf.shape
    moves = 0
    for t in range(n_steps):
        step = step0 + t
        bi = -1
        bk = -1
        bg = -np.inf
        for _ in range(sample):
            i = _random_link_gains(N, buf, scratch, a, interf, P, out_ptr, out_dst, out_w, signal)
            if i < 0:
                continue
            c = a[i]
            for k in range(K):
                if k == c:
                    continue
                g = buf[k]
                if g > bg and (tabu_until[i, k] <= step or util[0] + g > best_util[0] + TOL):
                    bg = g
                    bi = i
                    bk = k
        if bi < 0:
            continue
        _keep_best(bg, best_a, best_util, flags, a, util)
        tabu_until[bi, a[bi]] = step + tenure + np.random.randint(tenure + 1)
        move(bi, bk, a, interf, P, util, out_ptr, out_dst, out_w, signal)
        _after_move(best_util, flags, util)
        moves += 1
    return moves


@njit(cache=True)
def anneal_steps(n_steps, temperature, buf, scratch, best_a, best_util, flags,
                 a, interf, P, util, signal, out_ptr, out_dst, out_w):
    """`n_steps` heat-bath steps at `temperature` (bit/s/Hz): a random placed link takes channel k
    with probability proportional to exp(gain_k / temperature) (its exact gains, 0 for staying).
    Returns the number of moves."""
    N, K = interf.shape
    moved = 0
    for _ in range(n_steps):
        i = _random_link_gains(N, buf, scratch, a, interf, P, out_ptr, out_dst, out_w, signal)
        if i < 0:
            continue
        c = a[i]
        top = 0.0
        for k in range(K):
            if buf[k] > top:
                top = buf[k]
        total = 0.0
        for k in range(K):
            buf[k] = math.exp((buf[k] - top) / temperature) if temperature > 0.0 else (1.0 if buf[k] == top else 0.0)
            total += buf[k]
        r = np.random.random() * total
        k = 0
        while k < K - 1 and r >= buf[k]:
            r -= buf[k]
            k += 1
        if k == c:
            continue
        gain = top + temperature * math.log(buf[k]) if temperature > 0.0 else top
        _keep_best(gain, best_a, best_util, flags, a, util)
        move(i, k, a, interf, P, util, out_ptr, out_dst, out_w, signal)
        _after_move(best_util, flags, util)
        moved += 1
    return moved


@njit(cache=True)
def swap_round(start, stop, m, coupling_norm, top, top_score, eps, in_ptr, in_src, in_w, in_scale,
               a, interf, P, util, out_ptr, out_dst, out_w, signal):
    """Links start..stop-1 in turn exchange channels with the first of their m most coupled links
    (`_top_coupled`) for which that raises the sum-rate by more than `eps`. Returns the swaps made."""
    swaps = 0
    for i in range(start, stop):
        _top_coupled(i, m, top, top_score, coupling_norm, in_ptr, in_src, in_w, in_scale, out_ptr, out_dst, out_w)
        for t in range(m):
            j = top[t]
            if j < 0:
                break
            ci = a[i]
            cj = a[j]
            if ci < 0 or cj < 0 or ci == cj:
                continue
            before = util[0]
            move(i, cj, a, interf, P, util, out_ptr, out_dst, out_w, signal)
            move(j, ci, a, interf, P, util, out_ptr, out_dst, out_w, signal)
            if util[0] > before + eps:
                swaps += 1
                break
            move(j, cj, a, interf, P, util, out_ptr, out_dst, out_w, signal)
            move(i, ci, a, interf, P, util, out_ptr, out_dst, out_w, signal)
    return swaps
