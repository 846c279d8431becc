"""RL baselines benchmark (issue 11): prints figures, asserts nothing. Everything in one run:

  .venv/bin/python benchmarks/bench_rl.py [--config config/default.yaml] [--skip-training] [--seeds 0 1]

1. training time of DQN and PPO with the profile's rl: section (wall and CPU seconds; target <= 3 min each)
2. N = 2000, K = 8, T = 2 s, every density: dqn and ppo against random, greedy and local-search
   (and lsa-code with --lsa-code), the same instances and seeds, one method after the other
3. one deterministic rollout at N = 10,000 (K = 8) per density: context build + rollout (target <= 1 s)
Without --skip-training the models trained in step 1 are the ones evaluated; with it, the shipped defaults.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from lsa.config import load_yaml
from lsa.methods.protocol import run_method
from lsa.rl.config import ALGORITHMS, rl_config, shipped_model
from lsa.rl.features import EpisodeContext
from lsa.rl.methods import load_cached, rollout
from lsa.rl.train import train_agent
from lsa.sim.generate import generate_ppp
from lsa.sim.params import network_config

REGIMES = ("sparse", "dense", "ultra-dense")


def train_both(config: Path, out: Path) -> dict[str, Path]:
    raw = load_yaml(config)
    cfg, network = rl_config(raw), network_config(raw)
    models = {}
    for algorithm in ALGORITHMS:
        wall, cpu = time.perf_counter(), time.process_time()
        info = train_agent(algorithm, cfg, out / f"{algorithm}.zip", out / f"{algorithm}.csv", network=network)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"[train] {algorithm}: {info['timesteps']:,} steps, {info['episodes']} episodes, wall {wall:.1f} s "
              f"(CPU {cpu:.1f} s; target <= 180 s), last-decile return / greedy {info['last_decile_reward_vs_greedy']}",
              flush=True)
        models[algorithm] = out / f"{algorithm}.zip"
    return models


def compare(models: dict[str, Path], n_links: int, budget_s: float, seeds: list[int], lsa_code: bool) -> pd.DataFrame:
    methods = ["random", "greedy", "local-search", *ALGORITHMS] + (["lsa-code"] if lsa_code else [])
    rows = []
    for regime in REGIMES:
        for seed in seeds:
            net = generate_ppp(n_links, 8, regime, seed)
            for method in methods:
                params = {"model": str(models[method])} if method in models else {}
                row, _ = run_method(net, method, budget_s, seed=seed, params=params)
                rows.append({"regime": regime, "seed": seed, "method": method, "utility": row["utility"],
                             "runtime_s": row["runtime_s"], "overrun": row["overrun"],
                             "rollouts": row.get("rollouts"), "first_incumbent_s": row["first_incumbent_s"]})
    return pd.DataFrame(rows)


def report(results: pd.DataFrame, n_links: int, budget_s: float) -> None:
    mean = results.groupby(["regime", "method"])["utility"].mean().unstack()
    print(f"\n[quality] N = {n_links}, K = 8, T = {budget_s:g} s, mean utility [bit/s/Hz] over seeds "
          f"{sorted(int(s) for s in results['seed'].unique())}:")
    print(mean.round(1).reindex(REGIMES).to_string())
    for algorithm in ALGORITHMS:
        ratio = {ref: (mean[algorithm] / mean[ref]).reindex(REGIMES) for ref in ("random", "greedy", "local-search")}
        for regime in REGIMES:
            print(f"[ratio] {algorithm} {regime:>11}: x{ratio['random'][regime]:.2f} of random, "
                  f"{ratio['greedy'][regime]:.3f} of greedy, {ratio['local-search'][regime]:.3f} of local-search"
                  + (f", {mean[algorithm][regime] / mean['lsa-code'][regime]:.3f} of lsa-code"
                     if "lsa-code" in mean else ""))
    sub = results[results["method"].isin(ALGORITHMS)]
    print(f"[anytime] rollouts per run: {sub.groupby('method')['rollouts'].mean().round(1).to_dict()}, "
          f"first incumbent at {sub.groupby('method')['first_incumbent_s'].max().round(3).to_dict()} s (max), "
          f"overruns: {int(results['overrun'].sum())}")


def rollout_speed(models: dict[str, Path], n_links: int) -> None:
    import torch

    torch.set_num_threads(1)
    for regime in REGIMES:
        for algorithm in ALGORITHMS:
            net = generate_ppp(n_links, 8, regime, 0)         # fresh: no cached orders or adjacency
            agent = load_cached(algorithm, models[algorithm])
            best, cold = np.inf, None
            for _ in range(3):
                t0 = time.perf_counter()
                ctx = EpisodeContext.build(net)
                waves = len(ctx.batches)
                t1 = time.perf_counter()
                _, utility, _ = rollout(ctx, agent)
                t2 = time.perf_counter()
                cold = t2 - t0 if cold is None else cold
                if t2 - t0 < best:
                    best, build_s, roll_s = t2 - t0, t1 - t0, t2 - t1
            print(f"[rollout] N = {n_links:,} {regime:>11} {algorithm}: {best:.3f} s best of 3 (context {build_s:.3f} s"
                  f" + rollout {roll_s:.3f} s, {waves} waves), first call {cold:.3f} s; target <= 1 s; "
                  f"utility {utility:.1f}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", type=Path, default=Path("config/default.yaml"))
    ap.add_argument("--skip-training", action="store_true", help="evaluate the shipped default models")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--budget", type=float, default=2.0)
    ap.add_argument("--rollout-n", type=int, default=10_000)
    ap.add_argument("--lsa-code", action="store_true", help="also run lsa-code (the shipped policy) side by side")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        models = ({a: shipped_model(a) for a in ALGORITHMS} if args.skip_training
                  else train_both(args.config, Path(tmp)))
        results = compare(models, args.n, args.budget, args.seeds, args.lsa_code)
        report(results, args.n, args.budget)
        rollout_speed(models, args.rollout_n)


if __name__ == "__main__":
    main()
