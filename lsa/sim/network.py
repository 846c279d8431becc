"""The network instance (docs/model.md, docs/format.md): the immutable `Network` model and the array validation
every loader and generator goes through. Cross gains are held in row (incoming) and column
(outgoing) order so that utility evaluation and every method work in O(N·K + M).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from lsa.errors import InstanceFormatError

if TYPE_CHECKING:                             # scipy is imported where a sparse view is built
    import scipy.sparse as sp

FORMAT = "lsa-network-v1"
REGIMES = ("sparse", "dense", "ultra-dense")
#: the largest instances any loader or generator accepts (sizes are checked before allocation)
MAX_LINKS = 10_000_000
MAX_CHANNELS = 1024
REQUIRED_KEYS = ("format", "K", "power_w", "noise_w", "bandwidth_hz", "direct_gain",
                 "cross_row", "cross_col", "cross_gain")


@njit(cache=True)
def _pair_representatives(row_ptr, rows, cols):
    """Entries sorted by (row, col): keep (i, j) when i < j, or when j's row holds no entry for i."""
    keep = np.empty(rows.shape[0], dtype=np.bool_)
    for m in range(rows.shape[0]):
        i, j = rows[m], cols[m]
        if i < j:
            keep[m] = True
            continue
        lo, hi = row_ptr[j], row_ptr[j + 1]
        while lo < hi:                        # binary search for i among j's interferers
            mid = (lo + hi) // 2
            if cols[mid] < i:
                lo = mid + 1
            else:
                hi = mid
        keep[m] = not (lo < row_ptr[j + 1] and cols[lo] == i)
    return keep


def warmup() -> float:
    """Compile (or load) this module's kernel once per process, under lsa.sim.jit's lock where this
    machine's cache is stale; returns the seconds it took (0.0 when already done)."""
    from lsa.sim import jit

    return jit.warm("network", (__file__,), _compile_all)


def _compile_all() -> None:
    rows = np.array([0, 1], dtype=np.int64)
    rows.setflags(write=False)                # a Network's arrays are read-only views
    cols = rows[::-1].copy()
    cols.setflags(write=False)
    _pair_representatives(np.array([0, 1, 2], dtype=np.int64), rows, cols)


def cross_power(net: "Network") -> np.ndarray:
    """(M,) P_j g_ij of every stored pair, uncached. When every transmitter has the same power (every
    PPP instance) it is one scaling of `cross_gain`, bit for bit the same as the gather
    `power_w[cross_col] * cross_gain` and without its random reads (0.2-0.4 s at M = 25.6 M)."""
    power_w = np.asarray(net.power_w)
    if power_w.size and np.all(power_w == power_w[0]):
        return net.cross_gain * power_w[0]
    return power_w[net.cross_col] * net.cross_gain


