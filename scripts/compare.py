"""Head-to-head of `lsa-code` against `exact` (N ≤ 20) and `pulp-partitioned` (ultra-dense N = 2000)
under equal budgets, through the same protocol harness; tidy rows to a CSV and a printed summary.

`.venv/bin/python scripts/compare.py [--model PATH] [--budgets 2] [--output results/policy/compare.csv]`
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def main(argv=None) -> int:
    import pandas as pd

    from lsa.methods.protocol import run_method
    from lsa.sim.generate import generate_ppp
    from lsa.workflow.stats import t_interval

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="policy dir (default: the shipped embedded policy)")
    parser.add_argument("--budgets", type=float, nargs="+", default=[2.0])
    parser.add_argument("--small-n", type=int, nargs="+", default=[12, 16, 20])
    parser.add_argument("--small-seeds", type=int, default=2)
    parser.add_argument("--large-n", type=int, default=2000)
    parser.add_argument("--large-seeds", type=int, default=3)
    parser.add_argument("--exact-reference-s", type=float, default=30.0,
                        help="budget of the exact run that gives the optimum the ratios are taken to")
    parser.add_argument("--output", default="results/policy/compare.csv")
    args = parser.parse_args(argv)
    params = {"model": args.model} if args.model else {}
    rows = []

    def go(net, method, budget, seed, tag, p=None):
        row, _ = run_method(net, method, budget, seed=seed, params=p or {})
        row.update(study=tag)
        rows.append(row)
        return row

    for N in args.small_n:
        for regime in ("sparse", "dense", "ultra-dense"):
            for seed in range(args.small_seeds):
                net = generate_ppp(N, 4, regime, seed)
                ref = go(net, "exact", args.exact_reference_s, seed, "exact-reference")
                for budget in args.budgets:
                    for method in ("lsa-code", "exact", "greedy", "local-search"):
                        r = go(net, method, budget, seed, "small", params if method == "lsa-code" else None)
                        r["share_of_optimum"] = r["utility"] / ref["utility"]
                        r["reference_optimal"] = ref.get("optimal")
    for seed in range(args.large_seeds):
        net = generate_ppp(args.large_n, 8, "ultra-dense", seed)
        for budget in args.budgets:
            for method in ("lsa-code", "pulp-partitioned", "greedy", "local-search"):
                go(net, method, budget, seed, "large", params if method == "lsa-code" else None)
    df = pd.DataFrame(rows)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.output, index=False)
    summary = {}
    small = df[df.study == "small"]
    for (method, budget), g in small.groupby(["method", "budget_s"]):
        summary[f"small/{method}/{budget}s share_of_optimum"] = t_interval(g["share_of_optimum"].values)
    large = df[df.study == "large"]
    for budget, g in large.groupby("budget_s"):
        piv = g.pivot_table(index="seed", columns="method", values="utility")
        for method in piv.columns:
            summary[f"large/{method}/{budget}s utility"] = t_interval(piv[method].values)
        if "pulp-partitioned" in piv:
            ratio = piv["lsa-code"] / piv["pulp-partitioned"]
            summary[f"large/lsa-code over pulp-partitioned/{budget}s"] = t_interval(ratio.values)
    print(json.dumps(summary, indent=1))
    Path(args.output).with_suffix(".json").write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
