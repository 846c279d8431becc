"""Instance files: the `lsa-network-v1` `.npz` format (docs/format.md) and DIMACS `.col` graphs read as
protocol-model instances (docs/format.md, DIMACS graphs). Loading validates everything; writing is atomic.
"""
from __future__ import annotations

import io
import json
import math
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from lsa.errors import InstanceFormatError
from lsa.io import atomic_path
from lsa.sim.generate import from_edges
from lsa.sim.network import (
    FORMAT,
    MAX_CHANNELS,
    REQUIRED_KEYS,
    Network,
    available_bytes,
    check_size,
    estimate_bytes,
)


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
            _write_members(fh, payload)
    return path


#: a member whose first MiB deflates to more than this share of its size is stored uncompressed
STORE_ABOVE_RATIO = 0.9
_SAMPLE_BYTES = 1 << 20


def _write_members(fh, payload: dict) -> None:
    """What `np.savez_compressed` writes (one `.npy` member per key, readable by `np.load`), except
    that a member that hardly compresses (random gains and positions: 95 % of their size) is
    stored instead of deflated: at N = 100,000 the file is 4 % larger and reading it takes about
    1 s less of CPU (inflating cross_gain alone took 1.0 s). Members carry a fixed date, so the
    same network always gives the same bytes."""
    with zipfile.ZipFile(fh, "w", allowZip64=True) as zf:
        for key, value in payload.items():
            array = np.asanyarray(value)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED if _compresses(array) else zipfile.ZIP_STORED
            with zf.open(info, "w", force_zip64=True) as out:
                np.lib.format.write_array(out, array, allow_pickle=False)


def _compresses(array: np.ndarray) -> bool:
    sample = np.ascontiguousarray(array).view(np.uint8).reshape(-1)[:_SAMPLE_BYTES].tobytes()
    return len(sample) < 4096 or len(zlib.compress(sample, 1)) <= STORE_ABOVE_RATIO * len(sample)


def load_npz(path: str | Path) -> Network:
    """Read and validate an instance; any contract violation is an `InstanceFormatError` naming the key.

    Sizes are read from the array headers and checked (against MAX_LINKS, MAX_CHANNELS and the
    memory available) before any array is decompressed, so a small file cannot ask for terabytes."""
    path = Path(path)
    if not path.is_file():
        raise InstanceFormatError(f"instance file not found: {path}")
    try:
        arrays = _read_arrays(path)
    except InstanceFormatError:
        raise
    except MemoryError:
        raise InstanceFormatError(f"cannot read instance {path}: out of memory") from None
    except Exception as exc:  # zipfile.BadZipFile, ValueError, OSError, EOFError, zlib.error ...
        raise InstanceFormatError(f"cannot read instance {path}: not a valid .npz file ({exc.__class__.__name__})") from None
    missing = [key for key in REQUIRED_KEYS if key not in arrays]
    if missing:
        raise InstanceFormatError(f"invalid instance {path}: missing key '{missing[0]}'")
    fmt = arrays["format"]
    if fmt.ndim != 0 or fmt.dtype.kind not in "US" or str(fmt) != FORMAT:
        raise InstanceFormatError(f"invalid instance {path}: key 'format' is {str(fmt)[:80]!r}, expected {FORMAT!r}")
    meta = _meta(arrays.get("meta"), path)
    try:
        return Network.build(arrays["K"], arrays["power_w"], arrays["noise_w"], arrays["bandwidth_hz"],
                             arrays["direct_gain"], arrays["cross_row"], arrays["cross_col"], arrays["cross_gain"],
                             arrays.get("tx_xy"), arrays.get("rx_xy"), meta)
    except InstanceFormatError as exc:
        raise InstanceFormatError(f"{exc} (file {path})") from None
    except MemoryError:
        raise InstanceFormatError(f"instance {path} does not fit in memory") from None


#: members inflated at once (zlib releases the GIL)
READ_THREADS = 4
#: keys read from a file; anything else in it is ignored (never decompressed)
_KEYS = (*REQUIRED_KEYS, "tx_xy", "rx_xy", "meta")
#: text keys ('format', 'meta') are at most this many characters
_MAX_TEXT_CHARS = 1_000_000
#: an integer in `meta` has at most this many digits (Python refuses to parse more than 4300)
_MAX_META_DIGITS = 100
#: .npy format versions this loader reads (numpy writes 1.0, and 2.0 for headers over 64 KiB)
_NPY_VERSIONS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
#: a .npy header (its dict text) has at most this many bytes, as numpy's own reader allows
_MAX_HEADER_BYTES = 10_000
#: dtype kinds a member may have (bool, integers, reals, complex; text for 'format' and 'meta')
_KINDS = "biufcUS"


