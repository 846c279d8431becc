"""The learned policy against the classical methods (issue 10's targets), side by side in one run,
on instance seeds never used in training (training instances use seeds >= 10,000,000). Prints
figures as ratios of means; asserts nothing.

  .venv/bin/python benchmarks/bench_policy.py [--model DIR] [--seeds 5] [--quick] [--old-long 60]

1. N = 2000, T = 2 s, every density: lsa-code / the strongest classical method (ratio of means),
   and against `local-search` of commit c59f978 given --old-long seconds on the same instances
2. T = 0.5 s, N = 2000: lsa-code / greedy, random fallbacks, first incumbent
3. N = 10,000 dense, T = 5 s: lsa-code / the strongest classical method
4. N <= 20, T = 2 s: share of the optimum (`exact` with a long budget; how many optima it proved)
5. N = 100,000 dense, T = 10 s: overruns, lsa-code / greedy, `lsa solve` wall time and peak memory
6. (--grpo-base DIR) GRPO with G = 8 for 300 steps from that base model with the default profile's
   settings: wall time (target <= 15 min)
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from bench_engine import extract_base, run_old  # the c59f978 package and its runner (same folder)

from lsa.methods import all_methods
from lsa.methods.protocol import run_method
from lsa.sim import generate_ppp, save_npz

REPO = Path(__file__).resolve().parent.parent
DENSITIES = ("sparse", "dense", "ultra-dense")
#: the hand-written methods "the strongest classical method" is chosen among (per cell, best mean)
CLASSICAL = ("greedy", "local-search", "ils", "pulp-partitioned", "km-partitioned", "de")


def run(net, method, budget, seed, params=None):
    row, _ = run_method(net, method, budget, seed=seed, params=params or {})
    return row


def policy_params(model):
    return {"model": model} if model else {}


def strongest(rows: pd.DataFrame) -> tuple[str, float]:
    means = rows[rows.method.isin(CLASSICAL)].groupby("method")["utility"].mean()
    return str(means.idxmax()), float(means.max())


def old_local_search(instances: list[Path], budget_s: float) -> list[float]:
    """`local-search` of commit c59f978 (bench_engine's extraction and runner) on the same instance files."""
    with tempfile.TemporaryDirectory() as tmp:
        tree = extract_base(Path(tmp))
        return [run_old(tree, path, [("local-search", budget_s)])[0] for path in instances]


def section_main(args, seeds):
    print(f"\n[1] N = 2000, K = 8, T = 2 s, seeds {seeds[0]}..{seeds[-1]} (never used in training)")
    methods = ["lsa-code", *[m for m in CLASSICAL if m in all_methods()]]
    rows, files = [], []
    tmp = Path(tempfile.mkdtemp(prefix="bench-policy-"))
    for density in DENSITIES:
        for seed in seeds:
            net = generate_ppp(2000, 8, density, seed)
            files.append(save_npz(net, tmp / f"{density}-{seed}.npz"))
            for m in methods:
                rows.append({"density": density, "seed": seed,
                             **run(net, m, 2.0, seed, policy_params(args.model) if m == "lsa-code" else None)})
    df = pd.DataFrame(rows)
    old = old_local_search(files, args.old_long) if args.old_long else None
    for i, density in enumerate(DENSITIES):
        cell = df[df.density == density]
        name, best = strongest(cell)
        code = cell[cell.method == "lsa-code"]["utility"].mean()
        line = (f"  {density:<12} lsa-code {code:9.1f}  strongest classical {name} {best:9.1f}  "
                f"ratio {code / best:.4f}  (target >= 1.02)")
        if old:
            old_mean = float(np.mean(old[i * len(seeds):(i + 1) * len(seeds)]))
            line += f"  | old local-search {args.old_long:g} s {old_mean:9.1f}, ratio {code / old_mean:.4f} (>= 1.0)"
        print(line)
    print("  per-method means:\n" + df.pivot_table(index="method", columns="density", values="utility").round(1)
          .to_string().replace("\n", "\n    "))
    return df


def section_short_budget(args, seeds):
    print("\n[2] N = 2000, K = 8, T = 0.5 s")
    for density in DENSITIES:
        code, greedy, fallback, first = [], [], 0, []
        for seed in seeds:
            net = generate_ppp(2000, 8, density, seed)
            r = run(net, "lsa-code", 0.5, seed, policy_params(args.model))
            code.append(r["utility"])
            fallback += int(r["fallback_random"])
            first.append(r["first_incumbent_s"] if r["first_incumbent_s"] is not None else np.nan)
            greedy.append(run(net, "greedy", 0.5, seed)["utility"])
        print(f"  {density:<12} lsa-code / greedy {np.mean(code) / np.mean(greedy):.4f} (>= 1.0), random fallbacks "
              f"{fallback}/{len(seeds)}, first incumbent max {np.nanmax(first):.3f} s (<= 0.3 s)")


def section_large(args):
    print("\n[3] N = 10,000, K = 8, dense, T = 5 s")
    rows = []
    for seed in range(2):
        net = generate_ppp(10_000, 8, "dense", seed)
        for m in ("lsa-code", "local-search", "ils", "greedy"):
            rows.append(run(net, m, 5.0, seed, policy_params(args.model) if m == "lsa-code" else None))
    df = pd.DataFrame(rows)
    name, best = strongest(df)
    code = df[df.method == "lsa-code"]["utility"].mean()
    print(f"  lsa-code {code:.1f}, strongest classical {name} {best:.1f}: ratio {code / best:.4f} (>= 1.0); "
          f"overruns {int(df.overrun.sum())}")


def section_small(args, seeds):
    print("\n[4] N <= 20, K = 4, T = 2 s: share of the optimum (exact given 60 s offline)")
    shares, proven, total = [], 0, 0
    for n in (12, 16, 20):
        for density in DENSITIES:
            for seed in seeds[:2]:
                net = generate_ppp(n, 4, density, seed)
                ref = run(net, "exact", 60.0, seed)
                proven += int(bool(ref.get("optimal")))
                total += 1
                shares.append(run(net, "lsa-code", 2.0, seed, policy_params(args.model))["utility"] / ref["utility"])
    print(f"  lsa-code mean share {np.mean(shares):.4f}, min {np.min(shares):.4f} (>= 0.99); "
          f"exact proved {proven}/{total} optima")


def section_huge(args):
    print("\n[5] N = 100,000, K = 8, dense, T = 10 s (lsa solve end to end, one process per method)")
    with tempfile.TemporaryDirectory() as tmp:
        path = save_npz(generate_ppp(100_000, 8, "dense", 0), Path(tmp) / "huge.npz")
        for m in ("greedy", "local-search", "ils", "lsa-code"):
            cmd = [sys.executable, "-m", "lsa.cli", "solve", str(path), "--method", m, "--budget", "10", "--json"]
            if m == "lsa-code" and args.model:
                cmd += ["--model", args.model]
            with tempfile.TemporaryFile() as out:
                t0 = time.perf_counter()
                proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL)
                _, _, usage = os.wait4(proc.pid, 0)       # this process's own peak (and its sandbox children's)
                wall = time.perf_counter() - t0
                out.seek(0)
                r = json.loads(out.read())
            peak_gib = usage.ru_maxrss / 2 ** 20
            print(f"  {m:<13} utility {r['utility']:10.1f} runtime {r['runtime_s']:6.2f} s setup {r['setup_s']:5.2f} s "
                  f"overrun {r['overrun']} fallback {r['fallback_random']}  wall {wall:5.1f} s (<= 15 s)  "
                  f"peak RSS {peak_gib:.2f} GiB (<= 4)")


