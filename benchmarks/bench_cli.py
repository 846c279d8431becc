"""Benchmark of the `lsa` command as a user meets it: every figure is a fresh process of the console
script (`.venv/bin/lsa`, else `python -m lsa.cli`), timed end to end from outside, median of a few runs.

  exec       a trivial program (target <= 1.0 s of wall time in all); a busy loop killed at its
             2-s timeout (target: back within 3.0 s)
  solve      every classical method at N = 2000, each density, T = 1 s (target: wall <= T + 1.5 s)
  imports    what `lsa exec`, `lsa solve --method greedy` and `lsa generate` import (python -X importtime)
  first use  in an empty NUMBA_CACHE_DIR: the first `lsa solve` (N = 200, local-search, T = 1 s) without
             `lsa warmup` (the baseline: it compiles), then `lsa warmup` and the first and second solve
             after it (target: first <= 3 s, the same as the second); two first solves started together
             on an empty cache (the lock: one compiles, the other waits, CPU of both ~ one compile)
  smoke      (--smoke) `snakemake --cores 2 --config profile=smoke` in a fresh copy of the repository
             (git archive HEAD) after `lsa warmup` (target <= 300 s); only on an otherwise idle machine

Wall times depend on the machine's load (printed with them); CPU seconds (user + sys of the command
and its children) are printed beside them as the figure that load changes least.

    python benchmarks/bench_cli.py            # ~5 min on a quiet machine (three kernel compilations)
    python benchmarks/bench_cli.py --quick    # greedy and local-search only, one run each, no baseline
    python benchmarks/bench_cli.py --smoke    # adds the smoke workflow (~5 min more)
    python benchmarks/bench_cli.py --compare /tmp/base   # adds old/new side by side (git worktree add /tmp/base main)
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLASSICAL = ["random", "greedy", "local-search", "ils", "exact", "km", "km-partitioned", "pulp-partitioned", "de"]
REGIMES = ["sparse", "dense", "ultra-dense"]
TRIVIAL = "def assign(net, rng):\n    return [i % net.K for i in range(net.N)]\n"
BUSY = "def assign(net, rng):\n    x = 0\n    while True:\n        x += 1\n"
TARGETS = {"exec_s": 1.0, "exec_timeout_s": 3.0, "solve_over_budget_s": 1.5, "first_solve_s": 3.0, "smoke_s": 300.0}
HEAVY = ("torch", "transformers", "pandas", "matplotlib", "stable_baselines3", "scipy.linalg", "scipy.sparse",
         "scipy.spatial", "scipy.optimize")


def lsa_command() -> list[str]:
    script = Path(sys.executable).with_name("lsa")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "lsa.cli"]


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" ({os.cpu_count()} CPUs)"


def run(args, env=None, timeout=900, check=True, cwd=None) -> tuple[float, float, subprocess.CompletedProcess]:
    """(wall s, CPU s of the process and its children, the completed process)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env, timeout=timeout, cwd=cwd)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if check and proc.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(map(str, args))} failed ({proc.returncode}): {proc.stderr.strip()[-400:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), proc


def median_run(args, repeats: int, env=None) -> tuple[float, float]:
    walls, cpus = zip(*[run(args, env)[:2] for _ in range(repeats)])
    return statistics.median(walls), statistics.median(cpus)


def verdict(value: float, target: float) -> str:
    return "met" if value <= target else "NOT met"


def instances(lsa: list[str], work: Path) -> dict:
    paths = {}
    for regime in REGIMES:
        paths[regime] = work / f"n2000_{regime}.npz"
        run(lsa + ["generate", "--n", 2000, "--k", 8, "--regime", regime, "--seed", 0, "-o", paths[regime]])
    paths["n200"] = work / "n200.npz"
    run(lsa + ["generate", "--n", 200, "--k", 8, "--regime", "dense", "--seed", 0, "-o", paths["n200"]])
    return paths


def bench_exec(lsa, paths, work: Path, repeats: int) -> None:
    trivial, busy = work / "trivial.py", work / "busy.py"
    print(f"\n[exec] fresh `lsa exec` on N = 2000 dense, median of {repeats}")
    wall, cpu = median_run(lsa + ["exec", trivial, paths["dense"]], repeats)
    print(f"  trivial program             wall {wall:5.2f} s  cpu {cpu:5.2f} s   target <= {TARGETS['exec_s']:.1f} s: "
          f"{verdict(wall, TARGETS['exec_s'])}")
    wall, cpu = median_run(lsa + ["exec", busy, paths["dense"], "--timeout", 2], repeats)
    print(f"  busy loop, --timeout 2      wall {wall:5.2f} s  cpu {cpu:5.2f} s   target <= "
          f"{TARGETS['exec_timeout_s']:.1f} s: {verdict(wall, TARGETS['exec_timeout_s'])}")


def bench_solve(lsa, paths, methods: list[str], repeats: int, budget_s: float = 1.0) -> None:
    limit = budget_s + TARGETS["solve_over_budget_s"]
    print(f"\n[solve] fresh `lsa solve --budget {budget_s:g}` at N = 2000, K = 8, median of {repeats}; "
          f"target wall <= T + {TARGETS['solve_over_budget_s']} s = {limit:.1f} s")
    print(f"  {'method':<17}" + "".join(f"{r + ' wall/cpu':>24}" for r in REGIMES) + "   worst")
    for method in methods:
        cells, worst = [], 0.0
        for regime in REGIMES:
            wall, cpu = median_run(lsa + ["solve", paths[regime], "--method", method, "--budget", budget_s], repeats)
            worst = max(worst, wall)
            cells.append(f"{wall:8.2f} s / {cpu:5.2f} s")
        print(f"  {method:<17}" + "".join(f"{c:>24}" for c in cells) + f"   {worst:5.2f} s {verdict(worst, limit)}")


def bench_imports(lsa, paths, work: Path) -> None:
    print("\n[imports] python -X importtime of one fresh run each: import seconds, heavy modules imported")
    cases = {"exec": ["exec", work / "trivial.py", paths["dense"]],
             "solve greedy": ["solve", paths["dense"], "--method", "greedy", "--budget", 0.5],
             "generate": ["generate", "--n", 200, "--k", 4, "-o", work / "gen.npz"]}
    for name, args in cases.items():
        _, _, proc = run([sys.executable, "-X", "importtime", "-m", "lsa.cli", *args])
        rows = [line.split("|") for line in proc.stderr.splitlines() if line.startswith("import time:")][1:]
        total_s = sum(int(r[1]) for r in rows if not r[2].startswith("  ")) / 1e6     # top-level imports
        names = {r[2].strip() for r in rows}
        heavy = sorted(h for h in HEAVY if h in names)
        print(f"  {name:<14} imports {total_s:5.2f} s   heavy: {', '.join(heavy) or 'none'}")


def bench_first_use(lsa, paths, baseline: bool, concurrent: bool) -> None:
    solve = lsa + ["solve", paths["n200"], "--method", "local-search", "--budget", 1]
    print("\n[first use] empty NUMBA_CACHE_DIR each; `lsa solve` N = 200 dense, local-search, T = 1 s")
    compile_cpu = None
    if baseline:
        with tempfile.TemporaryDirectory(prefix="lsa-numba-") as cache:
            env = dict(os.environ, NUMBA_CACHE_DIR=cache)
            wall, compile_cpu, _ = run(solve, env)
            wall2, cpu2, _ = run(solve, env)
            print(f"  without lsa warmup (baseline): first solve {wall:6.2f} s (cpu {compile_cpu:5.2f} s), "
                  f"second {wall2:5.2f} s (cpu {cpu2:5.2f} s)")
    with tempfile.TemporaryDirectory(prefix="lsa-numba-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        wall_w, cpu_w, _ = run(lsa + ["warmup"], env)
        first, cpu1, _ = run(solve, env)
        second, cpu2, _ = run(solve, env)
        print(f"  lsa warmup                 {wall_w:6.2f} s (cpu {cpu_w:5.2f} s; make setup runs it once)")
        print(f"  first solve after warmup   {first:6.2f} s (cpu {cpu1:5.2f} s)   target <= "
              f"{TARGETS['first_solve_s']:.0f} s: {verdict(first, TARGETS['first_solve_s'])}")
        print(f"  second solve               {second:6.2f} s (cpu {cpu2:5.2f} s)   first / second = {first / second:.2f}")
    if concurrent:
        with tempfile.TemporaryDirectory(prefix="lsa-numba-") as cache:
            env = dict(os.environ, NUMBA_CACHE_DIR=cache)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            procs = [subprocess.Popen([str(a) for a in solve], env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL) for _ in range(2)]
            walls = []
            for proc in procs:
                proc.wait(timeout=900)
                walls.append(time.perf_counter() - t0)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            one = f"; one compile alone: cpu {compile_cpu:.2f} s" if compile_cpu else ""
            print(f"  2 first solves at once, no warmup: done after {walls[0]:.2f} s and {walls[1]:.2f} s, "
                  f"cpu of both {cpu:.2f} s{one}")


def bench_compare(lsa, paths, work: Path, old: str, repeats: int) -> None:
    """The same commands on an older checkout (`git worktree add /tmp/base <commit>`), run in
    alternation with this one so that both see the same load."""
    old_env = dict(os.environ, PYTHONPATH=old)
    old_env.pop("NUMBA_CACHE_DIR", None)
    new_env = dict(os.environ)
    cases = {"exec trivial": ["exec", work / "trivial.py", paths["dense"]],
             "exec busy, --timeout 2": ["exec", work / "busy.py", paths["dense"], "--timeout", 2],
             "solve greedy T=1": ["solve", paths["ultra-dense"], "--method", "greedy", "--budget", 1],
             "solve local-search T=1": ["solve", paths["ultra-dense"], "--method", "local-search", "--budget", 1],
             "import numpy, numba (floor)": None}
    for args in list(cases.values())[:3]:     # the old checkout's kernel cache, as after its first run
        run(lsa + args, old_env)
    print(f"\n[compare] {old} (old) and this checkout (new), alternated, median of {repeats}; "
          "N = 2000 (exec: dense, solve: ultra-dense)")
    for name, args in cases.items():
        cmd = [sys.executable, "-c", "import numpy, numba"] if args is None else lsa + args
        times = {"old": [], "new": []}
        for _ in range(repeats):
            for label, env in (("old", old_env), ("new", new_env)):
                times[label].append(run(cmd, env)[:2])
        (ow, oc), (nw, nc) = ([statistics.median(x) for x in zip(*times[k])] for k in ("old", "new"))
        print(f"  {name:<28} old {ow:5.2f} s (cpu {oc:5.2f})   new {nw:5.2f} s (cpu {nc:5.2f})   "
              f"new / old wall {nw / ow:.2f}, cpu {nc / oc:.2f}")


def bench_smoke(lsa) -> None:
    print("\n[smoke] snakemake --cores 2 --config profile=smoke in a fresh copy of HEAD")
    with tempfile.TemporaryDirectory(prefix="lsa-smoke-") as tmp:
        copy = Path(tmp) / "lsa"
        copy.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", "HEAD"], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(copy)], input=archive, check=True)
        env = dict(os.environ, PYTHONPATH=str(copy))
        env.pop("NUMBA_CACHE_DIR", None)          # the copy's own cache, filled by its `lsa warmup`
        # in the copy (`-m` puts the working directory first on sys.path): its own kernels' cache
        wall_w, _, _ = run([sys.executable, "-m", "lsa.cli", "warmup"], env, cwd=copy)
        snakemake = Path(sys.executable).with_name("snakemake")
        t0 = time.perf_counter()
        proc = subprocess.run([str(snakemake), "--cores", "2", "--config", "profile=smoke"], cwd=copy, env=env,
                              capture_output=True, text=True)
        wall = time.perf_counter() - t0
        status = "ok" if proc.returncode == 0 else f"FAILED ({proc.returncode}): {proc.stderr.strip()[-300:]}"
        print(f"  lsa warmup {wall_w:.1f} s, then the workflow {wall:.1f} s ({status})   target <= "
              f"{TARGETS['smoke_s']:.0f} s: {verdict(wall, TARGETS['smoke_s'])}")


SECTIONS = ("exec", "solve", "imports", "first-use", "compare", "smoke")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="greedy and local-search, one run each, no baseline")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--smoke", action="store_true", help="also time the smoke workflow in a fresh copy")
    ap.add_argument("--compare", metavar="OLD", help="also run the main commands on this older checkout, alternated")
    ap.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    args = ap.parse_args()
    repeats = 1 if args.quick else args.repeats
    sections = set(args.only or [s for s in SECTIONS if s not in ("compare", "smoke")])
    sections |= {"compare"} if args.compare else set()
    sections |= {"smoke"} if args.smoke else set()
    lsa = lsa_command()
    if os.environ.pop("PYTHONDONTWRITEBYTECODE", None):      # a user's Python writes and reuses .pyc files
        print("(PYTHONDONTWRITEBYTECODE was set: unset for the commands timed here)")
    print(f"bench_cli  {time.strftime('%Y-%m-%d %H:%M:%S')}  {platform.node()}  python {platform.python_version()}")
    print(f"command: {' '.join(lsa)}   NUMBA_CACHE_DIR={os.environ.get('NUMBA_CACHE_DIR', '(beside the package)')}")
    print(f"start: {load()}")
    with tempfile.TemporaryDirectory(prefix="lsa-bench-cli-") as tmp:
        work = Path(tmp)
        run(lsa + ["warmup"])                   # this checkout's cache, as after `make setup`
        paths = instances(lsa, work)
        (work / "trivial.py").write_text(TRIVIAL)
        (work / "busy.py").write_text(BUSY)
        steps = {"exec": lambda: bench_exec(lsa, paths, work, repeats),
                 "solve": lambda: bench_solve(lsa, paths, ["greedy", "local-search"] if args.quick else CLASSICAL,
                                              repeats),
                 "imports": lambda: bench_imports(lsa, paths, work),
                 "first-use": lambda: bench_first_use(lsa, paths, baseline=not args.quick, concurrent=not args.quick),
                 "compare": lambda: bench_compare(lsa, paths, work, args.compare, repeats),
                 "smoke": lambda: bench_smoke(lsa)}
        for name in SECTIONS:
            if name in sections:
                steps[name]()
                print(f"  ({load()})")
    print(f"\nend: {load()}")
    if shutil.which("uptime"):
        print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
