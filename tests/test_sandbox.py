"""The program sandbox as a security boundary (SPEC §7): an adversarial suite where every case is
contained, killed within timeout + 1 s, leaves nothing on disk and no child behind; plus the happy
path (utility equals lsa.utility.sum_rate), parallel runs, code extraction and `lsa exec`."""
import builtins
import json
import os
import signal

import numpy as np
import pytest

from lsa.cli import main
from lsa.errors import LSAError
from lsa.policy.prompts import extract_code
from lsa.programs.checks import ProgramRejected, check_program
from lsa.programs.runner import (
    STDOUT_CAP_BYTES,
    ExecResult,
    _run,
    run_program,
    run_programs,
)
from lsa.sim.formats import save_npz
from lsa.sim.generate import generate_ppp
from lsa.sim.utility import sum_rate

TIMEOUT_S = 1.0
HARMLESS = "def assign(net, rng):\n    a = net.greedy()\n    return net.best_response(a, rounds=2)\n"


@pytest.fixture(scope="module")
def net():
    return generate_ppp(200, 4, "dense", seed=0)


@pytest.fixture(autouse=True)
def in_scratch_dir(tmp_path, monkeypatch):
    """Every test runs in an empty directory, which must still be empty afterwards; and no child
    process of ours may outlive a test."""
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    assert list(tmp_path.iterdir()) == [], "a program left a file behind"
    assert _children() == [], "a sandbox child outlived its run"


def _children() -> list[str]:
    try:
        with open(f"/proc/self/task/{os.getpid()}/children") as fh:
            return fh.read().split()
    except OSError:
        return []


def _contained(result: ExecResult, status: str):
    assert result.status == status, (result.status, result.error)
    assert result.wall_s <= TIMEOUT_S + 1.0
    if status != "ok":
        assert result.assignment is None and result.utility is None and result.error


def test_harmless_program_runs_and_utility_is_right(net):
    result = run_program(HARMLESS, net, timeout_s=5.0)
    assert result.status == "ok", result.error
    assert result.assignment.shape == (net.N,) and result.assignment.dtype == np.int64
    assert result.utility == pytest.approx(sum_rate(net, result.assignment), rel=1e-12)
    assert not result.repaired and result.repairs == {} and result.error == ""
    assert result.ast_nodes == check_program(HARMLESS) > 10
    assert 0 < result.runtime_s <= result.wall_s
    data = json.loads(result.to_json())
    assert data["status"] == "ok" and data["utility"] == result.utility and "assignment" not in data


def test_seeded_rng_is_deterministic(net):
    src = "def assign(net, rng):\n    return rng.integers(0, net.K, net.N)\n"
    a, b, c = run_programs([src, src, src], net, seeds=[5, 5, 6])
    assert a.assignment.tolist() == b.assignment.tolist() != c.assignment.tolist()
    assert a.assignment.tolist() == np.random.default_rng(5).integers(0, net.K, net.N).tolist()


TIMEOUTS = {
    "infinite loop": "def assign(net, rng):\n    while True:\n        pass\n",
    "loop that swallows exceptions": ("def assign(net, rng):\n    while True:\n        try:\n"
                                      "            while True:\n                pass\n"
                                      "        except BaseException:\n            pass\n"),
    "loop at import time": "while True:\n    pass\ndef assign(net, rng):\n    return 0\n",
    "slow numpy": "def assign(net, rng):\n    x = np.ones(10**6)\n    for i in range(10**9):\n        x = np.sort(x)\n",
}


def test_runaway_programs_are_killed_at_the_timeout(net):
    results = run_programs(list(TIMEOUTS.values()), net, timeout_s=TIMEOUT_S, workers=len(TIMEOUTS))
    for name, result in zip(TIMEOUTS, results):
        assert result.status == "timeout", (name, result.status, result.error)
        assert TIMEOUT_S <= result.wall_s <= TIMEOUT_S + 1.0, name


def test_sigterm_handler_does_not_save_it(net):
    # the static checks would refuse `signal`; hand it over to test the process-level kill alone
    src = ("def assign(net, rng):\n    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
           "    signal.signal(signal.SIGINT, signal.SIG_IGN)\n    while True:\n        pass\n")
    result = _run([src], net, TIMEOUT_S, checked=False, extra_namespace={"signal": signal})[0]
    _contained(result, "timeout")


