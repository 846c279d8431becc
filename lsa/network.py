"""The network instance (SPEC §1, §3, §4): data model, PPP generator, DIMACS reader, `.npz` I/O.

`Network` is immutable; it holds the sparse cross gains in both row (incoming) and column (outgoing)
order so that utility evaluation and every method work in O(N·K + M).
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from .config import NetworkParams
from .errors import InstanceFormatError

FORMAT = "lsa-network-v1"
REGIMES = ("sparse", "dense", "ultra-dense")
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


# ----------------------------------------------------------------------------------------------
# .npz I/O
# ----------------------------------------------------------------------------------------------
def save_npz(net: Network, path: str | Path) -> Path:
    """Write `net` in the `lsa-network-v1` format, atomically (temp file + rename)."""
    path = Path(path)
    payload = dict(format=np.array(FORMAT), K=np.array(net.K, dtype=np.int64),
                   power_w=np.asarray(net.power_w), noise_w=np.array(net.noise_w),
                   bandwidth_hz=np.array(net.bandwidth_hz), direct_gain=np.asarray(net.direct_gain),
                   cross_row=np.asarray(net.cross_row, dtype=np.int64),
                   cross_col=np.asarray(net.cross_col, dtype=np.int64),
                   cross_gain=np.asarray(net.cross_gain), meta=np.array(json.dumps(net.meta)))
    if net.tx_xy is not None:
        payload["tx_xy"] = np.asarray(net.tx_xy)
    if net.rx_xy is not None:
        payload["rx_xy"] = np.asarray(net.rx_xy)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **payload)
    return path


def load_npz(path: str | Path) -> Network:
    """Read and validate an instance; any contract violation is an `InstanceFormatError`."""
    path = Path(path)
    if not path.is_file():
        raise InstanceFormatError(f"instance file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except Exception as exc:  # zipfile.BadZipFile, ValueError, OSError, EOFError ...
        raise InstanceFormatError(f"cannot read instance {path}: not a valid .npz file ({exc.__class__.__name__})") from None
    missing = [key for key in REQUIRED_KEYS if key not in arrays]
    if missing:
        raise InstanceFormatError(f"invalid instance {path}: missing key '{missing[0]}'")
    fmt = str(arrays["format"])
    if fmt != FORMAT:
        raise InstanceFormatError(f"invalid instance {path}: key 'format' is {fmt!r}, expected {FORMAT!r}")
    meta = {}
    if "meta" in arrays:
        try:
            meta = json.loads(str(arrays["meta"]))
        except json.JSONDecodeError:
            raise InstanceFormatError(f"invalid instance {path}: key 'meta' is not JSON") from None
    try:
        return Network.build(arrays["K"], arrays["power_w"], arrays["noise_w"], arrays["bandwidth_hz"],
                             arrays["direct_gain"], arrays["cross_row"], arrays["cross_col"], arrays["cross_gain"],
                             arrays.get("tx_xy"), arrays.get("rx_xy"), meta)
    except InstanceFormatError as exc:
        raise InstanceFormatError(f"{exc} (file {path})") from None


class atomic_path:
    """Context manager yielding a temp path beside `path`; renamed onto `path` only on success."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".part", dir=self.path.parent)
        os.close(fd)
        self.tmp = Path(tmp)
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)
        return False


