"""Provenance and atomic result writing: every results file gets a `<name>.provenance.json` sidecar
(config, git commit, package versions, CPU, date) and is replaced atomically, never half-written.
"""
from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import pandas as pd

from lsa.io import atomic_path, write_json

PACKAGES = ("lsa", "numpy", "scipy", "pandas", "pulp", "torch", "transformers", "trl", "peft",
            "tokenizers", "snakemake", "papermill")


def git_commit(cwd: str | Path | None = None) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd or Path(__file__).parent,
                             capture_output=True, text=True, timeout=5)
        commit = out.stdout.strip() or "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=cwd or Path(__file__).parent, capture_output=True, text=True, timeout=5)
        return commit + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def provenance(config: dict | None = None, config_path: str | Path | None = None, **extra) -> dict:
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "config_path": str(config_path) if config_path else None,
        "config": config,
        "versions": versions(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        **extra,
    }


def sidecar_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".provenance.json")


def write_sidecar(path: str | Path, config: dict | None = None, config_path: str | Path | None = None,
                  **extra) -> Path:
    """Write the provenance sidecar of `path` (`<name>.provenance.json`); returns the sidecar's path."""
    return write_json(sidecar_path(path), provenance(config, config_path, **extra))


def write_table(df: pd.DataFrame, path: str | Path, config: dict | None = None,
                config_path: str | Path | None = None, **extra) -> Path:
    """Write a tidy CSV atomically, its provenance sidecar first: a table on disk always has one."""
    path = Path(path)
    write_sidecar(path, config, config_path, rows=len(df), **extra)
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)
    return path
