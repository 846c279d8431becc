"""The cost plan of a profile: every job Snakemake would submit (a forced dry run with a cluster
profile, workflow/profiles/slurm by default), with what each asks for, summed per rule into jobs,
core-hours and GPU-hours (`lsa plan`). The hours are the jobs' runtime requests, i.e. upper bounds:
the evaluation shards' requests are RUNTIME_SAFETY x their estimate from their runs' budgets
(lsa.workflow.shards); the learning stages' are the profile's set-resources.
"""
from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from lsa.errors import ConfigError

#: the cluster profile `lsa plan` reads the resources from
SLURM_PROFILE = Path("workflow") / "profiles" / "slurm"
#: rules that submit nothing (they only collect their inputs)
NOT_SUBMITTED = ("all",)
_JOB = re.compile(r"^(?:local)?rule (\w+):$", re.M)


@dataclass(frozen=True)
class PlannedJob:
    rule: str
    resources: dict = field(default_factory=dict)

    def number(self, key: str, default: float = 0.0) -> float:
        try:
            return float(self.resources.get(key, default))
        except ValueError:
            return default

    @property
    def runtime_h(self) -> float:
        return self.number("runtime") / 60

    @property
    def cpus(self) -> float:
        return self.number("cpus_per_task", 1) or 1

    @property
    def gpus(self) -> float:
        return self.number("gpu")


def dry_run(profile: str, cluster_profile: str | Path = SLURM_PROFILE, root: str | Path = ".",
            timeout_s: float = 600) -> str:
    """The output of `snakemake -n -F --profile <cluster_profile> --config profile=<profile>` in `root`
    (-F: every job, as for a fresh run, whatever results already exist)."""
    cmd = [sys.executable, "-m", "snakemake", "-n", "-F", "--profile", str(cluster_profile), "--config",
           f"profile={profile}"]
    res = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=timeout_s)
    if res.returncode != 0:
        last = (res.stderr.strip() or res.stdout.strip() or "no output").splitlines()[-1]
        raise ConfigError(f"the dry run `{' '.join(cmd[2:])}` failed: {last}")
    return res.stdout


def parse_jobs(text: str) -> list[PlannedJob]:
    """Every job block of a dry run's output: its rule and its `resources:` line as a dict."""
    starts = [m.start() for m in _JOB.finditer(text)] + [len(text)]
    jobs = []
    for a, b in zip(starts, starts[1:]):
        block = text[a:b]
        rule = _JOB.match(block).group(1)
        res = re.search(r"^\s+resources: (.*)$", block, re.M)
        pairs = [kv.split("=", 1) for kv in res.group(1).split(", ") if "=" in kv] if res else []
        jobs.append(PlannedJob(rule, {k.strip(): v.strip() for k, v in pairs}))
    return jobs


def cost_table(jobs: list[PlannedJob]) -> pd.DataFrame:
    """Per rule (by name) and in total: jobs, CPUs and GPUs per job, requested hours,
    core-hours (runtime x CPUs) and GPU-hours (runtime x GPUs)."""
    rows = {}
    for job in jobs:
        if job.rule in NOT_SUBMITTED:
            continue
        r = rows.setdefault(job.rule, {"rule": job.rule, "jobs": 0, "cpus_per_job": 0, "gpus_per_job": 0,
                                       "hours": 0.0, "core_hours": 0.0, "gpu_hours": 0.0})
        r["jobs"] += 1
        r["cpus_per_job"] = max(r["cpus_per_job"], int(job.cpus))
        r["gpus_per_job"] = max(r["gpus_per_job"], int(job.gpus))
        r["hours"] += job.runtime_h
        r["core_hours"] += job.runtime_h * job.cpus
        r["gpu_hours"] += job.runtime_h * job.gpus
    table = pd.DataFrame([rows[rule] for rule in sorted(rows)])
    if table.empty:
        raise ConfigError("the dry run planned no job")
    total = {"rule": "total", "jobs": table["jobs"].sum(), "cpus_per_job": "", "gpus_per_job": "",
             "hours": table["hours"].sum(), "core_hours": table["core_hours"].sum(), "gpu_hours": table["gpu_hours"].sum()}
    table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    return table.round({"hours": 1, "core_hours": 1, "gpu_hours": 1})


def plan(profile: str, cluster_profile: str | Path = SLURM_PROFILE, root: str | Path = ".") -> pd.DataFrame:
    """The cost table of `profile` as `cluster_profile` would submit it."""
    return cost_table(parse_jobs(dry_run(profile, cluster_profile, root)))


def markdown(table: pd.DataFrame) -> str:
    """A small table as a Markdown pipe table (numbers right-aligned)."""
    cells = [[str(c) for c in table.columns]] + [[f"{v:g}" if isinstance(v, float) else str(v) for v in row]
                                                 for row in table.itertuples(index=False)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    numeric = [pd.api.types.is_numeric_dtype(table[c]) for c in table.columns]

    def line(r):
        return "| " + " | ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(r, widths, numeric)) + " |"
    rule = "|" + "|".join(("-" * (w + 1) + ":") if n else (":" + "-" * (w + 1)) for w, n in zip(widths, numeric)) + "|"
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


__all__ = ["SLURM_PROFILE", "PlannedJob", "dry_run", "parse_jobs", "cost_table", "plan", "markdown"]
