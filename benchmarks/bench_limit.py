"""Every method's share of the best-known utility (issue 19's targets), on instance seeds never used
in training (training instances use seeds >= 10,000,000; these start at scripts/heldout.py's
HELDOUT_SEED, 10,000) nor in the evaluation grids (0..4) nor in bench_policy (100..). Each method runs
as a fresh `lsa solve` process (model loading is outside the budget, as in the protocol); with
--warm, lsa-code also runs in this process after one warm-up run. The best-known of each instance is
the best of `lsa.workflow.best_known.solve_instance`'s long runs (local-search and ils, --long /
--long-large seconds each) and every run below, so a share is never above 1. Prints figures; asserts
nothing. Budgets are wall-clock: the load is printed beside every section.

  .venv/bin/python benchmarks/bench_limit.py [--model DIR] [--seeds 5] [--long 60] [--long-large 120] [--warm]
  .venv/bin/python benchmarks/bench_limit.py --best-known reference/results/best_known.csv [--seeds 5]

With --best-known, the instances are the default profile's evaluation instances (seeds 0, 1, ...; never
used in training either) and their best-known is the committed table's row where its cache_key matches
(the same network settings, instance and long runs); an instance the table lacks (N = 10,000 beyond
seed 2) gets the profile's long runs here. Fresh processes are then paired with the workflow's warm
evaluation of the same instances.

1. N = 2000, K = 8, T = 2 s, every density   (target: lsa-code >= 0.99 of best-known in every density)
2. N = 2000, K = 8, T = 0.5 s, every density (target: lsa-code >= 0.95)
3. N = 10,000, K = 8, dense, T = 5 s         (target: lsa-code >= 0.98)
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from lsa.methods.protocol import run_method
from lsa.sim import generate_ppp, save_npz
from lsa.config import load_yaml
from lsa.sim.params import network_config
from lsa.workflow.best_known import (BestKnownConfig, best_known_config, cache_key, committed_row,
                                     raise_to_evaluated, reference_rows, solve_instance)
from lsa.workflow.stats import t_interval

#: scripts/heldout.py's HELDOUT_SEED: below the training seeds (>= 10,000,000), above every grid's
HELDOUT_SEED = 10_000
DENSITIES = ("sparse", "dense", "ultra-dense")
METHODS = ("lsa-code", "local-search", "ils", "greedy", "pulp-partitioned", "km-partitioned", "de")
#: (section, N, densities, budget [s], lsa-code's target share)
SECTIONS = [("[1] N = 2000, T = 2 s", 2000, DENSITIES, 2.0, 0.99),
            ("[2] N = 2000, T = 0.5 s", 2000, DENSITIES, 0.5, 0.95),
            ("[3] N = 10,000 dense, T = 5 s", 10_000, ("dense",), 5.0, 0.98)]


def load() -> str:
    return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg()) + f" on {os.cpu_count()} CPUs"


def solve_fresh(path: Path, method: str, budget_s: float, seed: int, model: str | None) -> dict:
    """One `lsa solve --json` in a fresh process."""
    cmd = [sys.executable, "-m", "lsa.cli", "solve", str(path), "--method", method, "--budget", str(budget_s),
           "--seed", str(seed), "--json"]
    if method == "lsa-code" and model:
        cmd += ["--model", model]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def best_of(config: dict, name: str, spec: tuple, long: BestKnownConfig, committed: dict) -> dict:
    """The instance's best-known row: the committed table's where the key matches, else long runs here."""
    row = committed_row(committed, cache_key(config.get("network") or {}, spec, long), name)
    if row is not None:
        return {**row, "from": "table"}
    return {**solve_instance(config, name, spec, long), "from": "long runs here"}


def run_section(title, n, densities, budget_s, target, args, tmp: Path) -> pd.DataFrame:
    first = 0 if args.best_known else HELDOUT_SEED
    print(f"\n{title}, K = 8, seeds {first}..{first + args.seeds - 1} ({load()})", flush=True)
    if args.best_known:       # the default profile's instances and long-run settings, the committed table
        config = load_yaml(args.config)
        long = best_known_config(config)
        committed = reference_rows(args.best_known)
    else:
        config, committed = {}, {}
        long = BestKnownConfig(budgets_s={2000: args.long, 10_000: args.long_large}, exact_max_n=0)
    rows, best = [], []
    for density in densities:
        for seed in range(first, first + args.seeds):
            name = f"{density}-N{n}-K8-s{seed}"
            net = generate_ppp(n, 8, density, seed, network_config(config))
            path = save_npz(net, tmp / f"{name}.npz")
            best.append(best_of(config, name, (n, 8, density, seed), long, committed))
            for method in args.methods:
                r = solve_fresh(path, method, budget_s, seed, args.model)
                rows.append({"instance": name, "regime": density, "N": n, "seed": seed, "method": method,
                             "budget_s": budget_s, "utility": r["utility"], "fallback": r["fallback_random"]})
            if args.warm and "lsa-code" in args.methods:
                params = {"model": args.model} if args.model else {}
                row, _ = run_method(net, "lsa-code", budget_s, seed, params)
                rows.append({"instance": name, "regime": density, "N": n, "seed": seed, "method": "lsa-code (warm)",
                             "budget_s": budget_s, "utility": row["utility"], "fallback": row["fallback_random"]})
    df = pd.DataFrame(rows)
    raised, updates = raise_to_evaluated(pd.DataFrame(best), df)
    df["share"] = df["utility"] / df["instance"].map(raised.set_index("instance")["best_known"])
    for density in densities:
        cell = df[df["regime"] == density]
        cell_best = raised[raised["regime"] == density]
        origin = ", ".join(f"{k}: {v}" for k, v in cell_best["from"].value_counts().items()) if "from" in cell_best \
            else "long runs here"
        print(f"  {density:<12} best-known: long runs {long.budget_for(n):g} s each ({origin}; "
              f"mean load {cell_best['load_1min'].mean():.1f}); "
              f"{int((cell_best['updated_by'] != '').sum())} raised by a run below")
        for method, g in cell.groupby("method", sort=False):
            mean, low, high = t_interval(g["share"])
            mark = ""
            if method.startswith("lsa-code"):
                mark = f"  target >= {target:g}: {'met' if low >= target else 'not met'} (gap {mean - target:+.4f})"
            print(f"    {method:<17} share {mean:.4f} [{low:.4f}, {high:.4f}] n = {len(g)}"
                  f"  fallbacks {int(g['fallback'].sum())}{mark}")
    if not updates.empty:
        print("  raised by: " + ", ".join(f"{u.instance} {u.method} +{100 * u.gain:.2f} %"
                                          for u in updates.drop_duplicates('instance').itertuples()))
    return df


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="policy directory (default: the shipped embedded policy)")
    ap.add_argument("--seeds", type=int, default=5, help="instance seeds per density (from HELDOUT_SEED on)")
    ap.add_argument("--long", type=float, default=60.0, help="each long run's budget at N = 2000 [s]")
    ap.add_argument("--long-large", type=float, default=120.0, help="each long run's budget at N = 10,000 [s]")
    ap.add_argument("--methods", nargs="+", default=list(METHODS))
    ap.add_argument("--sections", nargs="+", type=int, default=[1, 2, 3], help="which of 1, 2, 3")
    ap.add_argument("--warm", action="store_true", help="also run lsa-code in this process (after a warm-up)")
    ap.add_argument("--best-known", default=None,
                    help="a committed best-known table (reference/results/best_known.csv): the profile's evaluation "
                         "instances (seeds 0, 1, ...) instead of held-out ones, their best-known read from it")
    ap.add_argument("--config", default="config/default.yaml", help="the profile of --best-known's instances")
    ap.add_argument("--csv", default=None, help="also write every run (utility, share, fallback) to this CSV")
    args = ap.parse_args()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-limit-") as tmp:
        if args.warm:                                             # load the policy once, outside any section
            run_method(generate_ppp(200, 8, "dense", HELDOUT_SEED), "lsa-code", 0.5, 0,
                       {"model": args.model} if args.model else {})
        runs = [run_section(*section, args, Path(tmp)) for i, section in enumerate(SECTIONS, 1) if i in args.sections]
    if args.csv:
        pd.concat(runs, ignore_index=True).to_csv(args.csv, index=False)
        print(f"wrote {args.csv}")
    print(f"\n(total {time.perf_counter() - t0:.0f} s; {load()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
