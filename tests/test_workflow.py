"""The reproduction workflow: profiles, per-stage config slices, the Snakemake DAG, selective reruns,
and (slow) the whole smoke pipeline end to end followed by a re-render of every figure.

Every Snakemake call runs in a temporary copy of the repository, so the checkout's results/ and
figures/ are never touched.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import yaml

from lsa.workflow.paths import (
    DIRECT_RUNS,
    FIGURES,
    PROFILES,
    TABLE,
    Paths,
    WorkflowSettings,
    stage_configs,
    write_if_changed,
)

REPO = Path(__file__).resolve().parent.parent
RULES = ("evaluate_baselines", "prompt_length", "pretrain", "sft", "grpo", "llm_evaluation", "figures", "all")
SMOKE_BUDGET_S = 300


def copy_repo(dest: Path) -> Path:
    """The files the workflow needs (code, configs, notebooks, Snakefile) — no results, no venv."""
    for name in ("Snakefile", "config", "notebooks", "lsa", "workflow"):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif src.is_file():
            shutil.copy2(src, dest / name)
    return dest


def snakemake(cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(cwd)}  # the copy's lsa, also inside the notebooks' kernel
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def jobs_of(dry_run_output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run: rule -> count."""
    stats = {}
    block = dry_run_output.split("Job stats:", 1)
    if len(block) < 2:
        return stats
    for line in block[1].splitlines():
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if m and m.group(1) != "total":
            stats[m.group(1)] = int(m.group(2))
    return stats


def all_outputs(profile: str, root: Path) -> list[Path]:
    """Every rule output of a profile, in DAG order (what lsa.paths says the rules produce)."""
    cfg = yaml.safe_load((root / "config" / f"{profile}.yaml").read_text())
    s, p = WorkflowSettings.from_config(cfg), Paths.for_profile(profile, root)
    out = [p.evaluation]
    for size in s.model_sizes:
        out += [p.base_model_done(size), p.pretrain_log(size)]
    out += [p.prompt_length, p.sft_done, p.sft_log]
    for run in s.all_runs:
        out += [p.final_model_done(run), p.grpo_log(run)]
    out += [p.llm_evaluation, *p.all_figure_files()]
    return out


# ---------------------------------------------------------------------------------- fast
@pytest.mark.parametrize("profile", PROFILES)
def test_every_stage_has_a_slice_with_paths_from_lsa_paths(profile):
    cfg = yaml.safe_load((REPO / "config" / f"{profile}.yaml").read_text())
    paths = Paths.for_profile(profile)
    slices = stage_configs(cfg, paths)
    s = WorkflowSettings.from_config(cfg)
    expected = {"evaluation", "prompt_length", "sft", "llm_evaluation", "figures",
                *(f"pretrain-{size}" for size in s.model_sizes), *(f"grpo-{run}" for run in s.all_runs)}
    assert set(slices) == expected
    assert slices["evaluation"]["evaluation"]["output"] == str(paths.evaluation)
    for run in s.all_runs:
        grpo = slices[f"grpo-{run}"]["grpo"]
        assert grpo["output_dir"] == str(paths.run_dir(run))
        assert grpo["log_csv"] == str(paths.run_log_state(run))
    assert slices["grpo-direct-sft"]["grpo"]["base_model"] == str(paths.sft_dir)
    assert all(slices[f"grpo-{r}"]["grpo"]["paradigm"] == "direct" for r in DIRECT_RUNS)
    # the Fig. 2 ablations are config changes only
    assert slices["grpo-G4"]["grpo"]["num_generations"] == 4
    assert slices["grpo-lambda-perf2"]["grpo"]["lambda_perf"] == 2.0
    # every profile writes to its own directories
    assert (paths.results == Path("results")) == (profile == "default")


def test_slice_depends_only_on_its_sections():
    cfg = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    paths = Paths.for_profile("smoke")
    before = stage_configs(cfg, paths)
    cfg["figures"] = {**cfg.get("figures", {}), "dpi": 77}
    after = stage_configs(cfg, paths)
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {"figures"}


def test_write_if_changed_keeps_mtime(tmp_path):
    target = tmp_path / "stage.yaml"
    assert write_if_changed(target, {"a": 1})
    os.utime(target, (1_000_000, 1_000_000))
    assert not write_if_changed(target, {"a": 1})
    assert target.stat().st_mtime == 1_000_000
    assert write_if_changed(target, {"a": 2})
    assert target.stat().st_mtime > 1_000_000


def test_notebooks_are_parameterised_clean_and_use_the_lsa_kernel():
    notebooks = sorted((REPO / "notebooks").glob("*.ipynb"))
    assert len(notebooks) >= 7
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        assert nb.metadata["kernelspec"]["name"] == "lsa", path.name
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{path.name}: exactly one cell tagged 'parameters'"
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{path.name} is stored with outputs"


def test_dry_run_lists_the_whole_dag(tmp_path):
    root = copy_repo(tmp_path)
    for profile in ("default", "smoke", "paper"):
        res = snakemake(root, "-n", "--config", f"profile={profile}")
        assert res.returncode == 0, res.stderr[-3000:] + res.stdout[-3000:]
        jobs = jobs_of(res.stdout)
        assert set(RULES) <= set(jobs), f"{profile}: rules missing from the DAG: {set(RULES) - set(jobs)}"
        cfg = yaml.safe_load((root / "config" / f"{profile}.yaml").read_text())
        s = WorkflowSettings.from_config(cfg)
        assert jobs["grpo"] == len(s.all_runs)
        assert jobs["pretrain"] == len(s.model_sizes)
        assert jobs["figures"] == 1


