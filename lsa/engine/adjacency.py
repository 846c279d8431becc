"""The move engine's view of an instance (`Adjacency`): interferers and victims of every link as CSR
arrays, powers in noise units, links renumbered in spatial order on large instances (cache locality).
"""
from __future__ import annotations

import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
from numba import njit

from lsa.engine import kernels as kn
from lsa.sim.network import Network

#: from this many links on, instances with positions are renumbered in spatial order inside the engine
#: (measured at N = 100,000 dense: greedy 1.7 -> 0.8 s, a sweep 0.4 -> 0.2 s; below it all fits in cache)
SPATIAL_MIN_N = 16_384
#: from this many pairs on, the two CSR views are filled in two threads (N = 100,000 dense,
#: M = 25.6 M: 1.6 s -> see benchmarks/bench_solve_fresh.py); below it a thread costs more than it saves
PARALLEL_FILL_M = 1_000_000

_CACHE: "weakref.WeakKeyDictionary[Network, Adjacency]" = weakref.WeakKeyDictionary()


class Adjacency(NamedTuple):
    """What the kernels read, in the engine's internal link numbering (`perm`: internal -> instance
    index, `inv`: instance -> internal; both None when they coincide). Powers in units of the noise
    power, except in_w (watts: multiply by in_scale)."""

    in_ptr: np.ndarray       # (N+1,) interferers of receiver i: in_src[in_ptr[i]:in_ptr[i+1]]
    in_src: np.ndarray       # (M,) int32
    in_w: np.ndarray         # (M,) watts
    in_scale: float          # 1 / noise_w
    out_ptr: np.ndarray      # (N+1,) victims of transmitter j: out_dst[out_ptr[j]:out_ptr[j+1]]
    out_dst: np.ndarray      # (M,) int32
    out_w: np.ndarray        # (M,) noise units
    signal: np.ndarray       # (N, K) desired power, noise units
    perm: np.ndarray | None
    inv: np.ndarray | None


