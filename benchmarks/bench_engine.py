"""Move-engine benchmark (issue 10): prints figures measured side by side in one run, asserts nothing.

  .venv/bin/python benchmarks/bench_engine.py [--quick] [--seeds 3] [--budget 2] [--old-long 0]

1. engine speed at N = 2000, ultra-dense, K = 8: exact gains of one link; a full first-improvement
   sweep over all links against the pre-engine vectorised `move_gains` round (code of commit c59f978,
   extracted with `git archive` and imported as the package `lsa_base`; interleaved, best of repeats)
2. quality at N = 2000, K = 8, every density, `--seeds` instances, `--budget` s: greedy /
   local-search / ils now against greedy / local-search at c59f978 (and, with --old-long S, the old
   local-search with S seconds on the ultra-dense instances: the issue's 60-s reference)
3. N = 10,000 dense (T = 5 s) and, unless --quick, N = 100,000 dense (T = 10 s): each method in its
   own process: runtime, overrun flag, utility and peak resident memory
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lsa.engine.state import MoveState, greedy_assign, independent_movers
from lsa.engine.warm import warmup
from lsa.methods.protocol import run_method
from lsa.sim.formats import save_npz
from lsa.sim.generate import generate_ppp
from lsa.sim.utility import sum_rate

BASE_COMMIT = "c59f978"
REPO = Path(__file__).resolve().parents[1]


def extract_base(where: Path) -> Path:
    """The package `lsa` of BASE_COMMIT extracted into `where` (git archive); returns `where`."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", BASE_COMMIT, "lsa"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive.stdout, check=True)
    return where


def load_base(where: Path):
    """`extract_base(where)`, then its `baselines.common` module imported under the package name
    `lsa_base` (for the timing)."""
    extract_base(where)
    spec = importlib.util.spec_from_file_location("lsa_base", where / "lsa" / "__init__.py",
                                                  submodule_search_locations=[str(where / "lsa")])
    module = importlib.util.module_from_spec(spec)
    sys.modules["lsa_base"] = module
    spec.loader.exec_module(module)
    return importlib.import_module("lsa_base.baselines.common")


#: the old methods run in a process of their own with the old package first on the path
OLD = """
import json, sys
sys.path.insert(0, sys.argv[1])
from lsa.network import load_npz
from lsa.protocol import run_method
net = load_npz(sys.argv[2])
print(json.dumps([run_method(net, m, float(b), 0)[0]["utility"] for m, b in json.loads(sys.argv[3])]))
"""


def run_old(tree: Path, path: Path, runs: list) -> list:
    out = subprocess.run([sys.executable, "-c", OLD, str(tree), str(path), json.dumps(runs)], capture_output=True,
                         text=True, check=True, cwd=tree)
    return json.loads(out.stdout.strip().splitlines()[-1])


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def engine_speed(old_move_gains, repeat: int = 15) -> None:
    net = generate_ppp(2000, 8, "ultra-dense", 0)
    a = greedy_assign(net)
    state = MoveState(net, a)
    links = np.random.default_rng(0).integers(0, net.N, 20_000)
    t0 = time.perf_counter()
    for i in links:
        state.gains(i)
    per_call = (time.perf_counter() - t0) / len(links)
    per_link = best_of(state.all_gains, repeat) / net.N
    print(f"[gains] N=2000 ultra-dense K=8 (M={net.M:,}): one link's exact gains {per_call * 1e6:.2f} us per "
          f"Python call, {per_link * 1e6:.2f} us inside a kernel (target <= 20 us)")

    def old_round():                   # the body of one round of local-search at c59f978
        gains = old_move_gains(net, a)
        best_k = np.argmax(gains, axis=1)
        best_gain = gains[np.arange(net.N), best_k]
        independent_movers(net, np.where(best_gain > 1e-12, best_gain, -np.inf))
        sum_rate(net, a)

    local_opt = MoveState(net, a)
    local_opt.descend()
    first = MoveState(net, a)
    t_sweep_first = best_of(lambda: first.copy().sweep(), repeat)
    times = {"old move_gains": [], "old LS round": [], "sweep (local optimum)": []}
    for _ in range(repeat):            # interleaved, so that machine load hits all alike
        times["old move_gains"].append(best_of(lambda: old_move_gains(net, a), 1))
        times["old LS round"].append(best_of(old_round, 1))
        times["sweep (local optimum)"].append(best_of(local_opt.sweep, 1))
    t = {k: min(v) for k, v in times.items()}
    print(f"[sweep] full first-improvement sweep over all {net.N} links: {t['sweep (local optimum)'] * 1e3:.2f} ms at a "
          f"local optimum (every link evaluated), {t_sweep_first * 1e3:.2f} ms from greedy (with its moves)")
    for name in ("old move_gains", "old LS round"):
        print(f"[sweep] {name} ({BASE_COMMIT}): {t[name] * 1e3:.2f} ms -> sweep is "
              f"{t[name] / t['sweep (local optimum)']:.1f}x faster at a local optimum, "
              f"{t[name] / t_sweep_first:.1f}x from greedy (target >= 20x)")


