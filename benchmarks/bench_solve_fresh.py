"""What a user gets from `lsa solve` in FRESH processes (issue 16's targets), beside the numbers the
workflow measured in warm processes (reference/results/). Every run is its own `lsa solve ... --json`
subprocess; wall time and peak memory (ru_maxrss of that process and its sandbox children, from
wait4) are measured per process. Instances use held-out seeds (10,001...; training instances use
seeds >= 10,000,000, the evaluation grid 0, 1, ...). Prints figures; asserts nothing.

  .venv/bin/python benchmarks/bench_solve_fresh.py [--seeds 3] [--huge /tmp/x100k.npz] [--skip-huge]

1. lsa-code, N = 2000, K = 8, every density, T = 0.5 s and 2 s: random fallbacks, first incumbent,
   utility / greedy (same instance; greedy is deterministic), programs tried, wall time
2. lsa solve wall time at N = 2000, T = 2 s: classical methods (greedy, local-search) and lsa-code
3. several instances in one process (`lsa solve A B C`): wall time against one process per instance
4. N = 100,000 dense, T = 10 s, every method: wall time, overrun, fallback, peak memory
5. where a fresh lsa-code process spends its time outside the budget (one process, timed steps)
The machine's load (`uptime`) is printed at the start and the end of each section.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from lsa.methods import all_methods
from lsa.methods.protocol import run_method
from lsa.sim import generate_ppp, load_npz, save_npz

REPO = Path(__file__).resolve().parent.parent
DENSITIES = ("sparse", "dense", "ultra-dense")
HELDOUT_SEED = 10_001
LSA = [sys.executable, "-m", "lsa.cli"]


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def solve(paths, method: str, budget: float, extra=()) -> tuple[list[dict], float, float, str]:
    """(rows, wall s, peak RSS GiB of the process and its sandbox children, stderr tail) of one
    fresh `lsa solve` process."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([*LSA, "solve", *map(str, paths), "--method", method, "--budget", str(budget),
                                 "--json", *extra], stdout=out, stderr=err, text=True, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        rows = [json.loads(line) for line in out.read().splitlines() if line.startswith("{")]
        tail = err.read().strip().splitlines()
    return rows, wall, usage.ru_maxrss / 2 ** 20, (tail[-1] if tail and not rows else "")


def greedy_utility(net) -> float:
    return float(run_method(net, "greedy", 10.0, seed=0)[0]["utility"])


def workflow_numbers() -> str:
    """The committed workflow's lsa-code figures at N = 2000, T = 0.5 s (warm processes)."""
    llm = pd.read_csv(REPO / "reference/results/llm_evaluation.csv")
    ev = pd.read_csv(REPO / "reference/results/evaluation.csv")
    cell = llm[(llm.method == "lsa-code") & (llm.N == 2000) & (llm.budget_s == 0.5)]
    greedy = ev[(ev.method == "greedy") & (ev.N == 2000) & (ev.budget_s == 0.5)].set_index(["regime", "seed"])["utility"]
    ratio = cell.apply(lambda r: r.utility / greedy.loc[(r.regime, r.seed)], axis=1)
    return (f"workflow (warm, reference/results/llm_evaluation.csv): n = {len(cell)}, fallbacks "
            f"{int(cell.fallback_random.sum())}, first incumbent mean {cell.first_incumbent_s.mean():.3f} s "
            f"max {cell.first_incumbent_s.max():.3f} s, utility / greedy mean {ratio.mean():.3f}, "
            f"programs tried mean {cell.programs_tried.mean():.1f}")