def _readonly(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


def spatial_order(xy: np.ndarray, per_cell: float = 64.0) -> np.ndarray:
    """Links in serpentine order of square cells holding about `per_cell` receivers each."""
    span = np.ptp(xy, axis=0)
    cell = max(float(np.sqrt(max(span[0] * span[1], 1e-12) * per_cell / len(xy))), 1e-9)
    gx = ((xy[:, 0] - xy[:, 0].min()) // cell).astype(np.int64)
    gy = ((xy[:, 1] - xy[:, 1].min()) // cell).astype(np.int64)
    gx = np.where(gy % 2 == 1, gx.max() - gx, gx)
    return np.lexsort((gx, gy))


@njit(cache=True, nogil=True)
def _csr_pointers(row_ptr, cross_col, perm, inv, out_ptr, in_ptr):
    """The pointers of both CSR views (see `_fill_in`, `_fill_out`); both must be zero on entry."""
    N = row_ptr.size - 1
    renumber = perm.size > 0
    for e in range(cross_col.size):
        c = inv[cross_col[e]] if renumber else cross_col[e]
        out_ptr[c + 1] += 1
    for r in range(N):
        i = perm[r] if renumber else r
        in_ptr[r + 1] = in_ptr[r] + row_ptr[i + 1] - row_ptr[i]
        out_ptr[r + 1] += out_ptr[r]


@njit(cache=True, nogil=True)
def _fill_in(row_ptr, cross_col, perm, inv, power_w, in_ptr, in_src, in_w):
    """Interferers of each receiver (in_*, watts, in the instance's order within a row), receivers in
    the engine's numbering (internal link r is instance link perm[r]; both empty: the same one)."""
    N = row_ptr.size - 1
    renumber = perm.size > 0
    for r in range(N):
        i = perm[r] if renumber else r
        q = in_ptr[r]
        for m in range(row_ptr[i], row_ptr[i + 1]):
            in_src[q] = inv[cross_col[m]] if renumber else cross_col[m]
            in_w[q] = power_w[m]
            q += 1


@njit(cache=True, nogil=True)
def _fill_out(row_ptr, cross_col, perm, inv, power_w, out_scale, out_ptr, out_dst, out_w):
    """Victims of each transmitter (out_*, power times `out_scale`, ascending): a counting sort over
    the (row, col)-sorted pairs. Receivers are visited in internal order, so on spatially renumbered
    instances the victim-list writes stay local."""
    N = row_ptr.size - 1
    renumber = perm.size > 0
    fill = out_ptr[:-1].copy()
    for r in range(N):
        i = perm[r] if renumber else r
        for m in range(row_ptr[i], row_ptr[i + 1]):
            c = inv[cross_col[m]] if renumber else cross_col[m]
            p = fill[c]
            out_dst[p] = r
            out_w[p] = power_w[m] * out_scale
            fill[c] = p + 1


def adjacency(net: Network, perm: np.ndarray | None = None) -> Adjacency:
    """The kernels' view of `net`, built once per instance in O(N K + M) (counting sorts). `perm`
    (internal -> instance index) overrides the automatic choice (spatial order from SPATIAL_MIN_N
    links on when receiver positions are known, else none)."""
    explicit = perm is not None
    adj = None if explicit else _CACHE.get(net)
    if adj is not None:
        return adj
    if not explicit and net.N >= SPATIAL_MIN_N and net.rx_xy is not None:
        perm = spatial_order(np.asarray(net.rx_xy))
    inv_noise = 1.0 / float(net.noise_w)
    N, M = net.N, net.M
    out_ptr = np.zeros(N + 1, dtype=np.int64)
    out_dst = np.empty(M, dtype=np.int32)
    out_w = np.empty(M)
    in_ptr = np.zeros(N + 1, dtype=np.int64)
    in_src = np.empty(M, dtype=np.int32)
    in_w = np.empty(M)
    if perm is None:
        inv = None
        signal = net.signal_w * inv_noise
    else:
        perm = _readonly(np.asarray(perm, dtype=np.int64).copy())
        inv = np.empty(N, dtype=np.int64)
        inv[perm] = np.arange(N)
        _readonly(inv)
        signal = net.signal_w[perm] * inv_noise
    none = np.empty(0, dtype=np.int64)
    perm_a, inv_a = (none, none) if perm is None else (perm, inv)
    _csr_pointers(net.row_ptr, net.cross_col, perm_a, inv_a, out_ptr, in_ptr)
    fills = ((_fill_in, (net.row_ptr, net.cross_col, perm_a, inv_a, net.cross_power_w, in_ptr, in_src, in_w)),
             (_fill_out, (net.row_ptr, net.cross_col, perm_a, inv_a, net.cross_power_w, inv_noise, out_ptr,
                          out_dst, out_w)))
    if M >= PARALLEL_FILL_M:             # the two views are independent: one thread each (nogil kernels)
        with ThreadPoolExecutor(max_workers=2) as pool:
            for done in [pool.submit(fill, *args) for fill, args in fills]:
                done.result()
    else:
        for fill, args in fills:
            fill(*args)
    adj = Adjacency(_readonly(in_ptr), _readonly(in_src), _readonly(in_w), inv_noise, _readonly(out_ptr),
                    _readonly(out_dst), _readonly(out_w), _readonly(np.ascontiguousarray(signal)), perm, inv)
    if not explicit:
        _CACHE[net] = adj
    return adj


def coupling_strength(net: Network) -> np.ndarray:
    """(N,) total normalised coupling of each link: the row sums of `net.symmetric_weight`
    (interference received and caused, each over the victim's mean desired power), in O(M)."""
    mean_signal = np.maximum(net.signal_w.mean(axis=1), 1e-300)
    received, caused = np.zeros(net.N), np.zeros(net.N)
    kn.coupling_sums(net.cross_row, net.cross_col, net.cross_power_w, mean_signal, received, caused)
    return received + caused
