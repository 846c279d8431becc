"""GRPO as several training processes (the workflow's `accelerate launch` path, workflow.gpus.grpo > 1),
run for real on the CPU: the Snakefile's own launch command (lsa.workflow.resources.launch_prefix)
with 2 processes, which on a machine without GPUs talk through torch.distributed's gloo backend.

Which process writes what is observed, not assumed: a `sitecustomize` module on the processes'
PYTHONPATH installs a Python audit hook that records every file opened for writing, renamed or
replaced in the test's directory, per rank (RANK); each rank's first write, a probe file, shows
that its hook works. Files written by native code without Python's
`open` (safetensors' weights) are not seen; the model is written by the Trainer's main process."""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from lsa.errors import ConfigError
from lsa.policy.config import EMBEDDED_POLICY_DIR, GRPOConfig, ModelConfig
from lsa.workflow.resources import launch_prefix

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent
#: the smallest GRPO of tests/test_policy_training.py (the shipped tiny policy, 2 steps) with a batch
#: of 1 prompt x G = 4 completions: 2 per process
GRPO = {"num_generations": 4, "prompts_per_step": 1, "max_steps": 2, "save_steps": 1, "n_train_instances": 2,
        "train_n": [20], "train_k": [3], "max_completion_length": 32, "exec_workers": 1, "torch_threads": 1,
        "exec_timeout_s": 0.3, "perf_reference_budget_s": 0.1, "validation_every": 1, "validation_instances": 2,
        "validation_generations": 2, "seed_samples": 2, "seed_instances": 2}

WATCH = '''
import atexit, os, sys
_rank, _root, _out = os.environ.get("RANK"), os.environ.get("LSA_TEST_WATCH"), os.environ.get("LSA_TEST_WRITES")
if _rank is not None and _root and _out:
    _seen = set()
    def _hook(event, args):
        if event == "open" and isinstance(args[0], (str, os.PathLike)):
            mode, flags = args[1], args[2] if len(args) > 2 else 0
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
            path = args[0]
        elif event in ("os.rename", "os.replace"):
            writes, path = True, args[1]
        else:
            return
        path = os.path.abspath(os.fspath(path))
        if writes and path.startswith(_root):
            _seen.add(os.path.relpath(path, _root))
    sys.addaudithook(_hook)
    open(os.path.join(_root, f"probe-{_rank}"), "w").close()      # the positive control: it must be seen
    atexit.register(lambda: open(os.path.join(_out, f"writes-{_rank}.json"), "w").write(repr(sorted(_seen))))
'''


def _written(directory: Path, rank: int) -> set[str]:
    import ast

    path = directory / f"writes-{rank}.json"
    assert path.is_file(), f"rank {rank} recorded nothing (did it start?)"
    return set(ast.literal_eval(path.read_text()))


def test_two_training_processes_share_the_batch_and_only_the_main_one_writes(tmp_path):
    (tmp_path / "watch").mkdir()
    (tmp_path / "watch" / "sitecustomize.py").write_text(WATCH)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"grpo": GRPO}))
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "watch"), str(REPO)]),
           "LSA_TEST_WATCH": str(tmp_path), "LSA_TEST_WRITES": str(tmp_path), "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None), env.pop("RANK", None)
    cmd = (f"{launch_prefix(2, sys.executable)} train --config {tmp_path / 'c.yaml'} --base {EMBEDDED_POLICY_DIR} "
           f"--output {run} --log {run / 'log.csv'}")
    res = subprocess.run(cmd.split(), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-4000:]
    assert "terminate called" not in res.stderr          # the process group is left before teardown
    # one summary on stdout: the main process's
    assert res.stdout.count('"output_dir"') == 1 and '"main_process": false' not in res.stdout
    info = json.loads((run / "final" / "lsa_train.json").read_text())
    assert info["processes"] == 2 and info["steps"] == 2 and info["grpo"]["num_generations"] == 4
    assert [h["step"] for h in info["shipped_checkpoint"]["validation_history"]] == [1, 2]
    import torch
    args = torch.load(run / "final" / "training_args.bin", weights_only=False)
    assert (args.generation_batch_size, args.per_device_train_batch_size) == (4, 2)   # a step's 4 completions, 2 each
    assert [int(r.split(",")[0]) for r in (run / "log.csv").read_text().splitlines()[1:]] == [1, 2]
    main, other = _written(tmp_path, 0), _written(tmp_path, 1)
    assert "probe-0" in main and "probe-1" in other                # both hooks record
    for name in ("log.csv", "final/lsa_train.json", "final/lsa_seed_programs.json",
                 "checkpoint-2/trainer_state.json", "checkpoint-2/lsa_validation.json"):
        assert f"run/{name}" in main, (name, sorted(main))
    # the other process writes nothing into the run through Python (the Trainer adds its RNG state,
    # rng_state_1.pth, to each checkpoint from native code: torch.save)
    assert not [p for p in other if p.startswith("run")], sorted(other)
    assert (run / "checkpoint-2" / "rng_state_0.pth").is_file() and (run / "checkpoint-2" / "rng_state_1.pth").is_file()

    # the workflow's notebook then calls train_grpo with the same settings: the finished run's record,
    # no second training; other settings (here one more step) train again
    from lsa.policy.train import finished_run, train_grpo

    grpo = GRPOConfig.from_mapping(GRPO)
    t0 = time.perf_counter()
    assert train_grpo(ModelConfig(), grpo, str(EMBEDDED_POLICY_DIR), run) == info
    assert time.perf_counter() - t0 < 5
    assert finished_run(run, ModelConfig(), GRPOConfig.from_mapping({**GRPO, "max_steps": 3}),
                        str(EMBEDDED_POLICY_DIR)) is None
    assert finished_run(run, ModelConfig(), grpo, "another/base") is None