def section_anytime(tmp: Path, seeds: list[int]) -> dict[str, list[Path]]:
    print(f"\n[1] lsa-code in fresh processes, N = 2000, K = 8, held-out seeds {seeds[0]}..{seeds[-1]}; {uptime()}")
    files: dict[str, list[Path]] = {}
    greedy: dict[Path, float] = {}
    for density in DENSITIES:
        for seed in seeds:
            net = generate_ppp(2000, 8, density, seed)
            path = save_npz(net, tmp / f"{density}-{seed}.npz")
            files.setdefault(density, []).append(path)
            greedy[path] = greedy_utility(net)
    rows = []
    # the default allocation (incumbent) at both budgets, and the earlier relay rule at T = 2 s
    # (`--set allocation=relay`): every program once, sampling while time remains
    for budget, rule in ((0.5, "incumbent"), (2.0, "incumbent"), (2.0, "relay")):
        for density in DENSITIES:
            for path in files[density]:
                extra = ("--set", "allocation=relay") if rule == "relay" else ()
                out, wall, rss, err = solve([path], "lsa-code", budget, extra)
                if not out:
                    print(f"  {path.name} T = {budget}: failed: {err}")
                    continue
                r = out[0]
                rows.append({"T": budget, "rule": rule, "density": density, "fallback": bool(r["fallback_random"]),
                             "first_s": r["first_incumbent_s"], "ratio": r["utility"] / greedy[path],
                             "tried": r["programs_tried"], "continued": r.get("programs_continued", 0),
                             "batches": r.get("generate_batches", 0), "seeds_run": r["seeds_run"],
                             "setup_s": r["setup_s"], "runtime_s": r["runtime_s"], "overrun": bool(r["overrun"]),
                             "wall_s": wall, "wall_minus_T": wall - budget})
    df = pd.DataFrame(rows)
    for (budget, rule, density), cell in df.groupby(["T", "rule", "density"], sort=False):
        print(f"  T = {budget:<4} {rule:<9} {density:<12} n = {len(cell)}  fallbacks {int(cell.fallback.sum())}  "
              f"first incumbent max {cell.first_s.max():.3f} s (mean {cell.first_s.mean():.3f})  "
              f"/ greedy min {cell.ratio.min():.3f} mean {cell.ratio.mean():.3f}  programs tried min "
              f"{cell.tried.min()}, continued min {cell.continued.min()}, sampled batches min {cell.batches.min()}  "
              f"overruns {int(cell.overrun.sum())}  wall - T max {cell.wall_minus_T.max():.1f} s "
              f"(set-up mean {cell.setup_s.mean():.1f} s)")
    half = df[df["T"] == 0.5]
    print(f"  fresh (this run), T = 0.5 s: n = {len(half)}, fallbacks {int(half.fallback.sum())}, first incumbent "
          f"mean {half.first_s.mean():.3f} s max {half.first_s.max():.3f} s, utility / greedy mean "
          f"{half.ratio.mean():.3f} (min {half.ratio.min():.3f})")
    print(f"  {workflow_numbers()}")
    relay = df[(df["T"] == 2.0) & (df["rule"] == "relay")]
    runs = df[(df["T"] == 2.0) & (df["rule"] == "incumbent")]
    runs = runs.tried + runs.continued
    print(f"  targets: T = 0.5 s no fallback [{'met' if not half.fallback.any() else 'NOT met'}], first incumbent "
          f"<= 0.3 s [{'met' if half.first_s.max() <= 0.3 else 'NOT met'}], >= 1.0 x greedy "
          f"[{'met' if half.ratio.min() >= 1.0 else 'NOT met'}]; T = 2 s >= 3 programs tried under the relay rule "
          f"[{'met' if relay.tried.min() >= 3 else 'NOT met'}] (the default rule: >= 3 program runs, tried + "
          f"continued [{'met' if runs.min() >= 3 else 'NOT met'}]); lsa-code wall <= T + 6 s "
          f"[{'met' if df.wall_minus_T.max() <= 6 else 'NOT met'}]")
    print(f"  {uptime()}")
    return files