# ----------------------------------------------------------------------------------------------
# generators
# ----------------------------------------------------------------------------------------------
def generate_ppp(n_links: int, K: int, regime: str, seed: int, params: NetworkParams | None = None) -> Network:
    """Poisson point process D2D network (SPEC §1).

    Transmitters are uniform in a square of side sqrt(N / density); each receiver at a uniform
    distance in [d_min, d_max] and uniform direction. Gains follow log-distance path loss with
    log-normal shadowing; direct links add per-channel Rayleigh fading. Cross pairs below the
    truncation threshold are dropped (and at most `max_interferers_per_link` kept per receiver).
    """
    params = (params or NetworkParams()).validate()
    if n_links < 1:
        raise InstanceFormatError(f"need at least one link, got N = {n_links}")
    if K < 1:
        raise InstanceFormatError(f"invalid instance: key 'K' must be >= 1, got {K}")
    if regime not in params.density_links_per_km2:
        raise InstanceFormatError(f"unknown regime {regime!r}; known: {', '.join(params.density_links_per_km2)}")
    rng = np.random.default_rng(seed)
    density_per_m2 = params.density_links_per_km2[regime] / 1e6
    side_m = float(np.sqrt(n_links / density_per_m2))
    tx = rng.uniform(0.0, side_m, size=(n_links, 2))
    dist = rng.uniform(params.d_min_m, params.d_max_m, size=n_links)
    angle = rng.uniform(0.0, 2 * np.pi, size=n_links)
    rx = tx + dist[:, None] * np.c_[np.cos(angle), np.sin(angle)]

    def gain_db(d_m, n):
        d_m = np.maximum(d_m, params.min_distance_m)
        pl = params.pathloss_intercept_db + 10 * params.pathloss_exponent * np.log10(d_m)
        return -pl + params.shadowing_sigma_db * rng.standard_normal(n)

    direct = 10 ** (gain_db(dist, n_links) / 10)
    direct = direct[:, None] * (rng.exponential(1.0, size=(n_links, K)) if params.rayleigh_direct
                                else np.ones((n_links, K)))

    power_w, noise_w = params.power_w(), params.noise_w()
    threshold_w = noise_w * 10 ** (params.interference_threshold_db / 10)
    # cutoff radius: no pair beyond it can pass the threshold even with +4 sigma shadowing
    max_gain_db = 10 * np.log10(threshold_w / power_w) - 4 * params.shadowing_sigma_db
    radius_m = 10 ** ((-max_gain_db - params.pathloss_intercept_db) / (10 * params.pathloss_exponent))
    tree = cKDTree(tx)
    cap = params.max_interferers_per_link
    if cap is None:
        lists = tree.query_ball_point(rx, r=radius_m)
        rows = np.repeat(np.arange(n_links), [len(x) for x in lists])
        cols = np.fromiter((c for x in lists for c in x), dtype=np.int64, count=len(rows))
    else:
        k_nn = min(n_links, cap * params.candidate_factor + 1)
        _, idx = tree.query(rx, k=k_nn, distance_upper_bound=radius_m)
        idx = np.asarray(idx).reshape(n_links, -1)
        rows = np.repeat(np.arange(n_links), idx.shape[1])
        cols = idx.ravel()
        keep = cols < n_links
        rows, cols = rows[keep], cols[keep]
    keep = rows != cols
    rows, cols = rows[keep].astype(np.int64), cols[keep].astype(np.int64)
    d = np.linalg.norm(rx[rows] - tx[cols], axis=1)
    gain = 10 ** (gain_db(d, len(d)) / 10)
    rows, cols, gain = truncate_pairs(rows, cols, gain, power_w * gain > threshold_w, cap)
    meta = dict(generator="ppp", regime=regime, seed=int(seed), N=int(n_links), K=int(K), side_m=side_m,
                cutoff_radius_m=float(radius_m), params=_params_dict(params))
    return Network.build(K, np.full(n_links, power_w), noise_w, params.bandwidth_hz, direct,
                         rows, cols, gain, tx, rx, meta)


def truncate_pairs(rows, cols, gain, keep, cap):
    """Keep the masked pairs, then at most `cap` strongest per receiver (None: all)."""
    rows, cols, gain = rows[keep], cols[keep], gain[keep]
    if cap is not None and len(rows):
        order = np.lexsort((-gain, rows))
        rows, cols, gain = rows[order], cols[order], gain[order]
        rank = np.arange(len(rows)) - np.searchsorted(rows, rows, side="left")
        keep = rank < cap
        rows, cols, gain = rows[keep], cols[keep], gain[keep]
    return rows, cols, gain