def test_a_batch_that_does_not_split_over_the_processes_fails_before_the_model_loads(tmp_path, monkeypatch):
    from lsa.policy.train import train_grpo

    monkeypatch.setenv("WORLD_SIZE", "2")
    grpo = GRPOConfig.from_mapping({**GRPO, "num_generations": 3})    # 1 prompt x G = 3 completions
    with pytest.raises(ConfigError, match=r"1 \* 3 = 3 completions does not split evenly over 2 training processes"):
        train_grpo(ModelConfig(), grpo, "no/such/model", tmp_path / "run")   # the model would fail to load
    assert not (tmp_path / "run").exists()


def test_lsa_train_refuses_sft_under_several_processes(tmp_path):
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"grpo": GRPO}))
    env = {**os.environ, "PYTHONPATH": str(REPO), "WORLD_SIZE": "2", "RANK": "1"}
    res = subprocess.run([sys.executable, "-m", "lsa.cli", "train", "--config", "c.yaml", "--output", "run",
                          "--sft"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1 and "--sft" in res.stderr, res.stderr
    assert not (tmp_path / "run").exists()


def test_the_workflow_trains_a_grpo_run_on_two_processes(smoke_run, tmp_path):
    """The smoke profile with workflow.gpus.grpo = 2, one GRPO run through Snakemake: the rule's
    shell trains under accelerate launch, then the run's notebook takes the finished run (no second
    training) and exports its log as with one process. It starts from a copy of the smoke pipeline's
    finished run (conftest.py `smoke_run`) without that GRPO run: its base model is up to date there,
    so only the GRPO job runs (the base model is not pretrained a second time)."""
    from test_workflow import jobs_of, snakemake

    smoke_root, smoke, _ = smoke_run
    assert smoke.returncode == 0, smoke.stderr[-3000:]
    root = tmp_path / "repo"
    shutil.copytree(smoke_root, root, symlinks=True, ignore=shutil.ignore_patterns("locks", "incomplete"))
    profile = root / "config" / "smoke.yaml"
    cfg = yaml.safe_load(profile.read_text())
    cfg["workflow"]["gpus"] = {"grpo": 2}
    profile.write_text(yaml.safe_dump(cfg, sort_keys=False))
    smoke = root / "results" / "smoke"
    shutil.rmtree(smoke / "runs" / "grpo-main")             # the run, its checkpoints (no resume) and its outputs
    for path in (smoke / "training" / "grpo-main.csv", smoke / "notebooks" / "grpo-main.ipynb"):
        path.unlink()
    target = "results/smoke/runs/grpo-main/final/lsa_train.json"
    res = snakemake(root, "--cores", "2", "-p", target, "--config", "profile=smoke", timeout=900)
    assert res.returncode == 0, res.stderr[-4000:]
    assert jobs_of(res.stdout + res.stderr) == {"grpo": 1}, res.stdout[-3000:] + res.stderr[-3000:]
    assert "accelerate_cli launch --multi_gpu --num_processes 2" in res.stdout + res.stderr
    info = json.loads((root / target).read_text())
    assert info["processes"] == 2 and info["steps"] == cfg["grpo"]["max_steps"] and info["resumed_from"] is None
    log = (smoke / "training" / "grpo-main.csv").read_text().splitlines()
    assert len(log) == 1 + cfg["grpo"]["max_steps"]
    notebook = json.loads((smoke / "notebooks" / "grpo-main.ipynb").read_text())
    printed = "".join("".join(o.get("text", "")) for c in notebook["cells"] for o in c.get("outputs", []))
    assert '"processes": 2' in printed            # the launched run's record, not a training of its own
