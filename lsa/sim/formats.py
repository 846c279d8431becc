"""Instance files: the `lsa-network-v1` `.npz` format (SPEC §4) and DIMACS `.col` graphs read as
protocol-model instances (SPEC §3). Loading validates everything; writing is atomic.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lsa.errors import InstanceFormatError
from lsa.io import atomic_path
from lsa.sim.generate import from_edges
from lsa.sim.network import FORMAT, REQUIRED_KEYS, Network


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




# ----------------------------------------------------------------------------------------------
# protocol-model instances (SPEC §3)
# ----------------------------------------------------------------------------------------------
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
