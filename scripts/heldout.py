"""Held-out evaluation of code policies: mean R_struct / R_perf / valid share of sampled programs.

Instances differ from training: other seeds, larger N, and a density outside the training regimes.
Policies are compared on the same instances (paired), with 95 % t-intervals over instances.
`python scripts/heldout.py --model BASE --model TRAINED [--json]`
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from lsa.workflow.stats import t_interval

#: held-out sets: name → (sizes, K, regimes, extra densities per km² for unseen regimes)
HELDOUT_SETS = {
    "same-dist-new-seeds": dict(sizes=[20, 30, 50], K=[3, 4, 6], regimes=["sparse", "dense", "ultra-dense"]),
    "larger-N": dict(sizes=[100, 200], K=[4, 8], regimes=["sparse", "dense", "ultra-dense"]),
    "other-density": dict(sizes=[30, 100], K=[4], regimes=["medium-300", "hyper-30000"]),
}
HELDOUT_SEED = 10_000


def heldout_instances(name: str, n: int, seed: int = HELDOUT_SEED) -> list:
    from lsa.sim.generate import generate_ppp
    from lsa.sim.params import NetworkConfig

    spec = HELDOUT_SETS[name]
    params = NetworkConfig()
    density = dict(params.density_links_per_km2)
    density.update({"medium-300": 300.0, "hyper-30000": 30000.0})
    params = NetworkConfig(density_links_per_km2=density)
    rng = np.random.default_rng(seed + sum(map(ord, name)))
    return [generate_ppp(int(rng.choice(spec["sizes"])), int(rng.choice(spec["K"])), str(rng.choice(spec["regimes"])),
                         seed=seed + 7 * i + len(name), params=params) for i in range(n)]


def evaluate_policy(model_path: str, nets, samples: int = 8, max_new_tokens: int = 224,
                    prompt_max_tokens: int = 256, timeout_s: float = 5.0, seed: int = 0,
                    temperature: float = 0.7) -> dict:
    """Per-instance mean reward components of `samples` programs sampled at `temperature`
    (default 0.7, the rollout / inference temperature of the profiles)."""
    import torch

    from lsa.policy.config import InferenceConfig
    from lsa.policy.inference import _generate
    from lsa.policy.models import load_policy
    from lsa.policy.prompts import code_prompt
    from lsa.policy.rewards import RewardContext

    policy = load_policy(model_path)
    ctx = RewardContext(nets, timeout_s=timeout_s, workers=2)
    rng = np.random.default_rng(seed)
    cfg = InferenceConfig(temperature=temperature)
    per_inst = {"r_struct": [], "r_perf": [], "r_depth": [], "valid": [], "best_perf": []}
    t0 = time.perf_counter()
    for idx, net in enumerate(nets):
        prompt = code_prompt(net, tokenizer=policy.tokenizer, max_tokens=prompt_max_tokens)
        with torch.no_grad():
            completions = _generate(policy, prompt, samples, max_new_tokens, cfg, 600.0, rng)
        out = ctx.outcomes(completions, [idx] * samples)
        perf = [ctx.perf(o, idx) for o in out]
        per_inst["r_struct"].append(np.mean([o.struct for o in out]))
        per_inst["r_perf"].append(np.mean(perf))
        per_inst["r_depth"].append(np.mean([ctx.depth(o) for o in out]))
        per_inst["valid"].append(np.mean([o.valid for o in out]))
        per_inst["best_perf"].append(np.max(perf))
    return {"model": model_path, "per_instance": per_inst, "seconds": round(time.perf_counter() - t0, 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="model dir (repeat: first is the baseline)")
    parser.add_argument("--sets", nargs="*", default=list(HELDOUT_SETS))
    parser.add_argument("--instances", type=int, default=20)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--prompt-max-tokens", type=int, default=256)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--output", default=None, help="write the summary JSON here")
    args = parser.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    summary = {}
    for name in args.sets:
        nets = heldout_instances(name, args.instances)
        results = [evaluate_policy(m, nets, args.samples, prompt_max_tokens=args.prompt_max_tokens,
                                   temperature=args.temperature) for m in args.model]
        block = {}
        for res in results:
            block[res["model"]] = {k: t_interval(v) for k, v in res["per_instance"].items()}
        if len(results) > 1:
            base = results[0]["per_instance"]["r_perf"]
            for res in results[1:]:
                diff = np.asarray(res["per_instance"]["r_perf"]) - np.asarray(base)
                block[f"delta_r_perf[{res['model']} - {results[0]['model']}]"] = t_interval(diff)
        summary[name] = block
        print(name, json.dumps(block, indent=1), flush=True)
    if args.output:
        from pathlib import Path
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