@dataclass(frozen=True, eq=False)
class Network:
    """N links, K channels. Cross gain `cross_gain[m]` is from tx `cross_col[m]` to rx `cross_row[m]`."""

    K: int
    power_w: np.ndarray          # (N,)
    noise_w: float
    bandwidth_hz: float
    direct_gain: np.ndarray      # (N, K)
    cross_row: np.ndarray        # (M,) receiving link
    cross_col: np.ndarray        # (M,) interfering link
    cross_gain: np.ndarray       # (M,)
    tx_xy: np.ndarray | None = None
    rx_xy: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    @classmethod
    def build(cls, K, power_w, noise_w, bandwidth_hz, direct_gain, cross_row, cross_col, cross_gain,
              tx_xy=None, rx_xy=None, meta=None) -> "Network":
        """Validate and normalise arrays (sorted by receiving link) into a `Network`."""
        arrays = validate_arrays(dict(K=K, power_w=power_w, noise_w=noise_w, bandwidth_hz=bandwidth_hz,
                                      direct_gain=direct_gain, cross_row=cross_row, cross_col=cross_col,
                                      cross_gain=cross_gain, tx_xy=tx_xy, rx_xy=rx_xy))
        for key in ("cross_row", "cross_col", "cross_gain", "power_w", "direct_gain", "tx_xy", "rx_xy"):
            if arrays[key] is not None:         # validate_arrays sorted the pairs by (row, col)
                arrays[key] = np.ascontiguousarray(arrays[key]).view()   # a view: the caller's flags stay
                arrays[key].setflags(write=False)
        return cls(meta=dict(meta or {}), **arrays)

    # ----- sizes ---------------------------------------------------------------------------
    @property
    def N(self) -> int:
        return int(self.direct_gain.shape[0])

    @property
    def M(self) -> int:
        return int(self.cross_row.shape[0])

    @property
    def regime(self) -> str:
        return str(self.meta.get("regime", "graph" if self.tx_xy is None else "custom"))

    # ----- derived, cached -------------------------------------------------------------------
    @cached_property
    def signal_w(self) -> np.ndarray:
        """(N, K) received desired power P_i g_ii,k."""
        out = self.power_w[:, None] * self.direct_gain
        out.setflags(write=False)
        return out

    @cached_property
    def cross_power_w(self) -> np.ndarray:
        """(M,) interference power P_j g_ij that tx `cross_col` causes at rx `cross_row` when co-channel."""
        out = cross_power(self)
        out.setflags(write=False)
        return out

    @cached_property
    def row_ptr(self) -> np.ndarray:
        """CSR pointer: incoming interferers of link i are entries row_ptr[i]:row_ptr[i+1]."""
        return np.searchsorted(self.cross_row, np.arange(self.N + 1)).astype(np.int64)

    @cached_property
    def out_order(self) -> np.ndarray:
        """Permutation of entries sorted by interfering link (column order)."""
        return np.lexsort((self.cross_row, self.cross_col))

    @cached_property
    def col_ptr(self) -> np.ndarray:
        """Pointer into `out_order`: links that tx i interferes with."""
        return np.searchsorted(self.cross_col[self.out_order], np.arange(self.N + 1)).astype(np.int64)

    @cached_property
    def interference_matrix(self) -> sp.csr_matrix:
        """Sparse (N, N) matrix W with W[i, j] = P_j g_ij (watts)."""
        import scipy.sparse as sp  # lazily: loading and solving do not need scipy

        return sp.csr_matrix((self.cross_power_w, (self.cross_row, self.cross_col)), shape=(self.N, self.N))

    @cached_property
    def conflict_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """Unordered pairs (i < j) with a stored cross gain in either direction, each once: an entry
        (i, j) stands for its pair when i < j or when (j, i) is not stored. O(M log degree)."""
        warmup()
        keep = _pair_representatives(self.row_ptr, self.cross_row, self.cross_col)
        row, col = self.cross_row[keep], self.cross_col[keep]
        return np.minimum(row, col), np.maximum(row, col)

    @cached_property
    def adjacency(self) -> sp.csr_matrix:
        """Symmetric 0/1 conflict graph (a stored cross gain in either direction)."""
        i, j = self.conflict_pairs
        data = np.ones(2 * len(i), dtype=np.float64)
        import scipy.sparse as sp

        return sp.csr_matrix((data, (np.r_[i, j], np.r_[j, i])), shape=(self.N, self.N))

    @cached_property
    def symmetric_weight(self) -> sp.csr_matrix:
        """Symmetric normalised coupling w_ij = W_ij / S_i + W_ji / S_j (S = mean desired power)."""
        s = self.signal_w.mean(axis=1)
        w = self.cross_power_w / s[self.cross_row]
        import scipy.sparse as sp

        mat = sp.csr_matrix((w, (self.cross_row, self.cross_col)), shape=(self.N, self.N))
        return (mat + mat.T).tocsr()

    def summary(self) -> dict:
        return {"N": self.N, "K": self.K, "M": self.M, "regime": self.regime,
                "noise_w": self.noise_w, "bandwidth_hz": self.bandwidth_hz}


# ----------------------------------------------------------------------------------------------
# validation (docs/format.md)
# ----------------------------------------------------------------------------------------------
#: bytes an instance costs once loaded, validated and indexed: per link-channel, per link, per pair
#: (the arrays, their validated copies and the derived signal/power/CSR indexes together)
BYTES_PER_LINK_CHANNEL = 24
BYTES_PER_LINK = 96
BYTES_PER_PAIR = 64


def estimate_bytes(N: int, K: int, M: int) -> int:
    """Peak memory (bytes) of loading and indexing an instance of this size."""
    return BYTES_PER_LINK_CHANNEL * N * K + BYTES_PER_LINK * N + BYTES_PER_PAIR * M


