"""`evaluate`: methods x instances x budgets x seeds under the time-bounded protocol (docs/protocol.md).

The `evaluation:` section of a profile says what to run; the result is one tidy table (the CLI and
the workflow decide where it is written).
"""
from __future__ import annotations

import itertools
import multiprocessing
import os
import queue as queue_module
from dataclasses import dataclass

import pandas as pd
from tqdm.auto import tqdm

from lsa.config import Section, option, section
from lsa.errors import ConfigError, InstanceFormatError
from lsa.methods.protocol import MAX_BUDGET_S, run_method
from lsa.methods.registry import all_methods
from lsa.sim.generate import check_generation_size, generate_ppp
from lsa.sim.params import network_config


@dataclass(frozen=True)
class InstanceGrid(Section):
    """One block of generated instances: every N x regime x seed, with K channels."""

    SECTION = "evaluation.instances"

    N: list[int] = option(help="Numbers of links.")
    K: int = option(help="Number of channels.")
    regimes: list[str] = option(help="Density regimes (keys of network.density_links_per_km2).")
    seeds: list[int] = option(help="Instance seeds (each also seeds the methods).")
    budgets_s: list[float] | None = option(None, "This grid's budgets (s); null: the section's budgets_s.")
    methods: list[str] | None = option(None, "This grid's methods; null: the section's methods.")

    def check(self) -> None:
        if not self.N or any(n < 1 for n in self.N):
            self.fail(f"N must be a non-empty list of positive integers, got {self.N}")
        if self.K < 1:
            self.fail(f"K must be >= 1, got {self.K}")
        if not self.regimes or not self.seeds:
            self.fail("regimes and seeds must be non-empty lists")
        if any(s < 0 for s in self.seeds):
            self.fail(f"seeds must be >= 0, got {self.seeds}")
        if self.budgets_s is not None and (not self.budgets_s or any(not 0 < b <= MAX_BUDGET_S for b in self.budgets_s)):
            self.fail(f"budgets_s must be seconds in (0, {MAX_BUDGET_S:g}], got {self.budgets_s}")
        if self.methods is not None:
            unknown = [m for m in self.methods if m not in all_methods()]
            if unknown or not self.methods:
                self.fail(f"methods must name known methods, got {self.methods}")


@dataclass(frozen=True)
class EvaluationConfig(Section):
    """What `lsa evaluate` runs (the `evaluation:` section)."""

    SECTION = "evaluation"

    threads: int = option(1, "CPU threads every method may use (matched compute).")
    workers: int | None = option(
        None, "Evaluations run side by side, each pinned to its own `threads` cores (null: as many as the "
              "usable cores allow; 1: one after the other in this process).")
    instances: list[dict] = option([], "Instance grids {N: [...], K, regimes: [...], seeds: [...]}.")
    methods: list[str] = option(["random", "greedy", "local-search"], "Method names (see `lsa methods`).")
    budgets_s: list[float] = option([1.0], "Wall-clock budgets in seconds.")
    method_params: dict[str, dict] = option({}, "Per-method keyword arguments, e.g. {pulp-partitioned: {cluster_size: 40}}.")

    def check(self) -> None:
        if not self.instances:
            self.fail("instances must list at least one instance grid")
        for grid in self.instances:
            InstanceGrid.from_mapping(grid)
        known = all_methods()
        unknown = [m for m in self.methods if m not in known]
        if unknown:
            self.fail(f"unknown method(s) {unknown}; known: {', '.join(known)}")
        if not self.methods:
            self.fail("methods must name at least one method")
        if not self.budgets_s or any(not 0 < b <= MAX_BUDGET_S for b in self.budgets_s):
            self.fail(f"budgets_s must be seconds in (0, {MAX_BUDGET_S:g}], got {self.budgets_s}")
        if not 1 <= self.threads <= 1024:
            self.fail(f"threads must be in [1, 1024], got {self.threads}")
        if self.workers is not None and not 1 <= self.workers <= 1024:
            self.fail(f"workers must be in [1, 1024] or null, got {self.workers}")

    @property
    def grids(self) -> list[InstanceGrid]:
        return [InstanceGrid.from_mapping(g) for g in self.instances]


def evaluation_config(config: dict) -> EvaluationConfig:
    return section(config, EvaluationConfig)


