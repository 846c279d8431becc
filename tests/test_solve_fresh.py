"""`lsa solve` as a user runs it: a fresh process per command (the anytime claims hold from the CLI,
not only in a warm library process), several instances per process, and independent evaluation
(every instance starts `lsa-code` from the same state, whatever was solved before it)."""
import json
import subprocess
import sys

import pytest

from lsa.engine.state import greedy_assign
from lsa.policy.config import EMBEDDED_POLICY_DIR
from lsa.policy.seeds import SEED_PROGRAMS_FILE, load_seed_programs
from lsa.sim import generate_ppp, load_npz, save_npz
from lsa.sim.utility import sum_rate


def lsa(*args):
    """The CLI in a fresh interpreter, as a user types it."""
    return subprocess.run([sys.executable, "-m", "lsa.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=600)


def json_lines(proc) -> list[dict]:
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def instances(tmp_path_factory):
    """Two held-out instances (seeds outside the training range), different densities and sizes."""
    tmp = tmp_path_factory.mktemp("fresh")
    return [save_npz(generate_ppp(300, 6, "ultra-dense", 10_011), tmp / "a.npz"),
            save_npz(generate_ppp(200, 4, "dense", 10_012), tmp / "b.npz")]


def test_shipped_code_policy_has_seed_programs():
    seeds = load_seed_programs(EMBEDDED_POLICY_DIR)
    assert len(seeds) >= 3 and all("def assign" in s for s in seeds)
    assert len(set(seeds)) == len(seeds)


def test_lsa_code_fresh_process_half_second_budget_and_either_order(instances, tmp_path):
    """T = 0.5 s from a fresh process: an incumbent from the policy in time, no random fallback, a
    correct answer; and the program state each instance starts from does not depend on the order."""
    a, b = instances
    forward = json_lines(lsa("solve", a, b, "--method", "lsa-code", "--budget", "0.5", "--json"))
    backward = json_lines(lsa("solve", b, a, "--method", "lsa-code", "--budget", "0.5", "--json"))
    assert [r["instance"] for r in forward] == ["a.npz", "b.npz"]
    assert [r["instance"] for r in backward] == ["b.npz", "a.npz"]
    for row in forward + backward:
        assert not row["fallback_random"] and row["valid"] and not row["overrun"], row
        assert row["first_incumbent_s"] is not None and row["first_incumbent_s"] <= 0.5
        assert row["seeds_run"] >= 1 and row["setup_s"] > 0
        net = load_npz(a if row["instance"] == "a.npz" else b)
        assert row["utility"] >= sum_rate(net, greedy_assign(net)) * (1 - 1e-9)   # starts from greedy or better
    # the same starting state on each instance, whichever instance was solved first in the process
    states = {(r["instance"], r["start_state"]) for r in forward + backward}
    assert len(states) == 2 and len({s for _, s in states}) == 1


def test_several_instances_one_line_each_same_as_alone(instances, tmp_path):
    """Several instance files: one JSON line per instance, in order; each row is what a process with
    that instance alone gives (deterministic method), and the assignment is scored correctly."""
    a, b = instances
    both = json_lines(lsa("solve", a, b, a, "--method", "greedy", "--budget", "1", "--json"))
    alone = json_lines(lsa("solve", b, "--method", "greedy", "--budget", "1", "--json"))
    assert [r["instance"] for r in both] == ["a.npz", "b.npz", "a.npz"]
    assert both[1]["utility"] == alone[0]["utility"] and both[0]["utility"] == both[2]["utility"]
    net = load_npz(b)
    assert both[1]["utility"] == pytest.approx(sum_rate(net, greedy_assign(net)))
    text = lsa("solve", a, b, "--method", "greedy", "--budget", "1")
    assert text.returncode == 0 and [line.split(":")[0] for line in text.stdout.splitlines()] == ["a.npz", "b.npz"]


def test_several_instances_bad_input(instances, tmp_path):
    a, _ = instances
    missing = lsa("solve", a, tmp_path / "nope.npz", "--method", "greedy", "--budget", "1", "--json")
    assert missing.returncode == 2 and "not found" in missing.stderr and missing.stdout == ""   # checked first
    two = lsa("solve", a, a, "--method", "greedy", "--budget", "1", "--save-assignment", tmp_path / "x.npy")
    assert two.returncode == 2 and "one instance" in two.stderr and not (tmp_path / "x.npy").exists()


def test_malformed_seed_record_is_one_clear_error(tmp_path):
    from lsa.errors import LSAError

    (tmp_path / SEED_PROGRAMS_FILE).write_text(json.dumps({"format": "other", "programs": []}))
    with pytest.raises(LSAError, match="seed-program"):
        load_seed_programs(tmp_path)
    (tmp_path / SEED_PROGRAMS_FILE).write_text("{")
    with pytest.raises(LSAError, match=SEED_PROGRAMS_FILE):
        load_seed_programs(tmp_path)
    assert load_seed_programs(tmp_path / "empty") == []


def test_model_loads_in_the_background_and_prepare_waits_for_it(instances):
    """`lsa solve` starts loading the model before it reads the instance; `prepare` joins that
    thread before the sandbox forks (no thread left behind) and the run is the usual one."""
    from lsa.methods.protocol import run_method, start_loading
    from lsa.policy import inference

    params = {"dtype": "float64"}            # a key no other test loads: the load really starts here
    start_loading("lsa-code", params)
    (loader,) = inference._LOADING.values()
    row, assignment = run_method(load_npz(instances[0]), "lsa-code", 0.5, 0, params)
    assert inference._LOADING == {} and not loader.is_alive()
    assert not row["fallback_random"] and len(assignment) == row["N"]
    start_loading("lsa-code", params)        # loaded already: nothing starts
    assert inference._LOADING == {}


def test_inference_settings_from_the_command_line(tmp_path):
    """`--set allocation=relay` gives the earlier rule (every program once, none continued); the
    default rule continues the incumbent's program (docs/policy.md §11) on an instance where its
    search still gains after a second."""
    a = save_npz(generate_ppp(2000, 8, "ultra-dense", 10_013), tmp_path / "u.npz")
    relay = json_lines(lsa("solve", a, "--method", "lsa-code", "--budget", "2", "--json", "--set", "allocation=relay"))[0]
    default = json_lines(lsa("solve", a, "--method", "lsa-code", "--budget", "2", "--json"))[0]
    assert relay["programs_continued"] == 0 and relay["programs_tried"] >= 3
    assert default["programs_continued"] >= 1
    assert not relay["overrun"] and not default["overrun"]