def _read_arrays(path: Path) -> dict:
    with zipfile.ZipFile(path) as zf:
        members = {name[:-4]: name for name in zf.namelist() if name.endswith(".npy") and name[:-4] in _KEYS}
        headers = {}
        for key, name in members.items():
            with zf.open(name) as fh:
                headers[key] = _header(fh, name)
        _check_declared_sizes(headers, path)
        # the big members decompress in parallel (zlib releases the GIL)
        with ThreadPoolExecutor(max_workers=min(READ_THREADS, max(1, len(members)))) as pool:
            loaded = pool.map(lambda item: (item[0], _read_member(zf, item[1], headers[item[0]])), members.items())
            return dict(loaded)


def _header(fh, name: str):
    """(shape, fortran order, dtype, header bytes, data bytes) of one member, from its header alone;
    a version, header size, dimension or dtype this format does not allow is an `InstanceFormatError`."""
    magic = fh.read(8)
    try:
        version = np.lib.format.read_magic(io.BytesIO(magic))
    except ValueError:
        raise InstanceFormatError(f"invalid instance: member {name} is not a .npy array") from None
    reader = _NPY_VERSIONS.get(version)
    if reader is None:
        raise InstanceFormatError(f"invalid instance: member {name} has .npy format version "
                                  f"{version[0]}.{version[1]}, this loader reads 1.0 and 2.0")
    width = 2 if version == (1, 0) else 4
    length = fh.read(width)
    text_bytes = int.from_bytes(length, "little")
    if len(length) != width or text_bytes > _MAX_HEADER_BYTES:
        raise InstanceFormatError(f"invalid instance: member {name} has a header of {text_bytes:,} bytes "
                                  f"(at most {_MAX_HEADER_BYTES:,})")
    shape, fortran, dtype = reader(io.BytesIO(length + fh.read(text_bytes)))
    if dtype.hasobject:
        raise InstanceFormatError(f"invalid instance: member {name} holds Python objects (not allowed)")
    if dtype.kind not in _KINDS or dtype.subdtype is not None or dtype.names is not None:
        raise InstanceFormatError(f"invalid instance: member {name} has dtype {str(dtype)[:40]}, "
                                  f"not a plain number or text type")
    if not isinstance(shape, tuple) or not all(type(d) is int and d >= 0 for d in shape):
        raise InstanceFormatError(f"invalid instance: member {name} declares shape {str(shape)[:80]} "
                                  f"(dimensions must be integers >= 0)")
    return shape, fortran, dtype, len(magic) + width + text_bytes, math.prod(shape) * dtype.itemsize


def _read_member(zf: zipfile.ZipFile, name: str, declared) -> np.ndarray:
    """One member, streamed: at most the bytes its header declares are inflated (a member holding
    more, or fewer, is refused), CRC-checked by zipfile, viewed in place (no copy), read-only."""
    shape, fortran, dtype, header_bytes, size = declared
    with zf.open(name) as fh:
        data = fh.read(header_bytes + size)  # one read: zipfile hands back the inflated bytes as they are
        if len(data) != header_bytes + size:
            raise InstanceFormatError(f"invalid instance: member {name} holds {max(len(data) - header_bytes, 0):,} "
                                      f"bytes of data, its header declares {size:,} (shape {shape}, {dtype})")
        if fh.read(1):
            raise InstanceFormatError(f"invalid instance: member {name} holds more data than its header "
                                      f"declares ({size:,} bytes: shape {shape}, {dtype})")
    if _header(io.BytesIO(data[:header_bytes]), name) != declared:
        raise InstanceFormatError(f"invalid instance: member {name} changed between two reads")
    array = np.frombuffer(data, dtype=dtype, count=math.prod(shape), offset=header_bytes)
    return array.reshape(shape, order="F" if fortran else "C")


def _check_declared_sizes(headers: dict, path: Path) -> None:
    for key, (shape, _fortran, dtype, _header_bytes, _size) in headers.items():
        if key in ("format", "meta") and (shape != () or dtype.kind not in "US"
                                          or dtype.itemsize > 4 * _MAX_TEXT_CHARS):
            raise InstanceFormatError(f"invalid instance {path}: key '{key}' must be one string of at most "
                                      f"{_MAX_TEXT_CHARS:,} characters")
    direct = headers.get("direct_gain", ((),))[0]
    n_links = int(direct[0]) if len(direct) == 2 else 1
    n_channels = int(direct[1]) if len(direct) == 2 else 1
    pairs = max((math.prod(headers[k][0]) for k in ("cross_row", "cross_col", "cross_gain") if k in headers),
                default=0)
    check_size(max(n_links, 1), max(n_channels, 1), pairs, f"instance {path}")
    total = sum(size for *_rest, size in headers.values())
    if total > estimate_bytes(n_links, n_channels, pairs) + 4 * _MAX_TEXT_CHARS * 2 + (1 << 20):
        raise InstanceFormatError(f"invalid instance {path}: its arrays declare {total:,} bytes, more than an "
                                  f"instance with N={n_links}, K={n_channels}, M={pairs} can hold")


