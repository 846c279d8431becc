"""What the shipped code policy writes: sample programs for one instance and count the distinct ones.

The prompt is the one `lsa-code` builds (`code_prompt`, with the budget recorded with the policy),
sampling is `lsa-code`'s (`lsa.policy.inference`, the inference section's temperature and top-p),
and each completion is cut to its program like `solve_code` does. Prints every distinct program
with how often it was drawn, and how many completions held no program.
`python scripts/policy_samples.py [--model DIR] [--n 2000] [--samples 48] [--seed 0]`
"""
from __future__ import annotations

import argparse
import os
from collections import Counter

import numpy as np


def main(argv=None) -> int:
    from lsa.policy.config import EMBEDDED_POLICY_DIR, InferenceConfig
    from lsa.policy.inference import _generate, _load
    from lsa.policy.prompts import DEFAULT_PROMPT_TOKENS, code_prompt, program_source
    from lsa.sim.generate import generate_ppp

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="policy directory (default: the shipped embedded-code policy)")
    p.add_argument("--n", type=int, default=2000, help="links of the instance")
    p.add_argument("--k", type=int, default=8, help="channels")
    p.add_argument("--regime", default="dense")
    p.add_argument("--samples", type=int, default=48)
    p.add_argument("--batch", type=int, default=8, help="completions per generate() call")
    p.add_argument("--seed", type=int, default=0, help="instance seed and sampling seed")
    args = p.parse_args(argv)

    policy, _, _ = _load(args.model, EMBEDDED_POLICY_DIR)
    cfg = InferenceConfig()
    net = generate_ppp(args.n, args.k, args.regime, args.seed)
    prompt = code_prompt(net, tokenizer=policy.tokenizer, max_tokens=policy.prompt_max_tokens or DEFAULT_PROMPT_TOKENS,
                         api_doc=policy.api_doc)
    rng = np.random.default_rng(args.seed)
    completions: list[str] = []
    while len(completions) < args.samples:
        batch = min(args.batch, args.samples - len(completions))
        completions += _generate(policy, prompt, batch, cfg.max_new_tokens, cfg, 600.0, rng)
    programs = [program_source(c) for c in completions]
    counts = Counter(s for s in programs if s is not None)
    print(f"policy {os.path.relpath(policy.source)}; instance {args.regime} N = {args.n}, K = {args.k}, seed {args.seed}; "
          f"{args.samples} samples at temperature {cfg.temperature:g}, top-p {cfg.top_p:g}")
    print(f"{sum(s is None for s in programs)} of {args.samples} completions held no program; "
          f"{len(counts)} distinct programs")
    for rank, (source, count) in enumerate(counts.most_common(), 1):
        print(f"\n--- program {rank}: drawn {count} of {args.samples} times")
        print(source.rstrip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
