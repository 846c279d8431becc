"""What a program run gives back (docs/sandbox.md): `ExecResult`, every number in it measured or computed
by the parent; the dict/JSON forms used by `lsa exec --json` and result rows.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np


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


def rejected(message: str, reason: str, wall_s: float = 0.0) -> ExecResult:
    return ExecResult("rejected", None, None, 0.0, False, {}, message, 0, 0, wall_s=wall_s, reject_reason=reason)


__all__ = ["ExecResult", "printable", "rejected"]