def test_unknown_profile_is_a_clear_error(tmp_path):
    root = copy_repo(tmp_path)
    res = snakemake(root, "-n", "--config", "profile=nope")
    assert res.returncode != 0
    assert "unknown profile 'nope'" in res.stdout + res.stderr


def test_config_change_reruns_only_what_depends_on_it(tmp_path):
    root = copy_repo(tmp_path)
    assert snakemake(root, "-n", "--config", "profile=smoke").returncode == 0  # writes the slices
    for path in all_outputs("smoke", root):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("placeholder for the DAG test\n")
    res = snakemake(root, "--touch", "--cores", "1", "--config", "profile=smoke")
    assert res.returncode == 0, res.stderr[-3000:]
    res = snakemake(root, "-n", "--config", "profile=smoke")
    assert "Nothing to be done" in res.stdout + res.stderr, res.stdout[-3000:]

    cfg_path = root / "config" / "smoke.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    # 1. a figure setting: only the figures and the table
    cfg["figures"]["dpi"] = int(cfg["figures"].get("dpi", 100)) + 1
    cfg_path.write_text(yaml.safe_dump(cfg))
    jobs = jobs_of(snakemake(root, "-n", "--config", "profile=smoke").stdout)
    assert set(jobs) == {"figures", "all"}, jobs
    snakemake(root, "--touch", "--cores", "1", "--config", "profile=smoke")
    # 2. a baseline budget: the baseline evaluation and what is drawn from it, no training
    cfg["evaluation"]["budgets_s"] = [float(b) * 2 for b in cfg["evaluation"]["budgets_s"]]
    cfg_path.write_text(yaml.safe_dump(cfg))
    jobs = jobs_of(snakemake(root, "-n", "--config", "profile=smoke").stdout)
    assert set(jobs) == {"evaluate_baselines", "figures", "all"}, jobs
    snakemake(root, "--touch", "--cores", "1", "--config", "profile=smoke")
    # 3. one ablation's override: that GRPO run and figure d only
    cfg["workflow"]["grpo_runs"]["G4"] = {"num_generations": 2}
    cfg_path.write_text(yaml.safe_dump(cfg))
    jobs = jobs_of(snakemake(root, "-n", "--config", "profile=smoke").stdout)
    assert jobs == {"grpo": 1, "figures": 1, "all": 1}, jobs


# ---------------------------------------------------------------------------------- slow
@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """The whole smoke pipeline, once per test module, in a temporary copy."""
    root = copy_repo(tmp_path_factory.mktemp("smoke"))
    t0 = time.perf_counter()
    res = snakemake(root, "--cores", "2", "--config", "profile=smoke", timeout=3 * SMOKE_BUDGET_S)
    wall_s = time.perf_counter() - t0
    return root, res, wall_s


@pytest.mark.slow
def test_smoke_profile_runs_end_to_end(smoke_run):
    root, res, wall_s = smoke_run
    logs = root / "results" / "smoke" / "logs"
    tails = "".join(f"\n--- {p.name}\n" + p.read_text()[-1500:] for p in sorted(logs.glob("*.log"))) if logs.is_dir() else ""
    assert res.returncode == 0, res.stderr[-4000:] + tails
    paths = Paths.for_profile("smoke", root)
    for f in paths.all_figure_files():
        assert f.is_file() and f.stat().st_size > 0, f
    for f in (paths.evaluation, paths.prompt_length, paths.llm_evaluation):
        assert f.is_file() and Path(str(f) + ".provenance.json").is_file(), f
    prov = json.loads(Path(str(paths.evaluation) + ".provenance.json").read_text())
    assert {"git_commit", "versions", "cpu", "date", "config"} <= set(prov)
    for stage in ("evaluation", "grpo-main", "figures"):
        assert paths.notebook(stage).is_file()  # executed notebooks are kept for inspection
    print(f"smoke pipeline: {wall_s:.0f} s")
    assert wall_s <= SMOKE_BUDGET_S, f"smoke profile took {wall_s:.0f} s (budget {SMOKE_BUDGET_S} s)"
    # an interrupted-and-restarted or repeated run has nothing left to do
    again = snakemake(root, "-n", "--config", "profile=smoke")
    assert "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.slow
def test_figures_rerender_from_smoke_results_alone(smoke_run, tmp_path):
    root, res, _ = smoke_run
    assert res.returncode == 0
    out = tmp_path / "figures"
    t0 = time.perf_counter()
    cli = subprocess.run([sys.executable, "-m", "lsa.cli", "figures", "--results", "results/smoke", "--figures",
                          str(out), "--strict"], cwd=root, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(root)})
    assert cli.returncode == 0, cli.stderr + cli.stdout
    assert time.perf_counter() - t0 <= 60
    for name in [*FIGURES, TABLE]:
        for f in Paths(root / "results" / "smoke", out).figure_files(name):
            assert f.is_file() and f.stat().st_size > 0, f
