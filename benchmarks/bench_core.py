"""Core speed benchmark (issue 2): prints figures, asserts nothing.

  .venv/bin/python benchmarks/bench_core.py [--quick]

1. utility of one assignment at N = 100,000 (dense), vs a dense-matrix-free reference loop over rows
2. greedy at N = 10,000 dense
3. every classical method's runtime against its budget at N = 2000 and N = 10,000 (2 s)
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from lsa.methods import all_methods
from lsa.methods.protocol import GRACE_FRACTION, run_method
from lsa.sim.generate import generate_ppp
from lsa.sim.utility import sum_rate

#: every method but the learned ones (they have their own benchmarks)
CLASSICAL = [m for m, spec in all_methods().items() if not spec.accepts_model]


def timed(fn, repeat=5):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="skip N=100,000 and N=10,000 method sweep")
    ap.add_argument("--budget", type=float, default=2.0)
    args = ap.parse_args()

    if not args.quick:
        t0 = time.perf_counter()
        big = generate_ppp(100_000, 8, "dense", 0)
        print(f"[generate] N=100,000 dense K=8: M={big.M:,} stored cross pairs, {time.perf_counter() - t0:.1f} s")
        a = np.random.default_rng(0).integers(0, 8, big.N)
        sum_rate(big, a)  # warm caches
        t, u = timed(lambda: sum_rate(big, a))
        # baseline: the same utility through a scipy sparse mat-vec per channel (a common implementation)
        W = big.interference_matrix

        def per_channel():
            total = 0.0
            for k in range(big.K):
                on = (a == k).astype(float)
                interf = W @ on
                s = big.signal_w[:, k]
                total += float((np.log2(1 + s / (big.noise_w + interf)) * on).sum())
            return total

        t_ref, u_ref = timed(per_channel, repeat=3)
        print(f"[utility] N=100,000: {t * 1e3:.1f} ms per evaluation (sparse mat-vec per channel: {t_ref * 1e3:.1f} ms,"
              f" ratio {t_ref / t:.2f}x; same value: {np.isclose(u, u_ref)})")
        del big, W

    net10k = generate_ppp(10_000, 8, "dense", 0)
    row, _ = run_method(net10k, "greedy", 10.0, seed=0)
    row_r, _ = run_method(net10k, "random", 0.05, seed=0)
    print(f"[greedy] N=10,000 dense K=8: {row['runtime_s']:.3f} s, utility {row['utility']:.1f} "
          f"(random best-of-0.05s: {row_r['utility']:.1f}, ratio {row['utility'] / row_r['utility']:.2f}x)")

    sizes = [2000] if args.quick else [2000, 10_000]
    print(f"\n[budget] every method at budget {args.budget} s (limit = budget x {1 + GRACE_FRACTION:.2f})")
    print(f"{'N':>6} {'method':<17} {'runtime_s':>9} {'ratio':>6} {'utility':>10} {'within':>6}  note")
    for n in sizes:
        net = net10k if n == 10_000 else generate_ppp(n, 8, "dense", 0)
        for method in CLASSICAL:
            row, _ = run_method(net, method, args.budget, seed=0)
            ratio = row["runtime_s"] / args.budget
            note = "refused: " + row["refused"][:60] if row["refused"] else ""
            print(f"{n:>6} {method:<17} {row['runtime_s']:>9.3f} {ratio:>6.2f} {row['utility']:>10.1f} "
                  f"{str(ratio <= 1 + GRACE_FRACTION):>6}  {note}")


if __name__ == "__main__":
    main()