def test_memory_bombs(net):
    instant = "def assign(net, rng):\n    return np.ones((10**6, 10**6))\n"
    growing = ("def assign(net, rng):\n    keep = []\n    while True:\n"
               "        keep.append(np.ones(50 * 10**6))\n")
    text = "def assign(net, rng):\n    return 'x' * (10**11)\n"
    r1, r2, r3 = run_programs([instant, growing, text], net, timeout_s=TIMEOUT_S, memory_mb=256)
    _contained(r1, "memory")
    _contained(r3, "memory")
    assert r2.status in ("memory", "timeout") and r2.wall_s <= TIMEOUT_S + 1.0


def test_recursion_bomb(net):
    src = "def f(n):\n    return f(n + 1) + 1\ndef assign(net, rng):\n    return f(0)\n"
    result = run_program(src, net, timeout_s=TIMEOUT_S)
    _contained(result, "error")
    assert "RecursionError" in result.error


REJECTED = {
    "import os / fork": "import os\ndef assign(net, rng):\n    os.fork()\n",
    "from os import": "from os import system\ndef assign(net, rng):\n    system('id')\n",
    "import subprocess": "def assign(net, rng):\n    import subprocess\n    return 0\n",
    "__import__": "def assign(net, rng):\n    return __import__('os').fork()\n",
    "__builtins__": "def assign(net, rng):\n    return __builtins__['open']('x', 'w')\n",
    "__subclasses__": "def assign(net, rng):\n    return ().__class__.__bases__[0].__subclasses__()\n",
    "getattr dunder": "def assign(net, rng):\n    return getattr(net, '__class__')\n",
    "getattr built string": "def assign(net, rng):\n    g = getattr\n    return g(net, '_' + '_dict_' + '_')\n",
    "dunder in string": "def assign(net, rng):\n    return '{0.__class__}'.format(net)\n",
    "private attribute": "def assign(net, rng):\n    return net._net.signal_w\n",
    "generator frame": "def assign(net, rng):\n    g = (x for x in [1])\n    return g.gi_frame.f_back.f_globals\n",
    "exception traceback": "def assign(net, rng):\n    try:\n        1/0\n    except Exception as e:\n        return e.__traceback__\n",
    "open": "def assign(net, rng):\n    open('pwned.txt', 'w').write('x')\n",
    "numpy save": "def assign(net, rng):\n    np.save('pwned.npy', np.zeros(3))\n",
    "array tofile": "def assign(net, rng):\n    np.zeros(3).tofile('pwned.bin')\n",
    "numpy savetxt": "def assign(net, rng):\n    np.savetxt('pwned.txt', np.zeros(3))\n",
    "numpy ctypes": "def assign(net, rng):\n    return np.zeros(3).ctypes.data\n",
    "numpy lib": "def assign(net, rng):\n    return np.lib.stride_tricks.as_strided(np.zeros(1), (10**9,), (8,))\n",
    "monkeypatch numpy": "def assign(net, rng):\n    np.asarray = None\n",
    "eval/exec": "def assign(net, rng):\n    return eval('1')\n",
    "class definition": "class X:\n    pass\ndef assign(net, rng):\n    return 0\n",
    "decorator": "def d(f):\n    return f\n@d\ndef assign(net, rng):\n    return 0\n",
    "no assign": "def solve(net, rng):\n    return 0\n",
    "syntax error": "def assign(net, rng):\n    return [\n",
}


@pytest.mark.parametrize("name", list(REJECTED))
def test_escapes_are_rejected_statically(net, name):
    with pytest.raises(ProgramRejected):
        check_program(REJECTED[name])
    result = run_program(REJECTED[name], net, timeout_s=TIMEOUT_S)
    _contained(result, "rejected")
    assert result.wall_s < 0.5                  # no child was started


def test_process_level_layers_hold_even_without_the_static_checks(net, in_scratch_dir):
    """Hand the program `os` and `open` (which the static checks refuse): forking, writing files
    and signalling the parent still fail inside the child."""
    target = in_scratch_dir / "pwned.txt"
    extra = {"os": os, "open": builtins.open}
    fork = "def assign(net, rng):\n    return [os.fork()] * net.N\n"
    write = f"def assign(net, rng):\n    open({str(target)!r}, 'w').write('x')\n    return 0\n"
    write_tmp = "def assign(net, rng):\n    open('/tmp/lsa-sandbox-pwned.txt', 'w').write('x')\n    return 0\n"
    results = _run([fork, write, write_tmp], net, TIMEOUT_S, checked=False, extra_namespace=extra)
    for result in results:
        _contained(result, "error")
    assert "Resource temporarily unavailable" in results[0].error or "Errno" in results[0].error
    assert not target.exists() and not os.path.exists("/tmp/lsa-sandbox-pwned.txt")