def quality(budget_s: float, seeds: int, old_long_s: float, tmp: Path) -> None:
    print(f"\n[quality] N=2000, K=8, budget {budget_s} s, {seeds} instances per density; before = {BASE_COMMIT}")
    methods_now, methods_old = ("greedy", "local-search", "ils"), ("greedy", "local-search")
    print(f"{'regime':<12} {'seed':>4} " + " ".join(f"{'old ' + m:>16}" for m in methods_old)
          + " ".join(f"{m:>14}" for m in methods_now) + (f" {'old LS ' + str(int(old_long_s)) + ' s':>14}" if old_long_s else ""))
    for regime in ("sparse", "dense", "ultra-dense"):
        rows = []
        for seed in range(seeds):
            net = generate_ppp(2000, 8, regime, 1000 + seed)
            path = save_npz(net, tmp / f"{regime}-{seed}.npz")
            old = run_old(tmp, path, [(m, budget_s) for m in methods_old])
            now = [run_method(net, m, budget_s, 0)[0]["utility"] for m in methods_now]
            long = run_old(tmp, path, [("local-search", old_long_s)]) if old_long_s and regime == "ultra-dense" else []
            rows.append(old + now + long)
            print(f"{regime:<12} {seed:>4} " + " ".join(f"{u:>16.1f}" for u in old) + " ".join(f"{u:>14.1f}" for u in now)
                  + "".join(f" {u:>14.1f}" for u in long))
        mean = np.mean(rows, axis=0)
        ratio = mean[3] / mean[1]
        print(f"{regime:<12} mean " + " ".join(f"{u:>16.1f}" for u in mean[:2]) + " ".join(f"{u:>14.1f}" for u in mean[2:5])
              + "".join(f" {u:>14.1f}" for u in mean[5:]) + f"   local-search now/old {ratio:.3f}, ils/old LS "
              f"{mean[4] / mean[1]:.3f}" + (f", best now / old LS {int(old_long_s)} s {max(mean[3], mean[4]) / mean[5]:.3f}"
                                             if len(mean) > 5 else ""))


# peak memory is the high-water mark of the child's own address space (VmHWM): ru_maxrss would
# report the parent's peak, which a forked child inherits up to its exec
CHILD = """
import json, re, sys, time
from lsa.methods.protocol import run_method
from lsa.sim.formats import load_npz
t0 = time.perf_counter(); net = load_npz(sys.argv[1]); load_s = time.perf_counter() - t0
row, _ = run_method(net, sys.argv[2], float(sys.argv[3]), 0)
hwm_kib = int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1))
print(json.dumps({"load_s": load_s, "utility": row["utility"], "runtime_s": row["runtime_s"], "overrun": row["overrun"],
                  "setup_s": row["setup_s"], "fallback": row["fallback_random"], "peak_gib": hwm_kib / 2**20}))
"""


def large(n_links: int, budget_s: float, tmp: Path) -> None:
    t0 = time.perf_counter()
    path = save_npz(generate_ppp(n_links, 8, "dense", 0), tmp / f"dense-{n_links}.npz")
    print(f"\n[large] N={n_links:,} dense K=8, budget {budget_s} s (instance generated in {time.perf_counter() - t0:.0f} s);"
          " one process per method")
    for method in ("greedy", "local-search", "ils"):
        out = subprocess.run([sys.executable, "-c", CHILD, str(path), method, str(budget_s)], capture_output=True,
                             text=True, cwd=REPO)
        if out.returncode:
            print(f"  {method:<13} failed: {out.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"  {method:<13} utility {r['utility']:>12.1f}  runtime {r['runtime_s']:6.2f} s  overrun {r['overrun']!s:<5} "
              f"random fallback {r['fallback']!s:<5} compile {r['setup_s']:.2f} s  load {r['load_s']:.2f} s  "
              f"peak RSS {r['peak_gib']:.2f} GiB")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="skip N=100,000")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--budget", type=float, default=2.0)
    ap.add_argument("--old-long", type=float, default=0.0, help="also run the old local-search this long (s)")
    args = ap.parse_args()
    print(f"[warmup] engine kernels compiled/loaded in {warmup():.2f} s (set-up, outside every budget)")
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
        tmp = Path(tmp)
        engine_speed(load_base(tmp).move_gains)
        quality(args.budget, args.seeds, args.old_long, tmp)
        large(10_000, 5.0, tmp)
        if not args.quick:
            large(100_000, 10.0, tmp)


if __name__ == "__main__":
    main()