def section_grpo(args):
    import dataclasses

    from lsa.config import load_yaml
    from lsa.policy.config import policy_config
    from lsa.policy.train import train_grpo
    from lsa.sim import network_config

    raw = load_yaml(REPO / "config" / "default.yaml")
    cfg = policy_config(raw)
    grpo = dataclasses.replace(cfg.grpo, max_steps=300, num_generations=8, save_steps=1000, resume=False)
    print(f"\n[6] GRPO, G = {grpo.num_generations}, {grpo.max_steps} steps, default profile settings, from {args.grpo_base}")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):     # the trainer prints a dict per step
            info = train_grpo(cfg.model, grpo, args.grpo_base, Path(tmp) / "run", network=network_config(raw))
        wall = time.perf_counter() - t0
    last = info["last_rows"][0] if info["last_rows"] else {}
    print(f"  {info['steps']} steps in {wall / 60:.1f} min (target <= 15 min); last step R_perf "
          f"{last.get('r_perf', float('nan')):.3f}, valid share {last.get('valid_share', float('nan')):.2f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None, help="policy directory (default: the shipped embedded policy)")
    ap.add_argument("--seeds", type=int, default=5, help="instance seeds per density (from 100 on)")
    ap.add_argument("--quick", action="store_true", help="only sections 1 and 2")
    ap.add_argument("--old-long", type=float, default=0.0, help="also run c59f978's local-search for this long")
    ap.add_argument("--grpo-base", default=None, help="base model directory: also time 300 GRPO steps from it")
    args = ap.parse_args()
    seeds = list(range(100, 100 + args.seeds))
    t0 = time.perf_counter()
    section_main(args, seeds)
    section_short_budget(args, seeds)
    if not args.quick:
        section_large(args)
        section_small(args, seeds)
        section_huge(args)
    if args.grpo_base:
        section_grpo(args)
    print(f"\n(total {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
