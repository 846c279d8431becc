"""Start-up of the CLI in a fresh process: what each command imports, which numba kernels it loads,
`lsa warmup` (fills the cache once; nothing compiles afterwards), and the compile lock
(lsa.sim.jit: concurrent processes facing a stale cache compile once). Correctness only; the wall
times are measured by benchmarks/bench_cli.py."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lsa.sim import jit, save_npz
from lsa.sim.generate import generate_ppp

PACKAGE = Path(__file__).resolve().parents[1] / "lsa"
#: libraries a command must not import unless it uses them (numba itself imports the top-level
#: `scipy` package for a version check: cheap; these are the subpackages that cost 0.1-0.7 s each)
HEAVY = ("torch", "transformers", "trl", "peft", "pandas", "matplotlib", "stable_baselines3", "gymnasium",
         "scipy.linalg", "scipy.sparse", "scipy.spatial", "scipy.optimize", "scipy.special", "scipy.stats")
TRIVIAL = "def assign(net, rng):\n    return [i % net.K for i in range(net.N)]\n"
PROBE = """
import json, sys
from lsa.cli import main
rc = main(sys.argv[1:])
from lsa.sim import jit
heavy = sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in {heavy!r}))
lsa = sorted(m for m in sys.modules if m.startswith("lsa."))
print(json.dumps({{"rc": rc, "heavy": heavy, "groups": sorted(jit.warm_groups()), "lsa": lsa}}))
"""


def _probe(*args) -> dict:
    """Run `lsa ARGS` in a fresh interpreter; what it imported and which kernel groups it warmed."""
    proc = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *map(str, args)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    path = tmp_path_factory.mktemp("startup") / "n60.npz"
    save_npz(generate_ppp(60, 4, "dense", 1), path)
    program = path.with_name("trivial.py")
    program.write_text(TRIVIAL)
    return path, program


def test_exec_imports_no_heavy_library_and_only_engine_kernels(instance):
    path, program = instance
    out = _probe("exec", program, path)
    assert out["rc"] == 0
    assert out["heavy"] == [], f"lsa exec imported {out['heavy']}"
    # the sandbox parent: the move engine, conflict counting and the metrics kernel (children score with it)
    assert out["groups"] == ["engine", "network", "utility"]
    assert not any(m.startswith(("lsa.rl", "lsa.policy", "lsa.methods.evaluate")) for m in out["lsa"])


def test_exec_child_can_count_conflicts(instance, tmp_path):
    """A child never compiles nor reads numba's cache (its filter forbids the files): the parent
    loads every kernel the primitives use, conflict counting (lsa.sim.network) included."""
    path, _ = instance
    program = tmp_path / "prims.py"
    program.write_text("def assign(net, rng):\n    a = net.greedy()\n    net.conflicts(a)\n    net.sinr(a)\n"
                       "    return a\n")
    proc = subprocess.run([sys.executable, "-m", "lsa.cli", "exec", str(program), str(path), "--json"],
                          capture_output=True, text=True, timeout=300)
    result = json.loads(proc.stdout)
    assert proc.returncode == 0 and result["status"] == "ok", result["error"]


@pytest.mark.parametrize("method", ["greedy", "local-search"])
def test_classical_solve_loads_no_plugin_nor_rl_kernels(instance, method):
    path, _ = instance
    out = _probe("solve", path, "--method", method, "--budget", "0.2", "--json")
    assert out["rc"] == 0
    assert out["heavy"] == [], f"lsa solve --method {method} imported {out['heavy']}"
    assert "rl" not in out["groups"] and "engine" in out["groups"]
    assert not any(m.startswith(("lsa.rl", "lsa.policy", "lsa.programs")) for m in out["lsa"]), out["lsa"]


def _cache_files() -> dict[str, float]:
    """numba's cache files (index + code) of this package: NUMBA_CACHE_DIR or beside the modules."""
    roots = {jit.cache_dir(), PACKAGE}
    return {str(p): p.stat().st_mtime_ns for root in roots if root.is_dir() for p in root.rglob("*.nb[ic]")}


def test_warmup_is_idempotent_and_nothing_compiles_after_it(instance):
    path, program = instance
    first = subprocess.run([sys.executable, "-m", "lsa.cli", "warmup"], capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stderr
    for group in ("engine", "network", "rl"):
        assert f"  {group} " in first.stderr
        assert jit.stamp_path(group).is_file()
    before = _cache_files()
    assert before, "lsa warmup wrote no numba cache"
    second = subprocess.run([sys.executable, "-m", "lsa.cli", "warmup"], capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    assert "filling it" not in second.stderr
    for args in (["exec", program, path], ["solve", path, "--method", "local-search", "--budget", "0.2"],
                 ["solve", path, "--method", "pulp-partitioned", "--budget", "0.3"]):
        proc = subprocess.run([sys.executable, "-m", "lsa.cli", *map(str, args)], capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, proc.stderr
    assert _cache_files() == before, "a command compiled (wrote numba's cache) after `lsa warmup`"


KERNEL = """
from numba import njit

@njit(cache=True)
def triangle(n):
    total = 0
    for i in range(n):
        total += i
    return total
"""
WORKER = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from lsa.sim import jit
import probe_kernels

def fn():
    time.sleep(1.0)                 # hold the lock long enough that the other process must wait
    probe_kernels.triangle(10)

jit.warm("probe", [probe_kernels.__file__], fn)
stats = probe_kernels.triangle.stats
print(json.dumps({"compiled": sum(stats.cache_misses.values()), "loaded": sum(stats.cache_hits.values())}))
"""


def test_lock_lets_concurrent_processes_compile_once(tmp_path):
    (tmp_path / "probe_kernels.py").write_text(textwrap.dedent(KERNEL))
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
        outs.append(json.loads(stdout.strip().splitlines()[-1]))
    assert sorted(o["compiled"] for o in outs) == [0, 1], outs     # one compiled, the other loaded it
    assert sorted(o["loaded"] for o in outs) == [0, 1], outs
    assert (tmp_path / "cache" / "lsa-probe.stamp").is_file()


def test_stamp_goes_stale_when_a_kernel_source_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    source = tmp_path / "kernels.py"
    source.write_text("x = 1\n")
    calls = []
    jit._WARM.pop("stamp-test", None)
    jit.warm("stamp-test", [source], lambda: calls.append(1))
    assert jit.is_current("stamp-test", [source]) and calls == [1]
    assert jit.warm("stamp-test", [source], lambda: calls.append(2)) == 0.0 and calls == [1]   # once per process
    source.write_text("x = 22\n")               # another size: numba would recompile, so must the stamp
    assert not jit.is_current("stamp-test", [source])
    jit._WARM.pop("stamp-test", None)


NESTED = """
import sys
from lsa.sim import jit
a, b = sys.argv[1], sys.argv[2]
jit.warm("outer", [a], lambda: jit.warm("inner", [b], lambda: None))
print(sorted(jit.warm_groups()))
"""


def test_a_warm_up_inside_another_does_not_wait_for_itself(tmp_path):
    """Both stamps stale: the inner group is warmed while this process holds the lock (re-entrant)."""
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("x = 1\n")
    b.write_text("y = 2\n")
    proc = subprocess.run([sys.executable, "-c", NESTED, str(a), str(b)], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache")))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['inner', 'outer']"
    assert (tmp_path / "cache" / "lsa-inner.stamp").is_file() and (tmp_path / "cache" / "lsa-outer.stamp").is_file()
