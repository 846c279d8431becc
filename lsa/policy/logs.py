"""Tidy per-step training logs: a TrainerCallback that rewrites a CSV atomically at every log event.

After a resume the rows beyond the checkpoint's step are dropped and wall time continues from the
last kept row, so a killed-and-resumed run yields one clean table. With several training processes
(accelerate launch) only the main one (Trainer state `is_world_process_zero`) writes; the logged
values are already gathered over every process by TRL.
"""
from __future__ import annotations

import csv
import time
from pathlib import Path

from lsa.io import atomic_path

#: GRPO columns: CSV name → TRL log key
GRPO_COLUMNS = {
    "r_struct": "rewards/r_struct/mean",
    "r_perf": "rewards/r_perf/mean",
    "r_depth": "rewards/r_depth/mean",
    "reward": "reward",
    "reward_std": "reward_std",
    "reward_zero_std_share": "frac_reward_zero_std",   # share of groups whose G rewards are all equal (no signal)
    "grad_norm": "grad_norm",
    "valid_share": "valid_share",
    "ok_share": "ok_share",
    "completion_length": "completions/mean_length",
    "loss": "loss",
    "entropy": "entropy",
    "learning_rate": "learning_rate",
}
LM_COLUMNS = {"loss": "loss", "learning_rate": "learning_rate", "grad_norm": "grad_norm"}


def CsvLogCallback(path: str | Path, columns: dict[str, str], extra: dict | None = None):
    """A transformers `TrainerCallback` that writes one row per logged step: step, the mapped
    columns, time_s (cumulative wall time). transformers is imported only when one is made."""
    from transformers import TrainerCallback

    class _Callback(_CsvLog, TrainerCallback):
        pass

    return _Callback(path, columns, extra)


class _CsvLog:
    """The CSV bookkeeping of `CsvLogCallback` (the Trainer events it handles)."""

    def __init__(self, path: str | Path, columns: dict[str, str], extra: dict | None = None):
        self.path = Path(path)
        self.columns = columns
        self.extra = dict(extra or {})
        self.rows: list[dict] = []
        self.t0 = time.perf_counter()
        self.offset_s = 0.0

    def on_train_begin(self, args, state, control, **kwargs):
        # state.global_step is already the resumed step here
        self.rows = []
        if not state.is_world_process_zero:   # several training processes: the main one writes the log
            return
        if self.path.is_file() and state.global_step > 0:
            with open(self.path, newline="") as fh:
                self.rows = [r for r in csv.DictReader(fh) if int(r["step"]) <= state.global_step]
            if self.rows:
                self.offset_s = float(self.rows[-1]["time_s"])
        self.t0 = time.perf_counter()
        self._write()

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if not state.is_world_process_zero or not any(key in logs for key in self.columns.values()):
            return  # e.g. the final train summary
        row = {"step": state.global_step}
        for name, key in self.columns.items():
            value = logs.get(key)
            row[name] = "" if value is None else float(value)
        row["time_s"] = round(self.offset_s + time.perf_counter() - self.t0, 3)
        row.update(self.extra)
        self.rows.append(row)
        self._write()

    def _write(self):
        fields = ["step", *self.columns, "time_s", *self.extra]
        with atomic_path(self.path) as tmp:
            with open(tmp, "w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
                writer.writeheader()
                writer.writerows(self.rows)