def truncate(net: Network, threshold_db: float, cap: int | None) -> Network:
    """Re-apply the SPEC §1 truncation to an instance (used to measure its effect against dense)."""
    threshold_w = net.noise_w * 10 ** (threshold_db / 10)
    rows, cols, gain = truncate_pairs(net.cross_row, net.cross_col, net.cross_gain,
                                      net.cross_power_w > threshold_w, cap)
    meta = dict(net.meta, truncation={"threshold_db": threshold_db, "cap": cap})
    return Network.build(net.K, net.power_w, net.noise_w, net.bandwidth_hz, net.direct_gain,
                         rows, cols, gain, net.tx_xy, net.rx_xy, meta)


def _params_dict(params: NetworkParams) -> dict:
    from dataclasses import asdict

    return asdict(params)


# ----------------------------------------------------------------------------------------------
# protocol-model instances (SPEC §3)
# ----------------------------------------------------------------------------------------------
PROTOCOL_NOISE_W = 0.01


def from_edges(n_nodes: int, edges: np.ndarray, K: int, meta: dict | None = None) -> Network:
    """Protocol-model instance: direct gain 1, cross gain 1 both ways per edge, P = 1, noise 0.01."""
    if K < 1:
        raise InstanceFormatError(f"invalid instance: key 'K' must be >= 1, got {K}")
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    edges = edges[edges[:, 0] != edges[:, 1]]
    lo, hi = np.minimum(edges[:, 0], edges[:, 1]), np.maximum(edges[:, 0], edges[:, 1])
    key = np.unique(lo * n_nodes + hi)
    lo, hi = key // n_nodes, key % n_nodes
    rows = np.r_[lo, hi]
    cols = np.r_[hi, lo]
    return Network.build(K, np.ones(n_nodes), PROTOCOL_NOISE_W, 1.0, np.ones((n_nodes, K)),
                         rows, cols, np.ones(len(rows)), None, None,
                         dict(generator="protocol", regime="graph", N=int(n_nodes), K=int(K), **(meta or {})))


def read_dimacs(path: str | Path, K: int) -> Network:
    """Read a DIMACS `.col` graph (`p edge n m`, `e u v` 1-based) as a protocol-model instance."""
    path = Path(path)
    if not path.is_file():
        raise InstanceFormatError(f"DIMACS file not found: {path}")
    n_nodes, edges = None, []
    try:
        text = path.read_text()
    except (UnicodeDecodeError, OSError) as exc:
        raise InstanceFormatError(f"cannot read DIMACS file {path}: {exc.__class__.__name__}") from None
    for lineno, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts or parts[0] == "c":
            continue
        if parts[0] == "p":
            if len(parts) < 4 or parts[1] not in ("edge", "col"):
                raise InstanceFormatError(f"{path}:{lineno}: malformed problem line {line.strip()!r}")
            try:
                n_nodes = int(parts[2])
            except ValueError:
                raise InstanceFormatError(f"{path}:{lineno}: node count is not an integer") from None
            if n_nodes < 1:
                raise InstanceFormatError(f"{path}:{lineno}: node count must be >= 1")
        elif parts[0] == "e":
            if n_nodes is None:
                raise InstanceFormatError(f"{path}:{lineno}: edge before the 'p edge N M' line")
            try:
                u, v = int(parts[1]), int(parts[2])
            except (ValueError, IndexError):
                raise InstanceFormatError(f"{path}:{lineno}: malformed edge line {line.strip()!r}") from None
            if not (1 <= u <= n_nodes and 1 <= v <= n_nodes):
                raise InstanceFormatError(f"{path}:{lineno}: edge ({u}, {v}) names a node outside 1..{n_nodes}")
            edges.append((u - 1, v - 1))
        else:
            raise InstanceFormatError(f"{path}:{lineno}: unknown line type {parts[0]!r}")
    if n_nodes is None:
        raise InstanceFormatError(f"{path}: no 'p edge N M' problem line")
    return from_edges(n_nodes, np.array(edges, dtype=np.int64), K, {"source": path.name})


def write_dimacs(n_nodes: int, edges, path: str | Path, comment: str = "") -> Path:
    edges = list(edges)
    lines = ([f"c {comment}"] if comment else []) + [f"p edge {n_nodes} {len(edges)}"]
    lines += [f"e {u + 1} {v + 1}" for u, v in edges]
    with atomic_path(path) as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n")
    return Path(path)
