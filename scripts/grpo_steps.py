"""Which training instance each step of a GRPO run drew, and how a policy's sampled programs fare
on those instances in the sandbox (as the reward runs them) — the evidence for docs/policy.md's
account of the step-80 cliff of reference/results/training/grpo-main.csv.

`.venv/bin/python scripts/grpo_steps.py [--config reference/results/config/grpo-main.yaml]
    [--log reference/results/training/grpo-main.csv] [--model lsa/data/models/embedded-code]
    [--samples 16] [--instances 2 12 ...]`

Prints, per training instance (sorted by N): N, K, regime, whether its prompt carries the
"links per channel" line, the steps that drew it with their ok share / valid share / R_perf, and
(with --samples > 0) the statuses of that many programs sampled from --model.
"""
from __future__ import annotations

import argparse
import collections
import csv


def step_instances(n_instances: int, steps: int, seed: int, prompts_per_step: int, generations: int) -> list[int]:
    """The instance index of every step's first prompt, from TRL's own sampler as GRPOTrainer builds it."""
    from trl.trainer.utils import RepeatSampler

    sampler = RepeatSampler(list(range(n_instances)), mini_repeat_count=generations, batch_size=prompts_per_step,
                            repeat_count=1, shuffle=True, seed=seed)
    order: list[int] = []
    while len(order) < steps:                 # one permutation per epoch, the generator continuing
        order += list(sampler)[:: generations * prompts_per_step]
    return order[:steps]


def main(argv=None) -> int:
    import numpy as np
    import torch

    from lsa.config import load_yaml
    from lsa.policy.config import policy_config
    from lsa.policy.models import load_policy
    from lsa.policy.rewards import RewardContext
    from lsa.policy.train import prompt_for, training_instances
    from lsa.sim.params import network_config

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="reference/results/config/grpo-main.yaml")
    parser.add_argument("--log", default="reference/results/training/grpo-main.csv")
    parser.add_argument("--model", default="lsa/data/models/embedded-code")
    parser.add_argument("--samples", type=int, default=16, help="programs sampled per instance (0: none)")
    parser.add_argument("--instances", type=int, nargs="*", help="only these training instances")
    args = parser.parse_args(argv)

    raw = load_yaml(args.config)
    cfg = policy_config(raw)
    g = cfg.grpo
    with open(args.log, newline="") as fh:
        rows = list(csv.DictReader(fh))
    order = step_instances(g.n_train_instances, len(rows), g.seed, g.prompts_per_step, g.num_generations)
    nets = training_instances(g.n_train_instances, g.train_n, g.train_k, g.train_regimes, g.seed, network_config(raw))
    policy = load_policy(args.model)
    torch.set_num_threads(1)
    ctx = RewardContext(nets, timeout_s=g.exec_timeout_s, workers=g.exec_workers, reference_methods=g.perf_reference,
                        perf_clip=g.perf_clip) if args.samples else None
    draws = collections.defaultdict(list)
    for row, i in zip(rows, order):
        draws[i].append(f"s{row['step']}:ok{float(row['ok_share']):.2f}/v{float(row['valid_share']):.2f}"
                        f"/p{float(row['r_perf']):+.2f}")
    for i in sorted(args.instances or range(len(nets)), key=lambda i: (nets[i].N, i)):
        net = nets[i]
        prompt = prompt_for(net, g.paradigm, policy.tokenizer, cfg.model)
        line = f"{i:>3} N={net.N} K={net.K} {net.regime:<11} {'line' if 'links per channel' in prompt else '    '} " \
               f"{' '.join(draws[i])}"
        if args.samples:
            enc = policy.tokenizer([prompt] * args.samples, return_tensors="pt", add_special_tokens=False, padding=True)
            torch.manual_seed(i)
            with torch.no_grad():
                out = policy.model.generate(**enc, do_sample=True, temperature=g.temperature, top_k=0, top_p=1.0,
                                            max_new_tokens=g.max_completion_length,
                                            pad_token_id=policy.tokenizer.pad_token_id,
                                            eos_token_id=policy.tokenizer.eos_token_id)
            texts = policy.tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
            outcomes = ctx.outcomes(texts, [i] * len(texts))
            ok = np.mean([o.utility is not None for o in outcomes])
            line += f" | sampled: ok share {ok:.2f} {dict(collections.Counter(o.status for o in outcomes))}"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
