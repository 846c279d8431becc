"""The network instance (SPEC §1, §4): the immutable `Network` model and the array validation
every loader and generator goes through. Cross gains are held in row (incoming) and column
(outgoing) order so that utility evaluation and every method work in O(N·K + M).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from lsa.errors import InstanceFormatError

FORMAT = "lsa-network-v1"
REGIMES = ("sparse", "dense", "ultra-dense")
#: the largest instances any loader or generator accepts (sizes are checked before allocation)
MAX_LINKS = 10_000_000
MAX_CHANNELS = 1024
REQUIRED_KEYS = ("format", "K", "power_w", "noise_w", "bandwidth_hz", "direct_gain",
                 "cross_row", "cross_col", "cross_gain")


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
        order = np.lexsort((arrays["cross_col"], arrays["cross_row"]))
        for key in ("cross_row", "cross_col", "cross_gain"):
            arrays[key] = np.ascontiguousarray(arrays[key][order])
            arrays[key].setflags(write=False)
        for key in ("power_w", "direct_gain", "tx_xy", "rx_xy"):
            if arrays[key] is not None:
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
        out = self.power_w[self.cross_col] * self.cross_gain
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
        return sp.csr_matrix((self.cross_power_w, (self.cross_row, self.cross_col)), shape=(self.N, self.N))

    @cached_property
    def conflict_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """Unordered pairs (i < j) with a stored cross gain in either direction."""
        lo = np.minimum(self.cross_row, self.cross_col)
        hi = np.maximum(self.cross_row, self.cross_col)
        key = np.unique(lo.astype(np.int64) * self.N + hi)
        return (key // self.N).astype(np.int64), (key % self.N).astype(np.int64)

    @cached_property
    def adjacency(self) -> sp.csr_matrix:
        """Symmetric 0/1 conflict graph (a stored cross gain in either direction)."""
        i, j = self.conflict_pairs
        data = np.ones(2 * len(i), dtype=np.float64)
        return sp.csr_matrix((data, (np.r_[i, j], np.r_[j, i])), shape=(self.N, self.N))

    @cached_property
    def symmetric_weight(self) -> sp.csr_matrix:
        """Symmetric normalised coupling w_ij = W_ij / S_i + W_ji / S_j (S = mean desired power)."""
        s = self.signal_w.mean(axis=1)
        w = self.cross_power_w / s[self.cross_row]
        mat = sp.csr_matrix((w, (self.cross_row, self.cross_col)), shape=(self.N, self.N))
        return (mat + mat.T).tocsr()

    def summary(self) -> dict:
        return {"N": self.N, "K": self.K, "M": self.M, "regime": self.regime,
                "noise_w": self.noise_w, "bandwidth_hz": self.bandwidth_hz}


# ----------------------------------------------------------------------------------------------
# validation (SPEC §4)
# ----------------------------------------------------------------------------------------------
def _fail(key: str, problem: str):
    raise InstanceFormatError(f"invalid instance: key '{key}' {problem}")


def _finite_nonneg(key: str, arr: np.ndarray):
    if not np.all(np.isfinite(arr)):
        _fail(key, "contains NaN or inf")
    if np.any(arr < 0):
        _fail(key, "contains a negative value")


def validate_arrays(d: dict) -> dict:
    """Check every SPEC §4 constraint; return normalised arrays. Raises `InstanceFormatError`."""
    try:
        K = int(np.asarray(d["K"]).item())
    except Exception:
        _fail("K", "is not an integer")
    if np.asarray(d["K"]).dtype.kind not in "iu" and float(np.asarray(d["K"]).item()) != K:
        _fail("K", "is not an integer")
    if K < 1:
        _fail("K", f"must be >= 1, got {K}")
    try:
        direct = np.asarray(d["direct_gain"], dtype=np.float64)
    except (TypeError, ValueError):
        _fail("direct_gain", "is not numeric")
    if direct.ndim != 2 or direct.shape[1] != K:
        _fail("direct_gain", f"must have shape (N, K={K}), got {direct.shape}")
    N = direct.shape[0]
    if N < 1:
        _fail("direct_gain", "has no links (N = 0)")
    _finite_nonneg("direct_gain", direct)
    try:
        power = np.asarray(d["power_w"], dtype=np.float64)
    except (TypeError, ValueError):
        _fail("power_w", "is not numeric")
    if power.ndim == 0:
        power = np.full(N, float(power))
    if power.shape != (N,):
        _fail("power_w", f"must be a scalar or shape ({N},), got {power.shape}")
    _finite_nonneg("power_w", power)
    for key in ("noise_w", "bandwidth_hz"):
        arr = np.asarray(d[key])
        if arr.ndim != 0 or arr.dtype.kind not in "iuf":
            _fail(key, "must be a scalar number")
        if not np.isfinite(arr) or float(arr) <= 0:
            _fail(key, f"must be finite and > 0, got {arr}")
    rows = np.asarray(d["cross_row"])
    cols = np.asarray(d["cross_col"])
    gains = np.asarray(d["cross_gain"])
    for key, arr in (("cross_row", rows), ("cross_col", cols)):
        if arr.ndim != 1:
            _fail(key, f"must be 1-D, got shape {arr.shape}")
        if arr.size and arr.dtype.kind not in "iu":
            _fail(key, f"must be integer, got dtype {arr.dtype}")
    if gains.ndim != 1 or gains.shape != rows.shape or cols.shape != rows.shape:
        _fail("cross_gain", f"cross_row/cross_col/cross_gain must have equal 1-D shapes, got "
                            f"{rows.shape}, {cols.shape}, {gains.shape}")
    rows = rows.astype(np.int64)
    cols = cols.astype(np.int64)
    try:
        gains = gains.astype(np.float64)
    except (TypeError, ValueError):
        _fail("cross_gain", "is not numeric")
    _finite_nonneg("cross_gain", gains)
    for key, arr in (("cross_row", rows), ("cross_col", cols)):
        if arr.size and (arr.min() < 0 or arr.max() >= N):
            _fail(key, f"has an index out of range [0, {N})")
    if np.any(rows == cols):
        _fail("cross_row", "has an entry with row == col (self-interference belongs in direct_gain)")
    if rows.size:
        key = rows * N + cols
        if np.unique(key).size != key.size:
            _fail("cross_row", "has a duplicate (row, col) pair")
    out = dict(K=K, power_w=power, noise_w=float(d["noise_w"]), bandwidth_hz=float(d["bandwidth_hz"]),
               direct_gain=direct, cross_row=rows, cross_col=cols, cross_gain=gains, tx_xy=None, rx_xy=None)
    for key in ("tx_xy", "rx_xy"):
        if d.get(key) is not None:
            xy = np.asarray(d[key], dtype=np.float64)
            if xy.shape != (N, 2):
                _fail(key, f"must have shape ({N}, 2), got {xy.shape}")
            if not np.all(np.isfinite(xy)):
                _fail(key, "contains NaN or inf")
            out[key] = xy
    return out


