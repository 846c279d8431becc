"""Benchmark of the prompt side of the policy: prompt length vs N (hierarchical and naive) and
serialization time at N = 100,000. (Sandbox latency and throughput: bench_sandbox.py.)

    python benchmarks/bench_policy_infra.py            # full (about 3 minutes, mostly instance generation)
    python benchmarks/bench_policy_infra.py --quick    # N = 100,000 replaced by 20,000
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

from lsa.policy.serializer import serialize, serialize_naive
from lsa.sim.generate import generate_ppp

TRIVIAL = "def assign(net, rng):\n    return np.zeros(net.N, dtype=np.int64)\n"
SMALL = ("def assign(net, rng):\n"
         "    a = net.random_assignment(rng)\n"
         "    return net.best_response(a, rounds=1)\n")


def prompt_lengths(sizes, naive_max_n, K, max_tokens):
    print(f"\n## prompt tokens vs N (regex counter, K={K}, budget {max_tokens}; naive only up to N={naive_max_n})")
    print(f"{'regime':<12}{'N':>8}{'M':>11}{'hier tokens':>13}{'hier s':>8}{'naive tokens':>14}{'naive s':>9}")
    big = None
    for regime in ("sparse", "dense", "ultra-dense"):
        for n in sizes:
            if n > 20_000 and regime != "dense":
                continue                      # one very large instance is enough (generation ~90 s)
            net = generate_ppp(n, K, regime, seed=0)
            t = time.perf_counter()
            state = serialize(net, max_tokens)
            hier_s = time.perf_counter() - t
            assert state.tokens <= max_tokens
            naive_tokens, naive_s = "-", "-"
            if n <= naive_max_n:
                t = time.perf_counter()
                naive_tokens = f"{serialize_naive(net).tokens:,}"
                naive_s = f"{time.perf_counter() - t:.2f}"
            print(f"{regime:<12}{n:>8}{net.M:>11,}{state.tokens:>13}{hier_s:>8.3f}{naive_tokens:>14}{naive_s:>9}", flush=True)
            if n == max(sizes) and regime == "dense":
                big = net
    return big


def serialization_time(net, max_tokens, repeats=3):
    print(f"\n## serialization time at N={net.N:,} (M={net.M:,}), budget {max_tokens}")
    fresh = dataclasses.replace(net)          # same arrays, none of the lazily cached indexes
    t = time.perf_counter()
    state = serialize(fresh, max_tokens)
    cold = time.perf_counter() - t
    warm = []
    for _ in range(repeats):
        t = time.perf_counter()
        serialize(fresh, max_tokens)
        warm.append(time.perf_counter() - t)
    print(f"cold (first call, builds the instance's cached indexes): {cold:.3f} s; "
          f"warm median of {repeats}: {statistics.median(warm):.3f} s; tokens {state.tokens}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="largest N = 20,000 instead of 100,000")
    parser.add_argument("--max-tokens", type=int, default=1024)
    args = parser.parse_args()
    sizes = [100, 300, 1000, 3000, 10_000, 20_000 if args.quick else 100_000]
    big = prompt_lengths(sizes, naive_max_n=10_000, K=8, max_tokens=args.max_tokens)
    serialization_time(big, args.max_tokens)


if __name__ == "__main__":
    main()
