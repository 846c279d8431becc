"""What a program run gives back (SPEC §7): `ExecResult`, every number in it measured or computed
by the parent; the dict/JSON forms used by `lsa exec --json` and result rows.
"""
from __future__ import annotations

import json
import stat
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from lsa.errors import LSAError
from lsa.programs.checks import SOURCE_CAP_CHARS


@dataclass
class ExecResult:
    """Outcome of one program run, every number measured or computed by the parent. `runtime_s`:
    from the program's start to its result (or to the kill at the timeout); `wall_s`: end to end.
    `assignment`/`utility`: the program's return value (status ok); `best_*`: the best of its
    offers made before the deadline, the return value included; `offers`: how many were scored."""

    status: str                               # 'ok' | 'timeout' | 'rejected' | 'error' | 'memory'
    assignment: np.ndarray | None
    utility: float | None
    runtime_s: float
    repaired: bool
    repairs: dict
    error: str
    ast_nodes: int
    stdout_bytes: int
    wall_s: float = 0.0
    stdout: str = ""
    reject_reason: str = ""
    best_assignment: np.ndarray | None = None
    best_utility: float | None = None
    offers: int = 0
    first_offer_s: float | None = None
    layers: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self, include_assignment: bool = False) -> dict:
        out = asdict(self)
        for key in ("assignment", "best_assignment"):
            value = getattr(self, key)
            if include_assignment:
                out[key] = None if value is None else value.tolist()
            else:
                del out[key]
        return out

    def to_json(self, include_assignment: bool = False) -> str:
        return json.dumps(self.to_dict(include_assignment))

    def to_text(self, n_links: int) -> str:
        """The text report of `lsa exec`: one `key: value` line each, program-supplied text escaped
        (a program cannot print a line of its own, or terminal control sequences, into it)."""
        lines = [f"status: {self.status}"]
        if self.utility is not None:
            lines.append(f"utility: {self.utility:.6g} bit/s/Hz")
        lines.append(f"runtime_s: {self.runtime_s:.4f} (end to end {self.wall_s:.4f})")
        lines.append(f"repaired: {str(self.repaired).lower()}" + (f" {self.repairs}" if self.repaired else ""))
        if self.repairs.get("length") and self.repairs["length"] >= 1:
            lines.append(f"note: the return value did not have N = {n_links} entries "
                         f"({self.repairs['length']:,} entries dropped or added)")
        if self.error:
            lines.append(f"error: {printable(self.error)}")
        return "\n".join(lines)


def printable(text: str) -> str:
    """`text` with every non-printable character (control characters, escape sequences, line and
    paragraph separators, bidi controls) written as a Python escape: one line, shown as sent."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


#: a program file is refused above this many bytes before it is read (4 bytes per character)
SOURCE_CAP_BYTES = 4 * SOURCE_CAP_CHARS


def read_program(path: Path) -> str:
    """The source in program file `path`, its size checked on the file before reading (a huge file
    is never read into memory); a missing, special, oversized or non-UTF-8 file is an `LSAError`."""
    try:
        info = path.stat()
    except OSError:
        raise LSAError(f"program file not found: {path}") from None
    if not stat.S_ISREG(info.st_mode):
        raise LSAError(f"program file not found: {path} (not a regular file)")
    if info.st_size > SOURCE_CAP_BYTES:
        raise LSAError(f"program file {path} has {info.st_size:,} bytes, over the {SOURCE_CAP_BYTES:,}-byte limit "
                       f"({SOURCE_CAP_CHARS:,} characters)")
    try:
        with open(path, "rb") as fh:
            data = fh.read(SOURCE_CAP_BYTES + 1)
        if len(data) > SOURCE_CAP_BYTES:
            raise LSAError(f"program file {path} grew past the {SOURCE_CAP_BYTES:,}-byte limit while read")
        return data.decode("utf-8")
    except (UnicodeDecodeError, OSError) as exc:
        raise LSAError(f"cannot read program {path}: {exc.__class__.__name__}") from None


def rejected(message: str, reason: str, wall_s: float = 0.0) -> ExecResult:
    return ExecResult("rejected", None, None, 0.0, False, {}, message, 0, 0, wall_s=wall_s, reject_reason=reason)


__all__ = ["ExecResult", "SOURCE_CAP_BYTES", "printable", "read_program", "rejected"]