def _meta(value, path: Path) -> dict:
    """`meta`: a JSON object of bounded size (checked on the header), integers of at most
    _MAX_META_DIGITS digits, valid Unicode (no lone surrogates, raw or escaped)."""
    if value is None:
        return {}
    if value.ndim != 0 or value.dtype.kind != "U":
        raise InstanceFormatError(f"invalid instance {path}: key 'meta' must be a JSON string")

    def parse_int(text: str) -> int:
        if len(text.lstrip("-")) > _MAX_META_DIGITS:
            raise InstanceFormatError(f"invalid instance {path}: key 'meta' holds an integer of {len(text):,} "
                                      f"digits (at most {_MAX_META_DIGITS})")
        return int(text)

    try:
        meta = json.loads(str(value), parse_int=parse_int)
        json.dumps(meta, ensure_ascii=False).encode("utf-8")
    except (json.JSONDecodeError, RecursionError):
        raise InstanceFormatError(f"invalid instance {path}: key 'meta' is not JSON") from None
    except UnicodeError:
        raise InstanceFormatError(f"invalid instance {path}: key 'meta' is not valid Unicode "
                                  f"(a lone surrogate)") from None
    except ValueError as exc:                # a number Python will not convert
        raise InstanceFormatError(f"invalid instance {path}: key 'meta' holds an unreadable number "
                                  f"({str(exc)[:80]})") from None
    if not isinstance(meta, dict):
        raise InstanceFormatError(f"invalid instance {path}: key 'meta' must be a JSON object, got {type(meta).__name__}")
    return meta


# ----------------------------------------------------------------------------------------------
# protocol-model instances (docs/format.md, DIMACS graphs)
# ----------------------------------------------------------------------------------------------
def read_dimacs(path: str | Path, K: int) -> Network:
    """Read a DIMACS `.col` graph (`p edge n m`, `e u v` 1-based) as a protocol-model instance.
    Sizes (n, K, the edges) are checked against the limits and the memory before anything is built."""
    path = Path(path)
    if not path.is_file():
        raise InstanceFormatError(f"DIMACS file not found: {path}")
    if isinstance(K, bool) or not isinstance(K, (int, np.integer)) or not 1 <= K <= MAX_CHANNELS:
        raise InstanceFormatError(f"K must be an integer in [1, {MAX_CHANNELS}], got {K}")
    if path.stat().st_size * 8 > available_bytes():
        raise InstanceFormatError(f"DIMACS file {path} is too large for the memory available")
    n_nodes, edges = None, []
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError) as exc:
        raise InstanceFormatError(f"cannot read DIMACS file {path}: {exc.__class__.__name__}") from None
    for lineno, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts or parts[0] == "c":
            continue
        if parts[0] == "p":
            if n_nodes is not None:
                raise InstanceFormatError(f"{path}:{lineno}: a second problem line")
            if len(parts) != 4 or parts[1] not in ("edge", "col"):
                raise InstanceFormatError(f"{path}:{lineno}: malformed problem line {line.strip()[:80]!r}")
            try:
                n_nodes, n_edges = int(parts[2]), int(parts[3])
            except ValueError:
                raise InstanceFormatError(f"{path}:{lineno}: node count or edge count is not an integer") from None
            if n_edges < 0:
                raise InstanceFormatError(f"{path}:{lineno}: edge count must be >= 0")
            check_size(n_nodes, K, 0, f"{path}:{lineno}: graph")
        elif parts[0] == "e":
            if n_nodes is None:
                raise InstanceFormatError(f"{path}:{lineno}: edge before the 'p edge N M' line")
            try:
                u, v = int(parts[1]), int(parts[2])
            except (ValueError, IndexError):
                raise InstanceFormatError(f"{path}:{lineno}: malformed edge line {line.strip()[:80]!r}") from None
            if not (1 <= u <= n_nodes and 1 <= v <= n_nodes):
                raise InstanceFormatError(f"{path}:{lineno}: edge ({u}, {v}) names a node outside 1..{n_nodes}")
            edges.append((u - 1, v - 1))
        else:
            raise InstanceFormatError(f"{path}:{lineno}: unknown line type {parts[0][:20]!r}")
    if n_nodes is None:
        raise InstanceFormatError(f"{path}: no 'p edge N M' problem line")
    check_size(n_nodes, K, 2 * len(edges), f"{path}: graph")
    return from_edges(n_nodes, np.array(edges, dtype=np.int64).reshape(-1, 2), int(K), {"source": path.name})


def write_dimacs(n_nodes: int, edges, path: str | Path, comment: str = "") -> Path:
    edges = list(edges)
    lines = ([f"c {comment}"] if comment else []) + [f"p edge {n_nodes} {len(edges)}"]
    lines += [f"e {u + 1} {v + 1}" for u, v in edges]
    with atomic_path(path) as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n")
    return Path(path)
