"""`evaluate`: methods x instances x budgets x seeds under the time-bounded protocol (SPEC §5).

The `evaluation:` section of a profile says what to run; the result is one tidy table (the CLI and
the workflow decide where it is written).
"""
from __future__ import annotations

import itertools
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
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

    def check(self) -> None:
        if not self.N or any(n < 1 for n in self.N):
            self.fail(f"N must be a non-empty list of positive integers, got {self.N}")
        if self.K < 1:
            self.fail(f"K must be >= 1, got {self.K}")
        if not self.regimes or not self.seeds:
            self.fail("regimes and seeds must be non-empty lists")
        if any(s < 0 for s in self.seeds):
            self.fail(f"seeds must be >= 0, got {self.seeds}")


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


def iter_instances(cfg: EvaluationConfig, params: NetworkConfig):
    """(instance name, (N, K, regime, seed)) of every instance of the grids."""
    for grid in cfg.grids:
        unknown = [r for r in grid.regimes if r not in params.density_links_per_km2]
        if unknown:
            raise ConfigError(f"config section 'evaluation': unknown regime(s) {unknown}; "
                              f"known: {', '.join(params.density_links_per_km2)}")
        for n, regime, seed in itertools.product(grid.N, grid.regimes, grid.seeds):
            yield f"{regime}-N{n}-K{grid.K}-s{seed}", (n, grid.K, regime, seed)


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
    """Every method x budget on one instance (what one worker does at a time)."""
    cfg = evaluation_config(config)
    n, k, regime, seed = spec
    net = generate_ppp(n, k, regime, seed, network_config(config))
    rows = []
    for method, budget in itertools.product(methods, budgets):
        row, _ = run_method(net, method, float(budget), seed, cfg.method_params.get(method, {}),
                            instance=name, threads=cfg.threads)
        rows.append(row)
    return rows


def _pin_worker(cores_queue) -> None:
    """Worker initializer: pin this process (and the sandbox children it forks) to its cores."""
    cores = cores_queue.get()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cores)


def evaluate(config: dict, methods: list | None = None, progress: bool = True) -> pd.DataFrame:
    """Run the `evaluation:` grid of a loaded profile; returns the tidy table (one row per run, in
    grid order). Instances are spread over workers, each pinned to its own cores, so that runs never
    share a core (budgets are wall-clock)."""
    cfg = evaluation_config(config)
    params = network_config(config)
    methods = list(methods or cfg.methods)
    specs = list(iter_instances(cfg, params))
    groups = core_groups(cfg.threads, cfg.workers)
    per_instance = len(methods) * len(cfg.budgets_s)
    results: dict[int, list[dict]] = {}
    with tqdm(total=len(specs) * per_instance, desc="evaluate", unit="run", disable=not progress) as bar:
        if len(groups) == 1 or len(specs) == 1:
            for idx, (name, spec) in enumerate(specs):
                bar.set_postfix_str(name)
                results[idx] = _run_instance(config, name, spec, methods, cfg.budgets_s)
                bar.update(per_instance)
        else:
            # fork: workers inherit the loaded package (nothing here has started threads yet)
            ctx = multiprocessing.get_context("fork")
            queue = ctx.Queue()
            for group in groups:
                queue.put(group)
            with ProcessPoolExecutor(len(groups), mp_context=ctx, initializer=_pin_worker,
                                     initargs=(queue,)) as pool:
                futures = {pool.submit(_run_instance, config, name, spec, methods, cfg.budgets_s): idx
                           for idx, (name, spec) in enumerate(specs)}
                for future in as_completed(futures):
                    results[futures[future]] = future.result()
                    bar.update(per_instance)
    return pd.DataFrame([row for idx in sorted(results) for row in results[idx]])
