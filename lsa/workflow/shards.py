"""The baseline evaluation as many jobs: the grid's runs (`lsa.methods.evaluate.evaluation_cells`)
split into shards of similar estimated cost, one workflow job each, and the gather step that puts
the shard tables back together as the single table `evaluate` writes (same columns, same row order).

A profile says how many shards with `workflow.evaluation_shards` (default 1: one job, as on one
machine); the LLM evaluation's policy runs are split into `workflow.llm_evaluation_shards` jobs
(`split_runs`; a policy run's instances stay in one job, its model loaded once). Shards are contiguous runs of the grid (an instance's runs stay together where they can:
its network is generated once per job), cut where the running sum of estimated costs crosses a
multiple of the total / shards. A run's estimated cost is its budget plus RUN_OVERHEAD_S.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from lsa.errors import ConfigError
from lsa.methods.evaluate import Cell, evaluate_cells, evaluation_cells

#: estimated seconds a run costs beyond its budget (instance generation share, sandbox start, scoring)
RUN_OVERHEAD_S = 0.5
#: seconds a shard job costs before its first run (interpreter, imports, RL models)
JOB_STARTUP_S = 60.0
#: a job's runtime request is this multiple of its estimate (a killed job costs more than a long request)
RUNTIME_SAFETY = 2.0
#: the shard column of a shard table: the run's row in the gathered table (dropped when gathering)
CELL_COLUMN = "cell"


def evaluation_shard_count(config: dict) -> int:
    """`workflow.evaluation_shards` of a loaded profile (default 1)."""
    value = ((config or {}).get("workflow") or {}).get("evaluation_shards", 1)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000:
        raise ConfigError(f"workflow.evaluation_shards must be an integer in [1, 10000], got {value!r}")
    return value


def llm_evaluation_shard_count(config: dict) -> int:
    """`workflow.llm_evaluation_shards` of a loaded profile (default 1): jobs the policy runs of the
    LLM evaluation are split into (at most one per run)."""
    value = ((config or {}).get("workflow") or {}).get("llm_evaluation_shards", 1)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
        raise ConfigError(f"workflow.llm_evaluation_shards must be an integer in [1, 1000], got {value!r}")
    return value


def split_runs(runs: list[str], shards: int) -> list[list[str]]:
    """`runs` as min(shards, len(runs)) contiguous groups whose sizes differ by at most one."""
    count = max(1, min(shards, len(runs)))
    size, extra = divmod(len(runs), count)
    bounds = [i * size + min(i, extra) for i in range(count + 1)]
    return [list(runs[a:b]) for a, b in zip(bounds, bounds[1:])]


def cell_cost_s(cell: Cell) -> float:
    """Estimated seconds of one run: its budget (the protocol stops it there) plus the overhead."""
    return cell.budget_s + RUN_OVERHEAD_S


@dataclass(frozen=True)
class Shard:
    """One evaluation job: a contiguous slice of the grid's runs."""

    index: int
    cells: tuple

    @property
    def cost_s(self) -> float:
        """Estimated single-core seconds of its runs."""
        return sum(cell_cost_s(c) for c in self.cells)

    @property
    def instances(self) -> int:
        return len({c.instance for c in self.cells})

    def runtime_min(self, workers: int) -> int:
        """Minutes to request for this shard on `workers` pinned cores (estimate x RUNTIME_SAFETY,
        at least 10): its runs share the workers, at worst one instance's runs on one worker."""
        workers = max(1, min(workers, len(self.cells)))
        seconds = JOB_STARTUP_S + self.cost_s / workers
        return max(10, math.ceil(seconds * RUNTIME_SAFETY / 60))


def split_cells(cells: list[Cell], shards: int) -> list[Shard]:
    """`cells` (in grid order) as min(shards, len(cells)) contiguous, non-empty shards of similar
    estimated cost: a cell goes to the shard its cost midpoint falls in, without leaving a shard
    empty (a cell costlier than a shard's share fills its shard alone)."""
    if shards < 1:
        raise ConfigError(f"the number of shards must be >= 1, got {shards}")
    count = min(shards, len(cells))
    total = sum(cell_cost_s(c) for c in cells)
    groups: list[list[Cell]] = []
    done = 0.0
    for i, cell in enumerate(cells):
        cost = cell_cost_s(cell)
        slot = min(count - 1, int((done + cost / 2) / total * count), len(groups))   # no gap
        slot = max(slot, len(groups) - 1, count - (len(cells) - i))                  # monotone; room for the rest
        if slot == len(groups):
            groups.append([])
        groups[slot].append(cell)
        done += cost
    return [Shard(i, tuple(group)) for i, group in enumerate(groups)]


def evaluation_shards(config: dict, shards: int | None = None) -> list[Shard]:
    """The shards of a loaded profile's evaluation grid (`shards`: default workflow.evaluation_shards)."""
    count = evaluation_shard_count(config) if shards is None else shards
    return split_cells(evaluation_cells(config), count)


def evaluate_shard(config: dict, shard: int, shards: int, progress: bool = True) -> pd.DataFrame:
    """Run shard `shard` of `shards` of the grid of `config` (the `evaluation:` slice with the RL
    models set, as for `evaluate`); the rows of `evaluate` for its runs plus CELL_COLUMN."""
    plan = split_cells(evaluation_cells(config), shards)
    if not 0 <= shard < len(plan):
        raise ConfigError(f"shard {shard} does not exist: the grid splits into {len(plan)} shard(s) (0 to {len(plan) - 1})")
    cells = list(plan[shard].cells)
    table = evaluate_cells(config, cells, progress=progress, split=True)
    return table.assign(**{CELL_COLUMN: [c.index for c in cells]})


def gather_shards(tables: list[pd.DataFrame], runs: int | None = None) -> pd.DataFrame:
    """The shard tables as the one table `evaluate` returns: rows in grid order, CELL_COLUMN dropped.
    `runs`: how many runs the grid has; a missing or repeated run is a ConfigError."""
    tables = [t for t in tables if len(t)]
    if not tables:
        raise ConfigError("no shard table has any row")
    for t in tables:
        if CELL_COLUMN not in t.columns:
            raise ConfigError(f"a shard table has no '{CELL_COLUMN}' column (not written by evaluate_shard?)")
    table = pd.concat(tables, ignore_index=True).sort_values(CELL_COLUMN, kind="stable")
    cells = table[CELL_COLUMN].tolist()
    expected = list(range(runs if runs is not None else len(cells)))
    if cells != expected:
        raise ConfigError(f"the shard tables hold {len(cells)} run(s) ({len(set(cells))} distinct) where the grid "
                          f"has {len(expected)}: a shard is missing, stale or repeated")
    return table.drop(columns=CELL_COLUMN).reset_index(drop=True)


__all__ = ["Shard", "RUN_OVERHEAD_S", "JOB_STARTUP_S", "RUNTIME_SAFETY", "CELL_COLUMN", "evaluation_shard_count",
           "llm_evaluation_shard_count", "split_runs",
           "cell_cost_s", "split_cells", "evaluation_shards", "evaluate_shard", "gather_shards"]