def check_evaluation(config: dict, methods: list | None = None) -> EvaluationConfig:
    """The `network:` and `evaluation:` sections of a loaded profile, checked for everything that
    would fail only once the evaluation runs: regimes the network knows, instance sizes against the
    memory, seeds, the names of an explicit `methods` list, and method_params keys against each
    method's parameters. `evaluate` calls it first; so do the CLI and `lsa.workflow.check_profile`."""
    import inspect

    from lsa.methods.registry import get_method

    cfg, params = evaluation_config(config), network_config(config)
    for grid in cfg.grids:
        unknown = [r for r in grid.regimes if r not in params.density_links_per_km2]
        if unknown:
            raise ConfigError(f"config section 'evaluation': unknown regime(s) {unknown}; "
                              f"known: {', '.join(params.density_links_per_km2)}")
        if any(seed >= 2 ** 63 for seed in grid.seeds):
            raise ConfigError(f"config section 'evaluation.instances': seeds must be < 2**63, got {grid.seeds}")
        for n_links in grid.N:
            try:
                check_generation_size(n_links, grid.K, params, "config section 'evaluation.instances'")
            except InstanceFormatError as exc:       # a size the config asks for: a config error
                raise ConfigError(str(exc)) from None
    for name in methods or []:
        get_method(name)
    for name, values in cfg.method_params.items():
        signature = list(inspect.signature(get_method(name).solve).parameters.values())
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature):
            continue
        known = [p.name for p in signature[3:]]          # after (net, run, rng)
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"config section 'evaluation': method_params for {name!r} has unknown key(s) "
                              f"{unknown}; known: {known}")
    return cfg


def iter_instances(cfg: EvaluationConfig, methods: list | None = None):
    """(instance name, (N, K, regime, seed), methods, budgets) of every instance of the grids; an
    explicit `methods` list replaces every grid's."""
    for grid in cfg.grids:
        grid_methods = list(methods or grid.methods or cfg.methods)
        budgets = list(grid.budgets_s or cfg.budgets_s)
        for n, regime, seed in itertools.product(grid.N, grid.regimes, grid.seeds):
            yield f"{regime}-N{n}-K{grid.K}-s{seed}", (n, grid.K, regime, seed), grid_methods, budgets


def usable_cores() -> list[int]:
    """The CPU cores this process may run on."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:                     # not Linux
        return list(range(os.cpu_count() or 1))


def core_groups(threads: int, workers: int | None) -> list[list[int]]:
    """Disjoint groups of `threads` usable cores, one per worker (at least one group)."""
    cores = usable_cores()
    n = max(1, len(cores) // threads)
    n = min(n, workers) if workers else n
    return [cores[i * threads:(i + 1) * threads] or cores[:threads] for i in range(n)]


@dataclass(frozen=True)
class Cell:
    """One run of the grid: a method at a budget on an instance (`index`: its row in `evaluate`'s table)."""

    index: int
    instance: int
    name: str
    spec: tuple
    method: str
    budget_s: float


def evaluation_cells(config: dict, methods: list | None = None) -> list[Cell]:
    """Every run of the `evaluation:` grid, in the row order of `evaluate`'s table (instance by
    instance, then method x budget)."""
    cfg = evaluation_config(config)
    cells: list[Cell] = []
    for idx, (name, spec, grid_methods, budgets) in enumerate(iter_instances(cfg, methods)):
        for method, budget in itertools.product(grid_methods, budgets):
            cells.append(Cell(len(cells), idx, name, spec, method, float(budget)))
    return cells


def _run_instance(config: dict, name: str, spec: tuple, runs: list) -> list[dict]:
    """Every (method, budget) of `runs` on one instance."""
    cfg = evaluation_config(config)
    n, k, regime, seed = spec
    net = generate_ppp(n, k, regime, seed, network_config(config))
    rows = []
    for method, budget in runs:
        row, _ = run_method(net, method, float(budget), seed, cfg.method_params.get(method, {}),
                            instance=name, threads=cfg.threads)
        rows.append(row)
    return rows


def _worker(run_one, jobs: list, cores: list[int], queue) -> None:
    """One worker: pinned to its cores (its sandbox children inherit that), it runs its jobs in
    order and reports each one's result (or the error) through `queue`."""
    try:
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, cores)
        for idx, args in jobs:
            queue.put((idx, run_one(*args), None))
    except BaseException as exc:              # noqa: BLE001 - reported to the parent, which raises
        queue.put((None, None, f"{type(exc).__name__}: {exc}"))


