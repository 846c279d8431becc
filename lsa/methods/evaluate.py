"""`evaluate`: methods x instances x budgets x seeds under the time-bounded protocol (SPEC §5).

The `evaluation:` section of a profile says what to run; the result is one tidy table (the CLI and
the workflow decide where it is written).
"""
from __future__ import annotations

import itertools
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


def evaluate(config: dict, methods: list | None = None, progress: bool = True) -> pd.DataFrame:
    """Run the `evaluation:` grid of a loaded profile; returns the tidy table (one row per run)."""
    cfg = evaluation_config(config)
    params = network_config(config)
    methods = methods or cfg.methods
    specs = list(iter_instances(cfg, params))
    total = len(specs) * len(methods) * len(cfg.budgets_s)
    rows = []
    with tqdm(total=total, desc="evaluate", unit="run", disable=not progress) as bar:
        for name, (n, k, regime, seed) in specs:
            net = generate_ppp(n, k, regime, seed, params)
            for method, budget in itertools.product(methods, cfg.budgets_s):
                bar.set_postfix_str(f"{name} {method} {budget}s")
                row, _ = run_method(net, method, float(budget), seed, cfg.method_params.get(method, {}),
                                    instance=name, threads=cfg.threads)
                rows.append(row)
                bar.update()
    return pd.DataFrame(rows)


__all__ = ["evaluate", "evaluation_config", "EvaluationConfig", "InstanceGrid"]