def section_wall(files: dict[str, list[Path]]) -> None:
    print(f"\n[2] lsa solve wall time, N = 2000, T = 2 s, one fresh process per run; {uptime()}")
    for method in ("greedy", "local-search", "lsa-code"):
        walls = []
        for density in DENSITIES:
            out, wall, rss, err = solve([files[density][0]], method, 2.0)
            walls.append(wall - 2.0)
        target = 6.0 if method == "lsa-code" else 1.5
        print(f"  {method:<13} wall - T: {', '.join(f'{w:.1f}' for w in walls)} s  (target <= {target} s: "
              f"{'met' if max(walls) <= target else 'NOT met'})")
    print(f"  {uptime()}")


def section_batch(files: dict[str, list[Path]]) -> None:
    paths = [files[d][0] for d in DENSITIES]
    print(f"\n[3] three instances, lsa-code T = 0.5 s: one process for all vs one process each; {uptime()}")
    rows, wall_one, _, _ = solve(paths, "lsa-code", 0.5)
    walls = [solve([p], "lsa-code", 0.5)[1] for p in paths]
    print(f"  one process: {wall_one:.1f} s for {len(rows)} lines; one process each: {sum(walls):.1f} s in all "
          f"(ratio {sum(walls) / wall_one:.2f}); set-up per instance in the shared process: "
          f"{', '.join('%.2f' % r['setup_s'] for r in rows)} s")


def section_huge(path: Path, methods: list[str]) -> None:
    net = load_npz(path)
    print(f"\n[4] N = {net.N:,} {net.regime}, M = {net.M:,}, T = 10 s, one fresh process per method; {uptime()}")
    del net
    for method in methods:
        out, wall, rss, err = solve([path], method, 10.0)
        if not out:
            print(f"  {method:<17} failed: {err}")
            continue
        r = out[0]
        print(f"  {method:<17} wall {wall:5.1f} s (T + {wall - 10:4.1f}; target <= T + 5: {'met' if wall <= 15 else 'NOT met'})  "
              f"runtime {r['runtime_s']:.2f} s  overrun {r['overrun']}  fallback {r['fallback_random']}  "
              f"refused {bool(r['refused'])}  setup {r['setup_s']:.1f} s  peak {rss:.2f} GiB "
              f"({'<=' if rss <= 4 else '>'} 4 GiB)  utility {r['utility']:.0f}")
    print(f"  {uptime()}")


BREAKDOWN = r"""
import sys, time
t = time.perf_counter(); laps = []
def lap(name):
    global t
    now = time.perf_counter(); laps.append(f"{name} {now - t:.2f}"); t = now
from lsa.methods import get_method; from lsa.methods.protocol import run_method; from lsa.sim import load_npz
lap("import lsa")
get_method("lsa-code"); lap("method registry")
net = load_npz(sys.argv[1]); lap("load_npz")
from lsa.policy import inference as inf
from lsa.policy.config import EMBEDDED_POLICY_DIR
policy, seeds, key = inf._load(None, EMBEDDED_POLICY_DIR); lap("model load (torch-only runtime)")
inf._warm_up(policy, key, inf._inference_config({})); lap("model warm-up")
inf.prepare_sandbox(net); lap("sandbox indexes and kernels")
row, _ = run_method(net, "lsa-code", float(sys.argv[2])); lap(f"run_method (prepare {row['setup_s']:.2f} + budget)")
print("  " + ", ".join(laps) + " s")
"""


