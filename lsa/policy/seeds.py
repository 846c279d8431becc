"""Seed programs: a fixed set of programs recorded with a trained code policy, run first on every
instance so that an incumbent comes at once — the same programs for every instance.

After GRPO, the trained policy samples programs on prompts of its own training instances; each
distinct program runs in the sandbox on those instances and is scored with the training reward
(λ1·R_struct + λ2·R_perf + λ3·R_depth, so programs that offer early and beat greedy rank first).
The best few are written into the model directory (`SEED_PROGRAMS_FILE`) and travel with it
(`lsa.policy.train.record_seed_programs`; this module only reads and checks the record).
Nothing here sees an evaluation instance, and nothing is learnt while evaluating: `lsa-code` reads
the file once when it loads the model and never writes it.
"""
from __future__ import annotations

import json
from pathlib import Path

from lsa.errors import LSAError

#: the file in a model directory that holds its seed programs
SEED_PROGRAMS_FILE = "lsa_seed_programs.json"
SEED_FORMAT = "lsa-seed-programs-v1"
#: a seed program must have offered a valid incumbent on every scoring instance (R_struct >= this)
MIN_STRUCT = 0.8


def load_seed_programs(model_dir: str | Path) -> list[str]:
    """The seed programs recorded in `model_dir`, best first ([] when it has none, e.g. a hub model)."""
    path = Path(model_dir) / SEED_PROGRAMS_FILE
    if not path.is_file():
        return []
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        programs = record["programs"]
        sources = [p["source"] for p in programs]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LSAError(f"{path}: not a seed-program record ({type(exc).__name__}: {exc})") from None
    if record.get("format") != SEED_FORMAT or not all(isinstance(s, str) and s for s in sources):
        raise LSAError(f"{path}: not a {SEED_FORMAT} record")
    return sources


__all__ = ["SEED_PROGRAMS_FILE", "SEED_FORMAT", "MIN_STRUCT", "load_seed_programs"]
