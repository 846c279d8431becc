"""`lsa-code`'s time allocation (docs/policy.md, "Time allocation at inference"): the `incumbent`
rule against the earlier `relay` rule, in one run, on the reference's N = 2000 evaluation instances
(the default profile's llm_evaluation grid: K = 8, 3 densities x seeds 0..4, its network and
inference settings), with `local-search` on the same instances beside them. Share of the committed
best-known table (reference/results/best_known.csv; a run here above it raises it, and is printed),
mean and 95 % t-interval over the instances of each budget, and paired ratios incumbent / relay.
Every method runs warm in this process under `run_method` (the protocol: model loading and the
sandbox's preparation are outside the budget; the policy is loaded once before the first run).
Prints figures; asserts nothing. Budgets are wall-clock: the load is printed beside every section.

  .venv/bin/python benchmarks/bench_limit_policy.py [--model DIR] [--budgets 0.5 2] [--seeds 0 1 2 3 4]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from lsa.config import load_yaml
from lsa.io import write_text
from lsa.methods.protocol import run_method
from lsa.sim.generate import generate_ppp
from lsa.sim.params import network_config
from lsa.workflow.best_known import raise_to_evaluated, with_share
from lsa.workflow.paths import profile_config_path
from lsa.workflow.stages import stage_configs
from lsa.workflow.stats import t_interval

REPO = Path(__file__).resolve().parent.parent
BEST_KNOWN = REPO / "reference" / "results" / "best_known.csv"
#: (method, inference settings over the slice's, label)
ARMS = (("lsa-code", {"allocation": "relay"}, "lsa-code (relay)"),
        ("lsa-code", {"allocation": "incumbent", "continue_share": 0.5}, "lsa-code (incumbent)"),
        ("lsa-code", {"allocation": "incumbent", "continue_share": 1.0}, "lsa-code (incumbent, share 1)"),
        ("local-search", None, "local-search"))
NEW, OLD = "lsa-code (incumbent)", "lsa-code (relay)"


def load() -> str:
    return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg()) + f" on {os.cpu_count()} CPUs"


def instances(config: dict, n: int, seeds) -> list[tuple[int, int, str, int]]:
    """(N, K, regime, seed) of the llm_evaluation grid's N = n instances."""
    out = []
    for grid in config["evaluation"]["instances"]:
        if n in grid["N"]:
            out += [(n, int(grid["K"]), r, int(s)) for r in grid["regimes"] for s in grid["seeds"]
                    if seeds is None or int(s) in seeds]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="policy directory (default: the shipped embedded policy)")
    ap.add_argument("--budgets", nargs="+", type=float, default=[0.5, 2.0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--seeds", nargs="+", type=int, default=None, help="instance seeds (default: the grid's)")
    ap.add_argument("--table", default=None, help="also write every run's row to this CSV")
    ap.add_argument("--also", nargs="*", default=[], metavar="NAME=DIR",
                    help="more policies, each run as lsa-code (incumbent) beside the others, e.g. limit=results/models/limit")
    args = ap.parse_args()
    config = stage_configs(load_yaml(profile_config_path("default")))["llm_evaluation"]
    params = network_config(config)
    inference = dict(config.get("inference") or {})
    grid = instances(config, args.n, args.seeds)
    t0 = time.perf_counter()
    model = {"model": args.model} if args.model else {}
    also = [tuple(spec.split("=", 1)) for spec in args.also]
    arms = [*ARMS, *(("lsa-code", {"allocation": "incumbent"}, f"lsa-code (incumbent, {name})", {"model": path})
                     for name, path in also)]
    warm = generate_ppp(200, 8, "dense", 0, params)             # the policy loads once, outside every section
    for extra in [model, *({"model": path} for _name, path in also)]:
        run_method(warm, "lsa-code", 0.5, 0, {**extra, "inference": inference})
    print(f"instances: {len(grid)} (N = {args.n}, K = {grid[0][1]}, seeds {sorted({g[3] for g in grid})}); "
          f"inference settings of the default profile's llm_evaluation slice; policy "
          f"{args.model or 'shipped embedded'}")
    rows = []
    for budget in args.budgets:
        print(f"\nT = {budget:g} s ({load()})", flush=True)
        for n, k, regime, seed in tqdm(grid, desc=f"T = {budget:g} s", leave=False):
            net = generate_ppp(n, k, regime, seed, params)
            name = f"{regime}-N{n}-K{k}-s{seed}"
            for method, settings, name_of_arm, *other in arms:        # side by side on each instance
                policy = other[0] if other else model
                p = {**policy, "inference": {**inference, **settings}} if settings is not None else {}
                row, _ = run_method(net, method, budget, seed, p, instance=name)
                rows.append({**{c: row.get(c) for c in ("instance", "N", "regime", "seed", "budget_s", "utility",
                                                       "runtime_s", "overrun", "fallback_random", "first_incumbent_s",
                                                       "programs_tried", "programs_continued", "gen_s", "best_from")},
                             "method": name_of_arm})
        df = pd.DataFrame([r for r in rows if r["budget_s"] == budget])
        _report(df)
    table = pd.DataFrame(rows)
    best, updates = raise_to_evaluated(pd.read_csv(BEST_KNOWN), table)
    if not updates.empty:
        print("\nbest-known raised by: " + ", ".join(f"{u.instance} {u.method} @ {u.budget_s:g} s +{100 * u.gain:.3f} %"
                                                    for u in updates.drop_duplicates("instance").itertuples()))
    print("\nshare of best-known (reference best-known, raised by every run above), mean [95 % interval], n instances")
    shares = with_share(table, best)
    if args.table:
        write_text(args.table, shares.to_csv(index=False))
    for budget, at in shares.groupby("budget_s"):
        print(f"T = {budget:g} s")
        for method, g in at.groupby("method", sort=False):
            mean, low, high = t_interval(g["share_of_best_known"])
            cells = "  ".join(f"{r} {c['share_of_best_known'].mean():.4f}" for r, c in g.groupby("regime", sort=False))
            print(f"  {method:<24} {mean:.4f} [{low:.4f}, {high:.4f}] n = {len(g)}   ({cells})")
        pair = at.pivot_table(index="instance", columns="method", values="utility")
        for a, b in ((NEW, OLD), (ARMS[2][2], OLD), (ARMS[2][2], NEW), (NEW, "local-search"),
                     (ARMS[2][2], "local-search"), *((arm[2], NEW) for arm in arms[len(ARMS):])):
            mean, low, high = t_interval(pair[a] / pair[b])
            print(f"  paired utility ratio {a} / {b}: {mean:.4f} [{low:.4f}, {high:.4f}]")
    print(f"\n(total {time.perf_counter() - t0:.0f} s; {load()})")
    return 0


def _report(df: pd.DataFrame) -> None:
    for method, g in df.groupby("method", sort=False):
        extra = ""
        if method.startswith("lsa-code"):
            extra = (f"  programs tried {g['programs_tried'].mean():.1f}, continued {g['programs_continued'].mean():.1f}, "
                     f"generating {g['gen_s'].mean():.3f} s, first incumbent max {g['first_incumbent_s'].max():.3f} s, "
                     f"best from {dict(g['best_from'].value_counts())}")
        print(f"  {method:<24} runtime max {g['runtime_s'].max():.3f} s  overruns {int(g['overrun'].sum())}  "
              f"fallbacks {int(g['fallback_random'].sum())}{extra}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
