"""float32 against bfloat16 for the real chat model on this CPU (the LoRA-GRPO stage's cost): one
forward + backward of a GRPO-sized batch (4 x 704 tokens: a 576-token prompt and 128 completion
tokens) and one sampled continuation of 4 x 32 tokens after a 576-token prompt, the two dtypes
alternated in one run. Prints figures; asserts nothing. bfloat16 matmuls are fast only where the CPU
has them (avx512_bf16 / AMX: printed); the stage itself trains in float32 on a CPU
(config/default.yaml lora_grpo.model.dtype).

    .venv/bin/python benchmarks/bench_lora_dtype.py [--repeats 2] [--threads 2]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import time


def cpu_flags() -> str:
    try:
        flags = open("/proc/cpuinfo").read().split()
    except OSError:
        return "unknown"
    return ", ".join(f for f in ("avx512_bf16", "amx_bf16", "avx512f", "avx2") if f in flags) or "none of avx2/avx512"


def main() -> None:
    import torch

    from lsa.policy.models import load_policy

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"bench_lora_dtype: {time.strftime('%Y-%m-%d %H:%M:%S')}, smollm2-135m, {args.threads} threads, "
          f"CPU flags: {cpu_flags()}; {uptime}")
    times: dict[str, dict[str, list[float]]] = {d: {"train": [], "sample": []} for d in ("float32", "bfloat16")}
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(100, 20000, (4, 704), generator=generator)
    for _ in range(args.repeats):
        for dtype in times:
            model = load_policy("smollm2-135m", dtype=dtype, device="cpu").model
            model.train()
            t0 = time.perf_counter()
            model(input_ids=ids).logits.float().logsumexp(-1).mean().backward()
            times[dtype]["train"].append(time.perf_counter() - t0)
            model.eval()
            prompt = ids[:, :576]
            with torch.no_grad():
                t0 = time.perf_counter()
                model.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt), do_sample=True,
                               max_new_tokens=32, min_new_tokens=32, pad_token_id=0)
                times[dtype]["sample"].append(time.perf_counter() - t0)
            del model
    for what, label in (("train", "forward + backward, 4 x 704 tokens"), ("sample", "sample 4 x 32 tokens after 576")):
        f32, bf16 = (statistics.median(times[d][what]) for d in ("float32", "bfloat16"))
        print(f"  {label:<36} float32 {f32:6.2f} s  bfloat16 {bf16:6.2f} s  (float32 / bfloat16 {f32 / bf16:.2f} x; "
              f"runs {times['float32'][what]} / {times['bfloat16'][what]})")
    print(f"  {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")


if __name__ == "__main__":
    main()
