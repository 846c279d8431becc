"""What a program run gives back (SPEC §7): `ExecResult`, every number in it measured or computed
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


def rejected(message: str, reason: str) -> ExecResult:
    return ExecResult("rejected", None, None, 0.0, False, {}, message, 0, 0, reject_reason=reason)


__all__ = ["ExecResult", "rejected"]
