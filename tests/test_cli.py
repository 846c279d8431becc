import json
import subprocess
import sys

import numpy as np
import pytest

from lsa.cli import main
from lsa.sim.formats import load_npz
from lsa.sim.utility import sum_rate


def lsa(*args):
    return subprocess.run([sys.executable, "-m", "lsa.cli", *map(str, args)], capture_output=True, text=True)


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    path = tmp_path_factory.mktemp("inst") / "net.npz"
    assert main(["generate", "--n", "150", "--k", "4", "--regime", "ultra-dense", "--seed", "2", "-o", str(path)]) == 0
    return path


def test_methods_lists_every_method(capsys):
    from lsa.methods import all_methods
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in all_methods())


def test_solve_json_matches_recomputation(instance, tmp_path, capsys):
    out_npy = tmp_path / "a.npy"
    assert main(["solve", str(instance), "--method", "local-search", "--budget", "0.3", "--json",
                 "--save-assignment", str(out_npy)]) == 0
    res = json.loads(capsys.readouterr().out)
    for key in ("method", "n", "k", "utility", "throughput_bps", "p5_rate", "jain", "conflicts", "runtime_s",
                "valid", "repaired"):
        assert key in res
    net = load_npz(instance)
    a = np.load(out_npy)
    assert a.dtype == np.int64 and a.shape == (net.N,)
    assert res["utility"] == pytest.approx(sum_rate(net, a))
    assert res["throughput_bps"] == pytest.approx(res["utility"] * net.bandwidth_hz)


def test_generate_dimacs(tmp_path):
    col = tmp_path / "g.col"
    col.write_text("c tiny\np edge 3 2\ne 1 2\ne 2 3\n")
    out = tmp_path / "g.npz"
    assert main(["generate", "--dimacs", str(col), "--k", "2", "-o", str(out)]) == 0
    assert load_npz(out).N == 3


@pytest.mark.parametrize("args, message", [
    (["solve", "{missing}", "--method", "greedy", "--budget", "1"], "not found"),
    (["solve", "{corrupt}", "--method", "greedy", "--budget", "1"], "not a valid .npz"),
    (["solve", "{malformed}", "--method", "greedy", "--budget", "1"], "missing key 'cross_gain'"),
    (["solve", "{instance}", "--method", "nope", "--budget", "1"], "unknown method"),
    (["solve", "{instance}", "--method", "greedy", "--budget", "-2"], "--budget"),
    (["generate", "--n", "10", "--k", "0", "-o", "{out}"], "--k"),
    (["generate", "--dimacs", "{badcol}", "--k", "3", "-o", "{out}"], "edge"),
    (["generate", "--n", "10", "--k", "2", "--regime", "nowhere", "-o", "{out}"], "unknown regime"),
    (["evaluate", "--config", "{badcfg}", "--output", "{out}"], "unknown key"),
])
def test_bad_input_exit_2_one_message_no_output(tmp_path, instance, args, message):
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"garbage")
    malformed = tmp_path / "malformed.npz"
    with np.load(instance) as d:
        np.savez(malformed, **{k: d[k] for k in d.files if k != "cross_gain"})
    badcol = tmp_path / "bad.col"
    badcol.write_text("p edge 2 1\ne 1 5\n")
    badcfg = tmp_path / "bad.yaml"
    badcfg.write_text("evaluation:\n  instances: [{N: [5], K: 2, regimes: [dense], seeds: [0]}]\n  budget: 3\n")
    out = tmp_path / "out.npz"
    fmt = dict(missing=tmp_path / "absent.npz", corrupt=corrupt, malformed=malformed, instance=instance,
               badcol=badcol, out=out, badcfg=badcfg)
    proc = lsa(*[a.format(**fmt) for a in args])
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists()
    assert not list(tmp_path.glob("*.part"))


def test_evaluate_writes_tidy_csv_with_provenance(tmp_path):
    import pandas as pd
    cfg = tmp_path / "cfg.yaml"
    out = tmp_path / "res" / "eval.csv"
    cfg.write_text("""
evaluation:
  instances: [{N: [30], K: 3, regimes: [dense, sparse], seeds: [0]}]
  methods: [random, greedy]
  budgets_s: [0.1]
""")
    proc = lsa("evaluate", "--config", cfg, "--output", out)
    assert proc.returncode == 0, proc.stderr
    df = pd.read_csv(out)
    assert len(df) == 4 and set(df["method"]) == {"random", "greedy"}
    prov = json.loads((out.parent / "eval.csv.provenance.json").read_text())
    for key in ("config", "git_commit", "versions", "cpu", "date"):
        assert key in prov


@pytest.mark.parametrize("method", ["lsa-code", "lsa-direct"])
def test_shipped_policies_solve_out_of_the_box(instance, method, capsys):
    """Both LLM paradigms ship a trained policy in the package: no --model needed. (`lsa solve` in
    this process: a fresh process, which pays the interpreter's and the model's start-up again, is
    what tests/test_solve_fresh.py runs.)"""
    from lsa.policy.config import EMBEDDED_DIRECT_DIR, EMBEDDED_POLICY_DIR

    shipped = EMBEDDED_POLICY_DIR if method == "lsa-code" else EMBEDDED_DIRECT_DIR
    assert (shipped / "model.safetensors").is_file() and (shipped / "lsa_train.json").is_file()
    rc = main(["solve", str(instance), "--method", method, "--budget", "1", "--json"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    res = json.loads(out.out)
    assert res["method"] == method and res["utility"] > 0
    assert not res["overrun"] and not res["fallback_random"]     # the policy answered in time