TIMELINE = r"""
import os, sys, threading, time
T0 = time.perf_counter(); marks = []
def mark(name): marks.append(f"{name} {time.perf_counter() - T0:.2f}")
from lsa.methods.protocol import check_run, run_method, setup_phase, start_loading
from lsa.sim import load_npz
import lsa.policy.inference as inf
mark("imported")
check_run("lsa-code", float(sys.argv[2]), "--budget")
with setup_phase():
    net = load_npz(sys.argv[1])
mark("instance read")
with setup_phase():
    start_loading("lsa-code", {})
loaders = list(inf._LOADING.values())
def watch():
    for thread in loaders:
        thread.join()
    mark("model loaded (background)")
threading.Thread(target=watch, daemon=True).start()
prepare_sandbox = inf.prepare_sandbox
def timed(*nets):
    prepare_sandbox(*nets); mark("sandbox indexes built")
inf.prepare_sandbox = timed
before = time.perf_counter() - T0
row, _ = run_method(net, "lsa-code", float(sys.argv[2]), 0, {}, instance="x")
marks.append(f"budget started {before + row['setup_s']:.2f}")
marks.append(f"budget over {before + row['setup_s'] + row['runtime_s']:.2f}")
mark("metrics done")
print("  " + ", ".join(marks) + f" s (set-up {row['setup_s']:.2f} s, runtime {row['runtime_s']:.2f} s)", flush=True)
os._exit(0)
"""


def section_timeline(path: Path, budget: float) -> None:
    """What `lsa solve` does, overlapped as it does it (the model loads in a background thread while
    the instance is indexed): seconds since the interpreter started at the end of each step."""
    print(f"\n[6] lsa-code on {path.name}, T = {budget} s, the overlapped steps of `lsa solve` (s since start); {uptime()}")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", TIMELINE, str(path), str(budget)], capture_output=True,
                          text=True, cwd=REPO)
    wall = time.perf_counter() - t0
    print(proc.stdout.rstrip() or f"  failed: {proc.stderr.strip().splitlines()[-1:]}")
    print(f"  wall {wall:.1f} s (T + {wall - budget:.1f} s)")


def section_breakdown(path: Path, budget: float) -> None:
    print(f"\n[5] a fresh lsa-code process on {path.name}, T = {budget} s, step by step; {uptime()}")
    proc = subprocess.run([sys.executable, "-c", BREAKDOWN, str(path), str(budget)], capture_output=True,
                          text=True, cwd=REPO)
    print(proc.stdout.rstrip() or f"  failed: {proc.stderr.strip().splitlines()[-1:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="held-out instances per density")
    parser.add_argument("--huge", type=Path, help="an existing N = 100,000 instance (else generated, takes minutes)")
    parser.add_argument("--skip-huge", action="store_true")
    parser.add_argument("--huge-methods", nargs="+", help="methods at N = 100,000 (default: every registered method)")
    parser.add_argument("--only-breakdown", action="store_true", help="only section 5")
    parser.add_argument("--only-huge", action="store_true",
                        help="only N = 100,000: section 4 and the overlapped timeline of lsa-code (section 6)")
    args = parser.parse_args()
    print(f"bench_solve_fresh: {time.strftime('%Y-%m-%d %H:%M:%S')}, {os.cpu_count()} CPUs; load at start: {uptime()}")
    print("(the machine is shared with other jobs: wall times include their load; ratios are same-run)")
    seeds = list(range(HELDOUT_SEED, HELDOUT_SEED + args.seeds))
    with tempfile.TemporaryDirectory(prefix="bench-fresh-") as tmp:
        if args.only_breakdown:
            path = save_npz(generate_ppp(2000, 8, "dense", seeds[0]), Path(tmp) / "dense.npz")
            section_breakdown(path, 0.5)
            if args.huge:
                section_breakdown(args.huge, 10.0)
            return
        if args.only_huge:
            huge = args.huge
            if huge is None:
                huge = Path(tmp) / "huge.npz"
                save_npz(generate_ppp(100_000, 8, "dense", 7), huge)
            section_huge(huge, args.huge_methods or list(all_methods()))
            section_timeline(huge, 10.0)
            return
        files = section_anytime(Path(tmp), seeds)
        section_wall(files)
        section_batch(files)
        if not args.skip_huge:
            huge = args.huge
            if huge is None:
                huge = Path(tmp) / "huge.npz"
                save_npz(generate_ppp(100_000, 8, "dense", 7), huge)
            section_huge(huge, args.huge_methods or list(all_methods()))
        section_breakdown(files["dense"][0], 0.5)


if __name__ == "__main__":
    main()