def available_bytes() -> int:
    """Memory this process may still use: MemAvailable, capped by RLIMIT_AS."""
    import resource

    limit = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    limit = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if limit is None:
        try:
            limit = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            limit = 1 << 62
    soft = resource.getrlimit(resource.RLIMIT_AS)[0]
    return min(limit, soft) if soft != resource.RLIM_INFINITY else limit


def check_size(N: int, K: int, M: int = 0, what: str = "instance") -> None:
    """Refuse sizes beyond MAX_LINKS / MAX_CHANNELS or beyond the memory available, before any
    allocation; raises `InstanceFormatError` naming the size and what it would need."""
    if not 1 <= N <= MAX_LINKS:
        raise InstanceFormatError(f"{what}: N = {N} links is outside [1, {MAX_LINKS:,}]")
    if not 1 <= K <= MAX_CHANNELS:
        raise InstanceFormatError(f"{what}: K = {K} channels is outside [1, {MAX_CHANNELS}]")
    if M < 0:
        raise InstanceFormatError(f"{what}: negative number of pairs M = {M}")
    need, have = estimate_bytes(N, K, M), available_bytes()
    if need > have:
        raise InstanceFormatError(f"{what}: N={N:,}, K={K}, M={M:,} needs about {need / 2**30:.1f} GiB, "
                                  f"only {have / 2**30:.1f} GiB available")


def _fail(key: str, problem: str):
    raise InstanceFormatError(f"invalid instance: key '{key}' {problem}")


def _numeric(key: str, value, kinds: str = "iuf") -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in kinds:
        _fail(key, f"must be {'integer' if kinds == 'iu' else 'real-valued'}, got dtype {arr.dtype}")
    return arr


def _finite_nonneg(key: str, arr: np.ndarray):
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        _fail(key, "contains NaN or inf")
    if arr.size and arr.min() < 0:
        _fail(key, "contains a negative value")


def validate_arrays(d: dict) -> dict:
    """Check every constraint of docs/format.md; return normalised arrays with the cross pairs sorted by
    (receiving link, interfering link). Raises `InstanceFormatError` naming the key.

    O(N·K + M) when the pairs come sorted (as `save_npz` writes them); duplicates are found as
    equal neighbours in that order, never with a hash or a second sort."""
    k_arr = _numeric("K", d["K"], "iuf")
    if k_arr.ndim != 0:
        _fail("K", f"must be a scalar integer, got shape {k_arr.shape}")
    if k_arr.dtype.kind == "f" and not (np.isfinite(k_arr) and float(k_arr) == int(k_arr)):
        _fail("K", f"is not an integer: {k_arr}")
    K = int(k_arr)
    if not 1 <= K <= MAX_CHANNELS:
        _fail("K", f"must be in [1, {MAX_CHANNELS}], got {K}")
    direct = _numeric("direct_gain", d["direct_gain"]).astype(np.float64, copy=False)
    if direct.ndim != 2 or direct.shape[1] != K:
        _fail("direct_gain", f"must have shape (N, K={K}), got {direct.shape}")
    N = direct.shape[0]
    if not 1 <= N <= MAX_LINKS:
        _fail("direct_gain", f"must have 1 to {MAX_LINKS:,} links (rows), got N = {N}")
    _finite_nonneg("direct_gain", direct)
    power = _numeric("power_w", d["power_w"]).astype(np.float64, copy=False)
    if power.ndim == 0:
        power = np.full(N, float(power))
    if power.shape != (N,):
        _fail("power_w", f"must be a scalar or shape ({N},), got {power.shape}")
    _finite_nonneg("power_w", power)
    scalars = {}
    for key in ("noise_w", "bandwidth_hz"):
        arr = _numeric(key, d[key])
        if arr.ndim != 0:
            _fail(key, f"must be a scalar number, got shape {arr.shape}")
        if not np.isfinite(arr) or float(arr) <= 0:
            _fail(key, f"must be finite and > 0, got {arr}")
        scalars[key] = float(arr)
    rows, cols = np.asarray(d["cross_row"]), np.asarray(d["cross_col"])
    gains = np.asarray(d["cross_gain"])
    for key, arr in (("cross_row", rows), ("cross_col", cols), ("cross_gain", gains)):
        if arr.ndim != 1:
            _fail(key, f"must be 1-D, got shape {arr.shape}")
    if not rows.shape == cols.shape == gains.shape:
        _fail("cross_gain", f"cross_row/cross_col/cross_gain must have equal lengths, got "
                            f"{rows.shape}, {cols.shape}, {gains.shape}")
    index_kinds = "iu" if rows.size else "iuf"         # an empty list may come as float64
    rows, cols = _numeric("cross_row", rows, index_kinds), _numeric("cross_col", cols, index_kinds)
    gains = _numeric("cross_gain", gains)
    rows, cols = rows.astype(np.int64, copy=False), cols.astype(np.int64, copy=False)
    gains = gains.astype(np.float64, copy=False)
    if rows.size:
        rows, cols, gains = _check_pairs(rows, cols, gains, N)
    _check_products(power, direct, gains, scalars["noise_w"], N)
    out = dict(K=K, power_w=power, direct_gain=direct, cross_row=rows, cross_col=cols, cross_gain=gains,
               tx_xy=None, rx_xy=None, **scalars)
    for key in ("tx_xy", "rx_xy"):
        if d.get(key) is not None:
            xy = _numeric(key, d[key]).astype(np.float64, copy=False)
            if xy.shape != (N, 2):
                _fail(key, f"must have shape ({N}, 2), got {xy.shape}")
            if not np.isfinite(xy).all():
                _fail(key, "contains NaN or inf")
            out[key] = xy
    return out


