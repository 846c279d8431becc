"""`lsa evaluate`: methods x instances x budgets x seeds under the time-bounded protocol (SPEC §5).

The `evaluation` section of a profile says what to run; rows go to one tidy CSV, written
atomically with a provenance sidecar.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from .config import build_dataclass, load_yaml, network_params
from .errors import ConfigError
from .network import generate_ppp
from .provenance import provenance, write_table


@dataclass(frozen=True)
class InstanceGrid:
    """One block of generated instances: every N x regime x seed, with K channels."""

    N: list
    K: int
    regimes: list
    seeds: list

    def validate(self) -> "InstanceGrid":
        if not self.N or any(int(n) < 1 for n in self.N):
            raise ConfigError(f"evaluation.instances: N must be a non-empty list of positive ints, got {self.N}")
        if int(self.K) < 1:
            raise ConfigError(f"evaluation.instances: K must be >= 1, got {self.K}")
        if not self.regimes or not self.seeds:
            raise ConfigError("evaluation.instances: regimes and seeds must be non-empty lists")
        return self


@dataclass(frozen=True)
class EvaluationConfig:
    """What `lsa evaluate` runs."""

    output: str = "results/evaluation.csv"
    """Tidy CSV written atomically (plus `<output>.provenance.json`)."""
    threads: int = 1
    """CPU threads every method may use (matched compute)."""
    instances: list = field(default_factory=list)
    """List of instance grids {N: [...], K, regimes: [...], seeds: [...]}."""
    methods: list = field(default_factory=lambda: ["random", "greedy", "local-search"])
    """Method names (see `lsa methods`)."""
    budgets_s: list = field(default_factory=lambda: [1.0])
    """Wall-clock budgets in seconds."""
    method_params: dict = field(default_factory=dict)
    """Per-method keyword arguments, e.g. {pulp-partitioned: {cluster_size: 40}}."""

    def validate(self) -> "EvaluationConfig":
        from .baselines import METHODS

        if not self.instances:
            raise ConfigError("evaluation.instances must list at least one instance grid")
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise ConfigError(f"evaluation.methods: unknown method(s) {unknown}; known: {', '.join(METHODS)}")
        if not self.budgets_s or any(not float(b) > 0 for b in self.budgets_s):
            raise ConfigError(f"evaluation.budgets_s must be positive seconds, got {self.budgets_s}")
        if self.threads < 1:
            raise ConfigError("evaluation.threads must be >= 1")
        object.__setattr__(self, "instances",
                           [build_dataclass(InstanceGrid, g, "evaluation.instances") for g in self.instances])
        return self


def evaluation_config(config: dict) -> EvaluationConfig:
    if "evaluation" not in config:
        raise ConfigError("config has no 'evaluation' section")
    return build_dataclass(EvaluationConfig, config["evaluation"], "evaluation")


def iter_instances(cfg: EvaluationConfig, params):
    for grid in cfg.instances:
        for n, regime, seed in itertools.product(grid.N, grid.regimes, grid.seeds):
            if regime not in params.density_links_per_km2:
                raise ConfigError(f"evaluation.instances: unknown regime {regime!r}")
            yield f"{regime}-N{n}-K{grid.K}-s{seed}", (int(n), int(grid.K), regime, int(seed))


def evaluate(config: dict, config_path: str | Path | None = None, output: str | Path | None = None,
             methods: list | None = None, progress: bool = True) -> pd.DataFrame:
    """Run the evaluation grid; returns the tidy table (and writes it when `output` is set)."""
    from .protocol import run_method

    cfg = evaluation_config(config)
    params = network_params(config)
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
    df = pd.DataFrame(rows)
    out = output or cfg.output
    if out:
        write_table(df, out, provenance(config, config_path, rows=len(df)))
    return df


def add_arguments(p) -> None:
    p.add_argument("--config", required=True, type=Path, help="YAML profile with an 'evaluation' section")
    p.add_argument("--output", type=Path, help="override evaluation.output")
    p.add_argument("--methods", nargs="+", help="override evaluation.methods")


def run(args) -> int:
    config = load_yaml(args.config)
    df = evaluate(config, args.config, args.output, args.methods)
    out = args.output or evaluation_config(config).output
    summary = df.groupby(["regime", "N", "budget_s", "method"])["utility"].mean().unstack("method")
    print(summary.round(2).to_string())
    print(f"\nwrote {out} ({len(df)} rows)")
    if df["overrun"].any():
        print(f"warning: {int(df['overrun'].sum())} run(s) overran their budget (see column 'overrun')")
    return 0


__all__ = ["evaluate", "evaluation_config", "EvaluationConfig"]
