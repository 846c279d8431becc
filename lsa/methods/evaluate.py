"""`evaluate`: methods x instances x budgets x seeds under the time-bounded protocol (SPEC §5).

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
from lsa.errors import ConfigError
from lsa.methods.protocol import MAX_BUDGET_S, run_method
from lsa.methods.registry import all_methods
from lsa.sim.generate import generate_ppp
from lsa.sim.params import NetworkConfig, network_config


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


def iter_instances(cfg: EvaluationConfig, params: NetworkConfig, methods: list | None = None):
    """(instance name, (N, K, regime, seed), methods, budgets) of every instance of the grids; an
    explicit `methods` list replaces every grid's."""
    for grid in cfg.grids:
        unknown = [r for r in grid.regimes if r not in params.density_links_per_km2]
        if unknown:
            raise ConfigError(f"config section 'evaluation': unknown regime(s) {unknown}; "
                              f"known: {', '.join(params.density_links_per_km2)}")
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


def _run_instance(config: dict, name: str, spec: tuple, methods: list, budgets: list) -> list[dict]:
    """Every method x budget on one instance."""
    cfg = evaluation_config(config)
    n, k, regime, seed = spec
    net = generate_ppp(n, k, regime, seed, network_config(config))
    rows = []
    for method, budget in itertools.product(methods, budgets):
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
    order (methods that learn across instances, such as lsa-code's program cache, stay repeatable)."""
    cfg = evaluation_config(config)
    specs = [(idx, *spec) for idx, spec in enumerate(iter_instances(cfg, network_config(config), methods))]
    groups = core_groups(cfg.threads, cfg.workers)
    runs = {idx: len(m) * len(b) for idx, _, _, m, b in specs}
    results: dict[int, list[dict]] = {}
    with tqdm(total=sum(runs.values()), desc="evaluate", unit="run", disable=not progress) as bar:
        def done(idx: int, rows: list[dict]) -> None:
            results[idx] = rows
            bar.set_postfix_str(specs[idx][1])
            bar.update(runs[idx])

        run_pinned(_run_instance, [(idx, (config, name, spec, m, b)) for idx, name, spec, m, b in specs], groups, done)
    return pd.DataFrame([row for idx in sorted(results) for row in results[idx]])
