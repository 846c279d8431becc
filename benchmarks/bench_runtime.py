"""The torch-only inference runtime (lsa/policy/runtime.py) against transformers, same run, same
machine: what a fresh process pays to load the shipped code policy, how fast each samples, how far
their logits are apart, and what `lsa-code` reaches with each on the same held-out instances.
Prints figures; asserts nothing (tests/test_runtime.py checks correctness). Wall-clock figures
depend on the load, printed beside each section; the two runtimes alternate so load hits both.

    .venv/bin/python benchmarks/bench_runtime.py [--repeats 3] [--seeds 3] [--budget 2]

1. fresh process: import + load + one warm-up sample of the shipped policy (s, median of --repeats)
2. sampling: 4 completions x 224 new tokens of one N = 2000 prompt, one thread (tokens/s, median)
3. logits: largest difference on that prompt (and the largest logit, for scale)
4. lsa-code, N = 2000, K = 8, every density, held-out seeds 10000.., T = --budget s, warm process:
   utility with the runtime / with transformers per instance, programs tried, generation time
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np

HELDOUT_SEED = 10_000       # scripts/heldout.py: above the evaluation grids' seeds, below training's
DENSITIES = ("sparse", "dense", "ultra-dense")

LOAD = r"""
import sys, time
t0 = time.perf_counter()
from lsa.policy.models import load_inference_policy
from lsa.policy.sampling import PromptSampler
policy = load_inference_policy(None, runtime=sys.argv[1])
PromptSampler(policy, "channel " * 64).sample(4, 8, 0.7, 1.0, 30.0, 0)
print(f"{time.perf_counter() - t0:.3f} {'transformers' in sys.modules}")
"""


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def fresh_load(repeats: int) -> None:
    print(f"\n[1] fresh process: import, load and a first sample of the shipped code policy; {uptime()}")
    times: dict[str, list[float]] = {"auto": [], "transformers": []}
    imported = {}
    for _ in range(repeats):
        for runtime in times:
            out = subprocess.run([sys.executable, "-c", LOAD, runtime], capture_output=True, text=True, check=True)
            seconds, has_transformers = out.stdout.split()
            times[runtime].append(float(seconds))
            imported[runtime] = has_transformers
    for runtime, values in times.items():
        print(f"  {runtime:<13} {statistics.median(values):.2f} s (runs {', '.join(f'{v:.2f}' for v in values)}); "
              f"transformers imported: {imported[runtime]}")
    ratio = statistics.median(times["transformers"]) / statistics.median(times["auto"])
    print(f"  transformers / runtime: {ratio:.2f} x")


def sampling(repeats: int, prompt: str, policies: dict) -> None:
    import torch

    from lsa.policy.sampling import PromptSampler

    torch.set_num_threads(1)
    print(f"\n[2] sampling 4 x 224 new tokens of one N = 2000 prompt, one thread; {uptime()}")
    rates: dict[str, list[float]] = {name: [] for name in policies}
    for rep in range(repeats):
        for name, policy in policies.items():
            sampler = PromptSampler(policy, prompt)
            t0 = time.perf_counter()
            texts = sampler.sample(4, 224, 0.7, 1.0, 120.0, rep)
            took = time.perf_counter() - t0
            tokens = sum(len(policy.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)
            rates[name].append(tokens / took)
    for name, values in rates.items():
        print(f"  {name:<13} {statistics.median(values):7.0f} tokens/s (runs {', '.join(f'{v:.0f}' for v in values)})")
    print(f"  runtime / transformers: {statistics.median(rates['auto']) / statistics.median(rates['transformers']):.2f} x")


def logits(prompt: str, policies: dict) -> None:
    import torch

    hf, rt = policies["transformers"], policies["auto"]
    ids = hf.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        reference = hf.model(input_ids=ids).logits[:, -1]
        mine = rt.model.forward(ids, rt.model.new_cache(1, ids.shape[1]), 0)
    print(f"\n[3] logits of the last position of a {ids.shape[1]}-token prompt: largest difference "
          f"{float((reference - mine).abs().max()):.2e} (largest logit {float(reference.abs().max()):.1f}); "
          f"same token ids: {rt.tokenizer.encode(prompt) == ids[0].tolist()}")


def solve_both(seeds: int, budget: float) -> None:
    from lsa.methods.protocol import run_method
    from lsa.sim import generate_ppp

    print(f"\n[4] lsa-code, N = 2000, K = 8, T = {budget} s, held-out seeds {HELDOUT_SEED}..{HELDOUT_SEED + seeds - 1}, "
          f"warm process, the runtimes alternated; {uptime()}")
    for runtime in ("auto", "transformers"):       # load and warm both before timing anything
        run_method(generate_ppp(200, 8, "dense", 1), "lsa-code", 0.3, 0, {"inference": {"runtime": runtime}})
    ratios, rows = [], {"auto": [], "transformers": []}
    for regime in DENSITIES:
        for seed in range(HELDOUT_SEED, HELDOUT_SEED + seeds):
            net = generate_ppp(2000, 8, regime, seed)
            utility = {}
            for runtime in ("auto", "transformers"):
                row, _ = run_method(net, "lsa-code", budget, 0, {"inference": {"runtime": runtime}})
                utility[runtime] = row["utility"]
                rows[runtime].append(row)
            ratios.append(utility["auto"] / utility["transformers"])
            print(f"  {regime:<12} seed {seed}: runtime / transformers {ratios[-1]:.4f}")
    arr = np.array(ratios)
    print(f"  mean {arr.mean():.4f}, min {arr.min():.4f}, max {arr.max():.4f} (n = {len(arr)})")
    for runtime, values in rows.items():
        print(f"  {runtime:<13} programs tried mean {np.mean([r['programs_tried'] for r in values]):.1f}, "
              f"generation {np.mean([r['gen_s'] for r in values]):.3f} s, overruns {sum(r['overrun'] for r in values)}, "
              f"fallbacks {sum(r['fallback_random'] for r in values)}")
    print(f"  {uptime()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=3, help="held-out instances per density in section 4")
    parser.add_argument("--budget", type=float, default=2.0, help="T of section 4 (s)")
    args = parser.parse_args()
    print(f"bench_runtime: {time.strftime('%Y-%m-%d %H:%M:%S')}, {os.cpu_count()} CPUs; load at start: {uptime()}")
    fresh_load(args.repeats)

    from lsa.policy.models import load_inference_policy
    from lsa.policy.prompts import code_prompt
    from lsa.sim import generate_ppp

    policies = {"auto": load_inference_policy(None), "transformers": load_inference_policy(None, runtime="transformers")}
    prompt = code_prompt(generate_ppp(2000, 8, "dense", HELDOUT_SEED), tokenizer=policies["auto"].tokenizer,
                         max_tokens=policies["auto"].prompt_max_tokens)
    sampling(args.repeats, prompt, policies)
    logits(prompt, policies)
    solve_both(args.seeds, args.budget)


if __name__ == "__main__":
    main()