def test_output_flood_is_captured_and_bounded(net):
    src = ("def assign(net, rng):\n    for i in range(200000):\n        print('x' * 1000)\n"
           "    return np.zeros(net.N, dtype=np.int64)\n")
    result = run_program(src, net, timeout_s=5.0)
    assert result.status == "ok"
    assert result.stdout_bytes == 200000 * 1001
    assert len(result.stdout) <= STDOUT_CAP_BYTES


@pytest.mark.parametrize("ret, kind", [
    ("list(range(10**7))", "length"),
    ("np.zeros(4 * 10**8, dtype=np.int8)", "length"),
    ("'hello'", "not_numeric"),
    ("None", "not_numeric"),
    ("[0.5] * net.N", "non_integer"),
    ("np.full(net.N, 10**9)", "out_of_range"),
])
def test_bad_and_huge_return_values_are_bounded_and_repaired(net, ret, kind):
    result = run_program(f"def assign(net, rng):\n    return {ret}\n", net, timeout_s=5.0)
    assert result.status == "ok", result.error
    assert result.repaired and kind in result.repairs
    assert result.assignment.shape == (net.N,)
    assert result.utility == pytest.approx(sum_rate(net, result.assignment))


def test_program_cannot_touch_the_instance(net):
    before = net.signal_w.copy()
    src = "def assign(net, rng):\n    net.signal_w[:] = 1e9\n    return 0\n"
    result = run_program(src, net, timeout_s=TIMEOUT_S)
    _contained(result, "error")
    assert "read-only" in result.error
    np.testing.assert_array_equal(net.signal_w, before)


def test_exceptions_are_reported(net):
    result = run_program("def assign(net, rng):\n    raise ValueError('boom')\n", net, timeout_s=TIMEOUT_S)
    _contained(result, "error")
    assert result.error == "ValueError: boom"


def test_parallel_matches_sequential_and_keeps_order(net):
    other = generate_ppp(120, 3, "sparse", seed=1)
    sources = [HARMLESS, "def assign(net, rng):\n    return net.random_assignment(rng)\n",
               "def assign(net, rng):\n    while True:\n        pass\n", "import os\n"] * 2
    nets = [net, other] * 4
    par = run_programs(sources, nets, timeout_s=TIMEOUT_S, seeds=list(range(8)), workers=4)
    seq = run_programs(sources, nets, timeout_s=TIMEOUT_S, seeds=list(range(8)), workers=1)
    assert [r.status for r in par] == [r.status for r in seq] == ["ok", "ok", "timeout", "rejected"] * 2
    for p, s, n in zip(par, seq, nets):
        if p.status == "ok":
            assert p.assignment.shape == (n.N,)
            assert p.assignment.tolist() == s.assignment.tolist() and p.utility == s.utility
    with pytest.raises(LSAError):
        run_programs([HARMLESS], [net, other])


def test_extract_code():
    block = "def assign(net, rng):\n    return 0\n"
    assert extract_code(f"text\n```python\nx = 1\n```\nmore\n```python\n{block}```\n") == block
    assert extract_code(f"```python\n{block}```\nthen\n```\nprint(1)\n```") == block   # the one with assign
    assert extract_code(f"Here:\n{block}\nThis returns zeros.") == block
    assert extract_code(f"```python\n{block}") == block                               # cut-off fence
    assert extract_code("no code here") is None
    assert extract_code(None) is None


def test_cli_entry_point(net, tmp_path, capsys, monkeypatch):
    instance = save_npz(net, tmp_path / "net.npz")
    program = tmp_path / "prog.py"
    program.write_text(HARMLESS)
    assert main(["exec", str(program), str(instance), "--timeout", "5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "ok" and out["utility"] > 0 and out["repaired"] is False and "runtime_s" in out
    program.write_text("def assign(net, rng):\n    while True:\n        pass\n")
    assert main(["exec", str(program), str(instance), "--timeout", "0.5", "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "timeout" and out["error"]
    assert main(["exec", str(tmp_path / "missing.py"), str(instance)]) == 2
    assert main(["exec", str(program), str(instance), "--timeout", "0"]) == 2
    for path in (instance, program):           # the scratch directory must end empty
        path.unlink()
