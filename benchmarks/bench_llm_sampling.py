"""Sampling speed of a real chat model on this machine (the cold-start stage's cost model).
Prints, for the code prompt of one instance: prompt tokens, the prefill time, and decoding
throughput (sampled tokens/s over the whole batch) at several batch sizes, each with a fixed
number of new tokens; plus the ratio of `generate()` on a batch of repeated prompts (prefill per
row) to lsa.policy.sampling (prefill once) at one batch size. Asserts nothing.

  .venv/bin/python benchmarks/bench_llm_sampling.py [--model smollm2-135m] [--batches 1 16 32 64]
      [--new-tokens 32] [--n 200] [--api-doc compact] [--threads 1]
"""
from __future__ import annotations

import argparse
import os
import time

from lsa.policy.models import load_policy
from lsa.policy.prompts import code_prompt
from lsa.policy.sampling import sample
from lsa.sim import generate_ppp


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 16, 32, 64])
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--api-doc", default="compact", choices=["compact", "full", "none"])
    ap.add_argument("--prompt-tokens", type=int, default=1200)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--compare-batch", type=int, default=4, help="batch of the prefill-per-row comparison (0: skip)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    print(f"load: {os.getloadavg()}  torch threads: {args.threads}")
    policy = load_policy(args.model, device="auto")
    api_doc = {"compact": "compact", "full": True, "none": False}[args.api_doc]
    prompt = code_prompt(generate_ppp(args.n, 8, "dense", 0), policy.tokenizer, args.prompt_tokens, api_doc=api_doc)
    for b in args.batches:
        s = sample(policy, prompt, b, args.new_tokens, batch_size=b, seed=1, min_new_tokens=args.new_tokens)
        print(f"batch {b:3d}: prompt {s.prompt_tokens} tokens, prefill {s.prefill_s:6.2f} s, "
              f"{sum(s.new_tokens)} tokens in {s.sample_s:6.2f} s = {s.tokens_per_s:7.1f} tokens/s "
              f"({s.steps / s.sample_s:5.2f} steps/s)")
    b = args.compare_batch
    if b:
        t0 = time.perf_counter()
        shared = sample(policy, prompt, b, args.new_tokens, batch_size=b, seed=1, min_new_tokens=args.new_tokens)
        t_shared = time.perf_counter() - t0
        tok = policy.tokenizer
        enc = tok([prompt] * b, return_tensors="pt", add_special_tokens=False).to(policy.model.device)
        t0 = time.perf_counter()
        with torch.no_grad():
            policy.model.generate(**enc, do_sample=True, top_k=0, max_new_tokens=args.new_tokens,
                                  min_new_tokens=args.new_tokens, pad_token_id=tok.pad_token_id)
        t_plain = time.perf_counter() - t0
        print(f"batch {b}, {args.new_tokens} new tokens each: generate() on repeated prompts {t_plain:.2f} s, "
              f"shared prefill {t_shared:.2f} s (prefill {shared.prefill_s:.2f} s): ratio {t_plain / t_shared:.2f}")
    print(f"load: {os.getloadavg()}")


if __name__ == "__main__":
    main()
