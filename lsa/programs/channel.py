"""The one channel from a sandboxed child to its parent (docs/sandbox.md): length-checked frames carrying
only int64 assignments, a layer mask and short capped diagnostics, validated by the parent.

Frame: kind (1 byte) + payload length (u32, little endian) + payload. Kinds and their exact or
maximal payload sizes are fixed; anything else is a protocol violation and ends the run as an error.
"""
from __future__ import annotations

import json
import math
import os
import struct

import numpy as np

from lsa.programs.repair import REPAIR_KINDS

READY, OFFER, ASSIGNMENT, DONE = b"R", b"O", b"A", b"D"
_HEADER = struct.Struct("<cI")
#: diagnostics (status, error text, captured stdout) are at most this many bytes of JSON
DONE_CAP_BYTES = 16_384
#: captured program output kept (the rest is counted, not stored)
STDOUT_CAP_BYTES = 4_096
ERROR_CAP_CHARS = 1_000
#: statuses a child may claim (the parent decides 'timeout' itself); 'rejected': the static checks
#: refused the program (the child compiles it, inside its time and memory limits)
CHILD_STATUSES = ("ok", "error", "memory", "rejected")
REJECT_REASONS = ("syntax", "disallowed", "no_assign")


class ChildChannel:
    """The child's end: blocking writes of whole frames to the result pipe."""

    def __init__(self, fd: int, n_links: int):
        self.fd = fd
        self.n_links = n_links

    def _send(self, kind: bytes, payload: bytes) -> None:
        data = memoryview(_HEADER.pack(kind, len(payload)) + payload)
        while data:
            written = os.write(self.fd, data)
            data = data[written:]

    def ready(self, layer_mask: int) -> None:
        self._send(READY, struct.pack("<I", layer_mask & 0xFFFFFFFF))

    def offer(self, assignment: np.ndarray) -> None:
        self._send(OFFER, _encode(assignment, self.n_links))

    def done(self, status: str, error: str = "", stdout: str = "", stdout_bytes: int = 0,
             repairs: dict | None = None, assignment: np.ndarray | None = None, ast_nodes: int = 0,
             reason: str = "") -> None:
        if assignment is not None:
            self._send(ASSIGNMENT, _encode(assignment, self.n_links))
        diag = {"status": status, "error": error[:ERROR_CAP_CHARS], "stdout": stdout[:STDOUT_CAP_BYTES],
                "stdout_bytes": int(stdout_bytes), "repairs": dict(repairs or {}), "ast_nodes": int(ast_nodes),
                "reason": reason}
        blob = json.dumps(diag, default=str).encode("utf-8", "replace")
        if len(blob) > DONE_CAP_BYTES:
            diag.update(stdout=diag["stdout"][:256], error=diag["error"][:256])
            blob = json.dumps(diag, default=str).encode("utf-8", "replace")[:DONE_CAP_BYTES]
        self._send(DONE, blob)


def _encode(assignment: np.ndarray, n_links: int) -> bytes:
    data = np.ascontiguousarray(assignment, dtype="<i8")
    if data.shape != (n_links,):
        raise ValueError(f"assignment must have shape ({n_links},)")
    return data.tobytes()


class ProtocolError(Exception):
    """The child sent something the protocol does not allow (a forged or broken frame)."""