def _jobs(cells: list[Cell], split_for: int = 1) -> list[tuple]:
    """The cells as jobs (job index, instance name, spec, [(method, budget), ...]): one per instance,
    in cell order; with fewer instances than `split_for` workers, each instance's runs are dealt
    round-robin into that many jobs so that every worker has work (a shard of a few instances)."""
    by_instance: dict[int, list[Cell]] = {}
    for cell in cells:
        by_instance.setdefault(cell.instance, []).append(cell)
    parts = max(1, -(-split_for // len(by_instance))) if by_instance else 1
    jobs = []
    for group in by_instance.values():
        for part in range(min(parts, len(group))):
            jobs.append((len(jobs), group[0].name, group[0].spec, [(c.method, c.budget_s) for c in group[part::parts]],
                         [c.index for c in group[part::parts]]))
    return jobs


def run_pinned(run_one, jobs: list[tuple[int, tuple]], groups: list[list[int]], on_result) -> None:
    """Run `run_one(*args)` for every (idx, args) of `jobs`, dealt round-robin to one worker per core
    group (each pinned to its cores: wall-clock budgets never share a core), and call
    `on_result(idx, result)` as each finishes; one group or one job: in this process, in order."""
    if len(groups) == 1 or len(jobs) == 1:
        for idx, args in jobs:
            on_result(idx, run_one(*args))
        return
    # fork: workers inherit the loaded package (nothing here has started threads yet)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    workers = [ctx.Process(target=_worker, args=(run_one, jobs[w::len(groups)], groups[w], queue), daemon=True)
               for w in range(len(groups))]
    for w in workers:
        w.start()
    done = 0
    try:
        while done < len(jobs):
            try:
                idx, result, error = queue.get(timeout=1.0)
            except queue_module.Empty:
                if not any(w.is_alive() for w in workers) and queue.empty():
                    raise RuntimeError("the workers died before finishing (killed?)") from None
                continue
            if error is not None:
                raise RuntimeError(f"a worker failed: {error}")
            done += 1
            on_result(idx, result)
    finally:
        for w in workers:
            if w.is_alive():
                w.terminate()
            w.join()


def evaluate(config: dict, methods: list | None = None, progress: bool = True) -> pd.DataFrame:
    """Run the `evaluation:` grid of a loaded profile; returns the tidy table (one row per run, in
    grid order). Instances are dealt round-robin to workers, each pinned to its own cores, so that
    runs never share a core (budgets are wall-clock) and each worker sees its instances in a fixed
    order. No method learns across instances (each run starts from the same method state, see
    docs/protocol.md), so the rows do not depend on that order or on the number of workers.
    The config is checked first (`check_evaluation`): a bad one fails before anything runs."""
    check_evaluation(config, methods)
    return evaluate_cells(config, evaluation_cells(config, methods), progress=progress)


def evaluate_cells(config: dict, cells: list[Cell], progress: bool = True, split: bool = False) -> pd.DataFrame:
    """Run `cells` (from `evaluation_cells`: all of them, or a shard) under the protocol; one row per
    cell, in cell-index order. Jobs (an instance's cells) are dealt round-robin to the pinned workers;
    `split`: an instance's cells may be spread over several workers when there are fewer instances
    than workers (each such job generates the instance again; evaluate() never splits)."""
    cfg = evaluation_config(config)
    groups = core_groups(cfg.threads, cfg.workers)
    jobs = _jobs(cells, len(groups) if split else 1)
    index = {j[0]: j[4] for j in jobs}
    specs = [j[:4] for j in jobs]
    results: dict[int, list[dict]] = {}
    with tqdm(total=len(cells), desc="evaluate", unit="run", disable=not progress) as bar:
        def done(idx: int, rows: list[dict]) -> None:
            results[idx] = rows
            bar.set_postfix_str(specs[idx][1])
            bar.update(len(rows))

        run_pinned(_run_instance, [(idx, (config, name, spec, runs)) for idx, name, spec, runs in specs], groups, done)
    ordered = sorted(((cell, row) for idx in results for cell, row in zip(index[idx], results[idx])), key=lambda t: t[0])
    return pd.DataFrame([row for _, row in ordered])
