"""Benchmark of the program sandbox and the instance loader: end-to-end latency of a trivial program
at N = 2000, parallel throughput of small programs on 1 and 2 workers, and `load_npz` (read +
validation) at N = 10,000 and 100,000 dense. `--compare OLD` runs the same measurements on an old
checkout (module `lsa.sandbox`, e.g. `git worktree add /tmp/base c59f978`, or any checkout of the
current `lsa.programs` layout) in the same session.

    python benchmarks/bench_sandbox.py                         # a few minutes (N=100,000 is generated once, cached)
    python benchmarks/bench_sandbox.py --compare /tmp/base     # old and new side by side
    python benchmarks/bench_sandbox.py --quick                 # no N = 100,000
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

TRIVIAL = "def assign(net, rng):\n    return np.zeros(net.N, dtype=np.int64)\n"
SMALL = ("def assign(net, rng):\n"
         "    a = net.random_assignment(rng)\n"
         "    return net.best_response(a, rounds=1)\n")
TARGETS = {"latency_ms": 50.0, "load_10000_s": 0.3, "load_100000_s": 3.0}


def _modules(old: str | None):
    if old and (Path(old) / "lsa" / "sandbox.py").is_file():       # the layout before lsa.programs
        sys.path.insert(0, old)
        from lsa.network import load_npz
        from lsa.sandbox import run_program, run_programs
    else:                                     # the current layout (an old checkout of it, or this one)
        if old:
            sys.path.insert(0, old)
        from lsa.programs.runner import run_program, run_programs
        from lsa.sim.formats import load_npz
    return run_program, run_programs, load_npz


def measure(old: str | None, cache: Path, sizes: list[int], part: str, repeats: int = 15,
            programs: int = 32) -> dict:
    """One implementation's numbers: part 'sandbox' (latency, throughput) or 'load'."""
    run_program, run_programs, load_npz = _modules(old)
    out: dict = {"impl": old or "new"}
    if part == "load":
        for n_links in sizes:
            loads = []
            for _ in range(3 if n_links <= 10_000 else 2):
                t = time.perf_counter()
                loaded = load_npz(cache / f"dense-{n_links}.npz")
                loads.append(time.perf_counter() - t)
            out[f"load_{n_links}_s"] = min(loads)
            out[f"load_{n_links}_M"] = loaded.M
            del loaded
        return out
    net = load_npz(cache / "dense-2000.npz")
    first = run_program(TRIVIAL, net, timeout_s=2.0)
    assert first.status == "ok", first.error
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        result = run_program(TRIVIAL, net, timeout_s=2.0)
        times.append(time.perf_counter() - t)
        assert result.status == "ok", result.error
    out["latency"] = times
    small = load_npz(cache / "dense-500.npz")
    run_programs([SMALL] * 2, small, timeout_s=5.0)
    for workers in (1, 2):
        t = time.perf_counter()
        results = run_programs([SMALL] * programs, small, timeout_s=5.0, seeds=list(range(programs)), workers=workers)
        elapsed = time.perf_counter() - t
        assert all(r.status == "ok" for r in results), {r.error for r in results if r.status != "ok"}
        out[f"throughput_{workers}w"] = programs / elapsed
    return out


def _combine(parts: list[dict]) -> dict:
    """Rounds of one implementation: latency median/max over all calls, throughput median of rounds."""
    out = {"impl": parts[0]["impl"]}
    latency = [t for part in parts if "latency" in part for t in part["latency"]]
    if latency:
        out["latency_ms"] = statistics.median(latency) * 1000
        out["latency_max_ms"] = max(latency) * 1000
    for key in {k for part in parts for k in part if k.startswith(("throughput", "load"))}:
        out[key] = statistics.median(part[key] for part in parts if key in part)
    return out


def ensure_instances(cache: Path, sizes: list[int]) -> None:
    from lsa.sim.formats import save_npz
    from lsa.sim.generate import generate_ppp

    cache.mkdir(parents=True, exist_ok=True)
    for n_links in sorted({500, 2000, *sizes}):
        path = cache / f"dense-{n_links}.npz"
        if not path.is_file():
            t = time.perf_counter()
            save_npz(generate_ppp(n_links, 8, "dense", seed=0), path)
            print(f"generated {path} in {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)


def _report(rows: list[dict], sizes: list[int]) -> None:
    cores = len(os.sched_getaffinity(0))
    print(f"\n## sandbox and loader ({cores} usable cores; load average {os.getloadavg()[0]:.1f} at the end)")
    keys = [("latency_ms", "trivial program N=2000, median end to end (ms)"),
            ("latency_max_ms", "  max of the same (ms)"),
            ("throughput_1w", "small programs N=500, 1 worker (programs/s)"),
            ("throughput_2w", "small programs N=500, 2 workers (programs/s)")]
    keys += [(f"load_{n}_s", f"load_npz + validation N={n:,} dense, M={rows[0].get(f'load_{n}_M', 0):,} (s)")
             for n in sizes]
    print(f"{'measure':<62}" + "".join(f"{row['impl'][-12:]:>14}" for row in rows) + f"{'target':>10}")
    for key, label in keys:
        target = TARGETS.get(key)
        print(f"{label:<62}" + "".join(f"{row.get(key, float('nan')):>14.3f}" for row in rows)
              + (f"{'<= ' + format(target, 'g'):>10}" if target else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--compare", metavar="OLD", help="also measure an old checkout (lsa.sandbox)")
    parser.add_argument("--quick", action="store_true", help="skip N = 100,000")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/lsa-bench-instances"),
                        help="where the generated instances are kept between runs")
    parser.add_argument("--json", type=Path, help="also write the numbers as JSON")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of the sandbox measurements")
    parser.add_argument("--impl", help=argparse.SUPPRESS)        # internal: one measurement in a subprocess
    parser.add_argument("--part", default="sandbox", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = [10_000] if args.quick else [10_000, 100_000]
    if args.impl is not None:
        print(json.dumps(measure(args.impl or None, args.cache, sizes, args.part)))
        return
    ensure_instances(args.cache, sizes)
    impls = ([args.compare] if args.compare else []) + [""]
    parts: dict[str, list] = {impl: [] for impl in impls}
    # old and new alternate, round by round, so that both see the same machine load
    for part in ["sandbox"] * args.rounds + ["load"]:
        for impl in impls:
            proc = subprocess.run([sys.executable, __file__, "--impl", impl, "--part", part, "--cache", str(args.cache),
                                   *(["--quick"] if args.quick else [])], capture_output=True, text=True,
                                  cwd=Path(__file__).resolve().parents[1] if not impl else impl)
            if proc.returncode:
                raise SystemExit(f"measurement of {impl or 'new'} failed:\n{proc.stderr[-3000:]}")
            parts[impl].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    rows = [_combine(parts[impl]) for impl in impls]
    _report(rows, sizes)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