class FrameReader:
    """The parent's end: an incremental frame parser that checks every length before buffering."""

    def __init__(self, n_links: int):
        self.n_links = n_links
        self.buffer = bytearray()
        self._limits = {READY: (4, 4), OFFER: (8 * n_links, 8 * n_links),
                        ASSIGNMENT: (8 * n_links, 8 * n_links), DONE: (2, DONE_CAP_BYTES)}

    def max_frame_bytes(self) -> int:
        return _HEADER.size + max(hi for _, hi in self._limits.values())

    def feed(self, data: bytes) -> list[tuple[bytes, bytes]]:
        """Add bytes; return the complete frames (kind, payload) now available, in order. The
        buffer is consumed by offset and compacted once per call (never a copy per frame)."""
        self.buffer += data
        frames = []
        pos, total = 0, len(self.buffer)
        view = memoryview(self.buffer)
        try:
            while total - pos >= _HEADER.size:
                kind, size = _HEADER.unpack_from(self.buffer, pos)
                limits = self._limits.get(kind)
                if limits is None:
                    raise ProtocolError(f"unknown frame kind {kind!r}")
                if not limits[0] <= size <= limits[1]:
                    raise ProtocolError(f"frame {kind.decode('latin-1')} has {size} bytes, allowed {limits[0]}..{limits[1]}")
                end = pos + _HEADER.size + size
                if total < end:
                    break
                frames.append((kind, bytes(view[pos + _HEADER.size:end])))
                pos = end
        finally:
            view.release()
        del self.buffer[:pos]
        return frames


def decode_assignment(payload: bytes, n_links: int, n_channels: int) -> np.ndarray:
    """The int64 assignment in a frame; a value outside [0, K) means the frame was forged."""
    assignment = np.frombuffer(payload, dtype="<i8").astype(np.int64)
    if assignment.shape != (n_links,):
        raise ProtocolError("assignment frame of the wrong length")
    if assignment.size and (int(assignment.min()) < 0 or int(assignment.max()) >= n_channels):
        raise ProtocolError(f"assignment holds a channel outside [0, {n_channels})")
    return assignment


def decode_ready(payload: bytes) -> int:
    return struct.unpack("<I", payload)[0]


def decode_done(payload: bytes) -> dict:
    """Validated diagnostics: every field has its type and bound, or the frame is refused."""
    try:
        diag = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ProtocolError("diagnostics are not JSON") from None
    if not isinstance(diag, dict):
        raise ProtocolError("diagnostics are not a JSON object")
    status = diag.get("status")
    if status not in CHILD_STATUSES:
        raise ProtocolError(f"unknown status {str(status)[:40]!r}")
    error, stdout, stdout_bytes = diag.get("error", ""), diag.get("stdout", ""), diag.get("stdout_bytes", 0)
    if not isinstance(error, str) or not isinstance(stdout, str):
        raise ProtocolError("error/stdout must be strings")
    if isinstance(stdout_bytes, bool) or not isinstance(stdout_bytes, int) or not 0 <= stdout_bytes < 2 ** 62:
        raise ProtocolError("stdout_bytes must be a non-negative integer")
    repairs = diag.get("repairs", {})
    if not isinstance(repairs, dict) or any(
            kind not in REPAIR_KINDS or isinstance(count, bool) or not isinstance(count, int)
            or not 0 < count < 2 ** 63 for kind, count in repairs.items()):
        raise ProtocolError("repairs must map repair kinds to positive counts")
    ast_nodes, reason = diag.get("ast_nodes", 0), diag.get("reason", "")
    if isinstance(ast_nodes, bool) or not isinstance(ast_nodes, int) or not 0 <= ast_nodes < 2 ** 31:
        raise ProtocolError("ast_nodes must be a non-negative integer")
    if status == "rejected" and reason not in REJECT_REASONS:
        raise ProtocolError(f"unknown reject reason {str(reason)[:40]!r}")
    return {"status": status, "error": error[:ERROR_CAP_CHARS], "stdout": stdout[:STDOUT_CAP_BYTES],
            "stdout_bytes": stdout_bytes, "repairs": {k: repairs[k] for k in REPAIR_KINDS if k in repairs},
            "ast_nodes": ast_nodes, "reason": reason if status == "rejected" else ""}


def finite_or_none(value) -> float | None:
    """A utility the parent computed, or None if it is not a finite number (never a NaN reward)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


__all__ = ["ASSIGNMENT", "ChildChannel", "DONE", "FrameReader", "OFFER", "ProtocolError", "READY",
           "STDOUT_CAP_BYTES", "decode_assignment", "decode_done", "decode_ready", "finite_or_none"]