def _check_products(power, direct, gains, noise_w: float, N: int) -> None:
    """The products the utility needs stay finite: received powers P_i g_ii,k, interference powers
    P_j g_ij and their sum at one receiver (at most N - 1 terms), and signal over noise."""
    with np.errstate(all="ignore"):
        p_max = np.float64(power.max()) if power.size else np.float64(0.0)
        signal = p_max * (direct.max() if direct.size else 0.0)
        cross = p_max * (gains.max() if gains.size else 0.0)
        if not np.isfinite(signal):
            _fail("direct_gain", "times power_w overflows (received power P_i g_ii,k must be finite)")
        if not np.isfinite(cross * max(N - 1, 1) + noise_w):
            _fail("cross_gain", "times power_w overflows (interference at a receiver, summed over its "
                                "interferers, must be finite)")
        if not np.isfinite(signal / noise_w):
            _fail("noise_w", f"is too small for the received powers (signal / noise overflows: {noise_w:g})")


#: pairs are checked in chunks of this many entries: a few small buffers instead of M-sized temporaries
_CHUNK = 1 << 18


def _check_pairs(rows, cols, gains, N: int):
    """Index ranges, self pairs, finite non-negative gains, and (row, col) order without duplicates,
    in one chunked pass; unsorted input is sorted once and checked again. Returns the sorted pairs."""
    M = rows.size
    key = np.empty(min(_CHUNK, M), dtype=np.int64)
    previous = -1
    ordered = True
    for start in range(0, M, _CHUNK):
        r, c, g = rows[start:start + _CHUNK], cols[start:start + _CHUNK], gains[start:start + _CHUNK]
        for name, part in (("cross_row", r), ("cross_col", c)):
            if part.min() < 0 or part.max() >= N:
                _fail(name, f"has an index out of range [0, {N})")
        if (r == c).any():
            _fail("cross_row", "has an entry with row == col (self-interference belongs in direct_gain)")
        if not np.isfinite(g).all():
            _fail("cross_gain", "contains NaN or inf")
        if g.min() < 0:
            _fail("cross_gain", "contains a negative value")
        if ordered:
            k = key[:r.size]
            np.multiply(r, N, out=k)
            k += c
            ordered = bool(k[0] > previous and (k[1:] > k[:-1]).all())
            previous = int(k[-1])
    if ordered:                                 # sorted and free of duplicates: nothing to do
        return rows, cols, gains
    order = np.lexsort((cols, rows))
    rows, cols, gains = rows[order], cols[order], gains[order]
    pair = rows * N + cols
    if (pair[1:] == pair[:-1]).any():
        _fail("cross_row", "has a duplicate (row, col) pair")
    return rows, cols, gains
