"""The reproduction workflow: profiles, per-stage config slices (no paths), the stage parameters
(all paths from lsa.workflow.paths), the Snakemake DAG, fresh-copy determinism, selective reruns,
the SLURM profile, and (slow) the whole smoke pipeline end to end, then a no-op second run.

Every Snakemake call runs in a temporary copy of the repository, so the checkout's results/ and
figures/ are never touched.
"""
from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import yaml

from lsa.errors import ConfigError
from lsa.policy.lora_grpo import lora_grpo_config
from lsa.workflow.figures import figure_outputs
from lsa.workflow.paths import PROFILES, Paths
from lsa.workflow.provenance import sidecar_path
from lsa.workflow.settings import PRIMITIVES_RUN, check_profile, profile_sections
from lsa.workflow.shards import evaluation_shards, llm_evaluation_shard_count, split_runs
from lsa.workflow.stages import (
    DIRECT_RUNS,
    WorkflowSettings,
    rl_stage,
    stage_configs,
    stage_parameters,
    write_if_changed,
)
from lsa.workflow.studies import prompt_length_study

REPO = Path(__file__).resolve().parent.parent
RULES = ("evaluate_baselines", "best_known", "prompt_length", "pretrain", "sft", "grpo", "llm_evaluation", "figures", "report",
         "all")
#: a hang guard for the smoke run, not a speed target (benchmarks/bench_cli.py --smoke measures that)
SMOKE_BUDGET_S = 300
#: notebook -> the stage whose parameters it takes (run-by-hand names: size, run)
NOTEBOOK_STAGES = {"01_evaluate_baselines": "evaluation", "02_prompt_length": "prompt_length",
                   "03_pretrain": "pretrain-tiny", "04_sft": "sft", "05_grpo": "grpo-main",
                   "06_llm_evaluation": "llm_evaluation", "07_figures": "figures", "08_rl_train": "rl-dqn-s0",
                   "09_report": "report", "10_best_known": "best_known", "11_primitives": "primitives_evaluation"}


def copy_repo(dest: Path) -> Path:
    """The files the workflow needs (code, configs, notebooks, Snakefile, the reference's tidy
    results) — no results/, no figures/, no venv. numba's kernel cache comes along (index and code
    files in lsa/**/__pycache__, sources with their mtimes): a clone after `make setup` has it
    (`lsa warmup`), so the copy's processes load the kernels instead of compiling them again."""
    for name in ("Snakefile", "config", "notebooks", "lsa", "workflow", "reference"):
        src = REPO / name
        skip = ("*.pyc", *(("notebooks", "logs") if name == "reference" else ()))
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns(*skip))
        elif src.is_file():
            shutil.copy2(src, dest / name)
    return dest


def snakemake(cwd: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
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


def shard_count(profile: str, root: Path = REPO) -> tuple[int, int]:
    """Jobs of the baseline evaluation and of the LLM evaluation (lsa.workflow.shards)."""
    cfg, s, _ = profile_settings(profile, root)
    return len(evaluation_shards(cfg)), len(split_runs(list(s.llm_policies()), llm_evaluation_shard_count(cfg)))


def profile_settings(profile: str, root: Path = REPO) -> tuple[dict, WorkflowSettings, Paths]:
    cfg = yaml.safe_load((root / "config" / f"{profile}.yaml").read_text())
    return cfg, WorkflowSettings.from_config(cfg), Paths.for_profile(profile, root)


def full_dag(s: WorkflowSettings, shards: tuple[int, int], cfg: dict) -> dict[str, int]:
    """The jobs of a whole run of a profile (`cfg`: the loaded profile; its cold_start: section adds that
    stage, an enabled lora_grpo: section the LoRA-GRPO training and its evaluation)."""
    lora = {"lora_grpo": 1, "lora_evaluation": 1} if lora_grpo_config(cfg) is not None else {}
    jobs = {**({"cold_start": 1} if cfg.get("cold_start") is not None else {}), **lora, "evaluate_shard": shards[0],
            "evaluate_baselines": 1, "best_known": 1, "prompt_length": 1, "pretrain": len(s.model_sizes), "sft": 1, "grpo": len(s.all_runs), "llm_evaluation_run": shards[1],
            "llm_evaluation": 1, "figures": 1, "report": 1, "all": 1}
    if s.primitives:   # the primitives-only arm (workflow.primitives)
        jobs.update(pretrain_primitives=1, grpo_primitives=1, primitives_evaluation=1)
    return {**jobs, "rl_train": len(s.rl_runs)} if s.rl_runs else jobs


def rule_outputs(profile: str, root: Path) -> list[Path]:
    """Every rule output of a profile (what lsa.workflow.paths says the rules produce)."""
    _, s, p = profile_settings(profile, root)
    out = [p.evaluation, p.best_known, p.prompt_length, p.sft_done, p.sft_log, p.llm_evaluation]
    evaluation_jobs, llm_jobs = shard_count(profile, root)
    out += [p.evaluation_shard(i) for i in range(evaluation_jobs)] + [p.llm_evaluation_run(i) for i in range(llm_jobs)]
    out += [f for a, seed in s.rl_runs for f in (p.rl_model(a, seed), p.rl_log(a, seed))]
    for size in s.model_sizes:
        out += [p.base_model_done(size), p.pretrain_log(size)]
    for run in s.all_runs:
        out += [p.final_model_done(run), p.grpo_log(run)]
    if s.primitives:
        out += [p.base_model_done(PRIMITIVES_RUN), p.pretrain_log(PRIMITIVES_RUN), p.final_model_done(PRIMITIVES_RUN),
                p.grpo_log(PRIMITIVES_RUN), p.primitives_evaluation, p.primitives_programs]
    return out + figure_outputs(p, s) + list(p.report_files().values())


def _paths_in(value) -> list[str]:
    if isinstance(value, dict):
        return [*(k for k in value if isinstance(k, str)), *(x for v in value.values() for x in _paths_in(v))]
    if isinstance(value, list):
        return [x for v in value for x in _paths_in(v)]
    return [value] if isinstance(value, str) else []


# ---------------------------------------------------------------------------------- fast
@pytest.mark.parametrize("profile", PROFILES)
def test_every_stage_slice_passes_the_profile_check(profile):
    """Each stage command checks the slice it runs from with check_profile (lsa evaluate does):
    a slice of a valid profile must pass it. The evaluation slice of the default profile once
    failed: it was checked against the workflow's defaults (family grid at another budget)."""
    cfg, _, _ = profile_settings(profile, Path("."))
    sections = set(profile_sections())
    # slices made of profile sections (evaluation, best-known, pretrain, GRPO, SFT, RL, cold start,
    # LoRA); the figures', prompt study's and LLM evaluation's slices carry derived settings instead
    slices = {stage: data for stage, data in stage_configs(cfg).items() if set(data) <= sections}
    assert {"evaluation", "grpo-main", f"pretrain-{cfg.get('model', {}).get('size', 'micro')}"} <= set(slices)
    failures = {}
    for stage, data in slices.items():
        try:
            check_profile(data)
        except ConfigError as exc:
            failures[stage] = str(exc)
    assert failures == {}


@pytest.mark.parametrize("profile", PROFILES)
def test_slices_hold_settings_only_and_parameters_hold_every_path(profile):
    cfg, s, paths = profile_settings(profile, Path("."))
    slices = stage_configs(cfg)
    expected = {"evaluation", "best_known", "prompt_length", "sft", "llm_evaluation", "figures", *(["rl"] if s.rl_runs else []),
                *(["cold_start"] if cfg.get("cold_start") is not None else []),
                *(["lora_grpo"] if lora_grpo_config(cfg) is not None else []),
                *(f"pretrain-{size}" for size in s.model_sizes), *(f"grpo-{run}" for run in s.all_runs),
                *([f"pretrain-{PRIMITIVES_RUN}", f"grpo-{PRIMITIVES_RUN}", "primitives_evaluation"] if s.primitives else [])}
    assert set(slices) == expected
    for stage, data in slices.items():  # no path, no path key, anywhere in a slice
        assert not any("results" in x or x in ("output", "output_dir", "log_csv", "base_model") for x in _paths_in(data)), stage
    for run in DIRECT_RUNS:             # the direct routing is the policy's (direct_variant), from `direct:`
        assert slices[f"grpo-{run}"]["grpo"]["paradigm"] == "direct" and "direct" in slices[f"grpo-{run}"]
    assert slices["grpo-G4"]["grpo"]["num_generations"] == 4           # the Fig. 2 ablations are config only
    if "lambda-perf2" in s.all_runs:
        assert slices["grpo-lambda-perf2"]["grpo"]["lambda_perf"] == 2.0
    stages = [*(st for st in slices if st != "rl"), *(rl_stage(a, seed) for a, seed in s.rl_runs), "report"]
    for stage in stages:                # the rl slice serves every rl-<algorithm>-s<seed> stage
        params = stage_parameters(stage, paths, s)
        for key, value in params.items():
            if isinstance(value, str) and key not in ("size", "run", "algorithm"):
                assert value.startswith((str(paths.results), str(paths.figures), "reference")), (stage, key, value)
    assert stage_parameters("grpo-direct-sft", paths, s)["base"] == str(paths.sft_dir)
    assert stage_parameters("grpo-main", paths, s)["done"] == str(paths.final_model_done("main"))
    assert (paths.results == Path("results")) == (profile == "default")  # every profile has its own directories


def test_every_policy_family_is_trained_with_every_seed_alike():
    cfg, s, _ = profile_settings("default")
    assert s.training_seeds == (0, 1, 2) and s.model_sizes == ("tiny", "micro", "nano")
    families = {"main": "tiny", "size-micro": "micro", "size-nano": "nano"}
    assert s.families == families
    runs = {run: (family, seed) for run, family, seed in s.family_runs}
    assert runs["main"] == ("main", 0) and runs["main-s2"] == ("main", 2) and runs["size-nano-s1"] == ("size-nano", 1)
    assert len(runs) == 9 and set(runs) <= set(s.all_runs)
    slices = stage_configs(cfg)
    reference = slices["grpo-main"]
    for run, (family, seed) in runs.items():
        grpo = slices[f"grpo-{run}"]
        assert grpo["grpo"]["seed"] == seed and grpo["model"]["size"] == families[family]
        # the same GRPO settings for every size and seed (figure h compares sizes trained alike)
        assert {**grpo["grpo"], "seed": 0} == reference["grpo"], run
        assert {**grpo["model"], "size": "tiny"} == reference["model"], run
    pretrain = {size: slices[f"pretrain-{size}"] for size in s.model_sizes}
    assert all({**p, "model": {**p["model"], "size": "tiny"}} == pretrain["tiny"] for p in pretrain.values())
    # the Fig. 2 ablations and the direct runs are single-seed, with the first training seed
    for run in ("G4", "lambda-perf2", *DIRECT_RUNS):
        assert slices[f"grpo-{run}"]["grpo"]["seed"] == 0 and not any(r.startswith(f"{run}-s") for r in s.all_runs)


def test_llm_evaluation_runs_lsa_code_only_paired_with_the_baselines():
    cfg, s, paths = profile_settings("default", Path("."))
    llm = stage_configs(cfg)["llm_evaluation"]
    assert llm["evaluation"]["methods"] == ["lsa-code"]
    assert llm["evaluation"]["instances"] == cfg["evaluation"]["instances"]  # same instances and budgets
    assert all(g["budgets_s"] == [cfg["figures"]["budget_s"]] for g in llm["family_instances"])
    policies = llm["policies"]
    assert {r for r, m in policies.items() if m["grid"] == "evaluation"} == {"main", "main-s1", "main-s2"}
    assert policies["size-micro-s2"] == {"policy": "size-micro", "train_seed": 2, "model_size": "micro",
                                         "grid": "family"}
    assert policies["base"]["grid"] == "family" and policies["base"]["train_seed"] is None
    models = stage_parameters("llm_evaluation", paths, s)["models"]
    assert set(models) == set(policies) and models["main-s1"] == str(paths.final_model("main-s1"))
    assert models["base"] == str(paths.base_model("tiny"))
    # changing a baseline method leaves the LLM evaluation's slice as it is
    cfg["evaluation"]["methods"] = cfg["evaluation"]["methods"][:-1]
    assert stage_configs(cfg)["llm_evaluation"] == llm


def test_unseen_densities_and_the_largest_training_n_come_from_the_profile():
    cfg, _, _ = profile_settings("default")
    cfg["grpo"] = {**cfg["grpo"], "train_regimes": ["dense", "ultra-dense"], "train_n": [50, 200, 1000]}
    s = WorkflowSettings.from_config(cfg)
    assert s.unseen_regimes == ["sparse"] and s.train_n_max == 1000
    training = stage_configs(cfg)["figures"]["training"]
    assert training == {"train_regimes": ["dense", "ultra-dense"], "train_n_max": 1000, "unseen_regimes": ["sparse"]}


@pytest.mark.parametrize("change, message", [
    (lambda c: c["workflow"]["llm_evaluation"].update(family_instances={"N": [300], "K": 8, "regimes": ["dense"],
                                                                         "seeds": [0]}),
     "the baseline evaluation does not have"),
    (lambda c: c["workflow"]["grpo_runs"].update({"main-s1": {}}), "reserved"),
    (lambda c: c["workflow"].update(training_seeds=[0, 0]), "training_seeds"),
    (lambda c: c["workflow"].update(size_run_overrides={"max_steps": 10}), "unknown key"),
])
def test_bad_workflow_settings_are_one_clear_error(change, message):
    cfg, _, _ = profile_settings("default")
    change(cfg)
    with pytest.raises(ConfigError, match=message):
        WorkflowSettings.from_config(cfg)


def test_prompt_study_stops_the_naive_prompt_at_naive_max_n():
    cfg, _, _ = profile_settings("smoke")
    study = {"N": [10, 30], "K": 3, "regimes": ["dense"], "seeds": [0], "naive_max_n": 10, "max_tokens": 64}
    table = prompt_length_study({"network": cfg["network"], "prompt_study": study}, progress=False)
    assert set(table[table["serializer"] == "hierarchical"]["N"]) == {10, 30}
    assert set(table[table["serializer"] == "naive"]["N"]) == {10}
    hier = table[table["serializer"] == "hierarchical"]
    assert (hier["tokens"] <= 64).all()
    # what the bounded prompt keeps: 64 tokens hold no pair, so the prompt claim would fail on it
    assert (hier["top_pairs"] == 10).all() and (hier["top_pairs_named"] == 0).all()
    assert table[table["serializer"] == "naive"]["top_pairs"].isna().all()


def test_slice_depends_only_on_its_sections():
    cfg, _, _ = profile_settings("smoke")
    before = stage_configs(cfg)
    cfg["figures"] = {**cfg.get("figures", {}), "dpi": 77}
    after = stage_configs(cfg)
    assert {k for k in before if before[k] != after[k]} == {"figures"}


def test_write_if_changed_keeps_mtime(tmp_path):
    target = tmp_path / "stage.yaml"
    assert write_if_changed(target, {"a": 1})
    os.utime(target, (1_000_000, 1_000_000))
    assert not write_if_changed(target, {"a": 1})
    assert target.stat().st_mtime == 1_000_000
    assert write_if_changed(target, {"a": 2})
    assert target.stat().st_mtime > 1_000_000


def test_notebooks_are_clean_parameterised_and_call_the_library():
    _, s, paths = profile_settings("default", Path("."))
    notebooks = sorted((REPO / "notebooks").glob("*.ipynb"))
    assert {p.stem for p in notebooks} >= set(NOTEBOOK_STAGES)
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        assert nb.metadata["kernelspec"]["name"] == "lsa", path.name
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{path.name}: exactly one cell tagged 'parameters'"
        source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        assert "lsa.cli" not in source and "main([" not in source, f"{path.name} calls the CLI"
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{path.name} is stored with outputs"
        if path.stem in NOTEBOOK_STAGES:  # it declares every parameter the Snakefile passes
            declared = set(re.findall(r"^(\w+) =", tagged[0].source, re.M))
            assert set(stage_parameters(NOTEBOOK_STAGES[path.stem], paths, s)) <= declared, path.name


def test_dry_run_lists_the_whole_dag(tmp_path):
    root = copy_repo(tmp_path)
    # the default profile: the same check in test_fresh_copy_plans_a_full_run_whatever_the_mtimes
    for profile in ("smoke", "paper"):
        res = snakemake(root, "-n", "--config", f"profile={profile}")
        assert res.returncode == 0, res.stderr[-3000:] + res.stdout[-3000:]
        cfg, s, _ = profile_settings(profile, root)
        assert jobs_of(res.stdout) == full_dag(s, shard_count(profile, root), cfg), profile


def test_fresh_copy_plans_a_full_run_whatever_the_mtimes(tmp_path):
    """A fresh clone recomputes everything, whatever order git wrote the files in: nothing it ships is
    a workflow output, so every job is planned because its output is missing."""
    root = copy_repo(tmp_path)
    files = [p for p in root.rglob("*") if p.is_file()]
    rng = random.Random(12)
    rng.shuffle(files)
    now = time.time()
    for i, path in enumerate(files):  # checkout order: random, seconds apart
        os.utime(path, (now - 10_000 + i, now - 10_000 + i))
    res = snakemake(root, "-n")
    assert res.returncode == 0, res.stderr[-3000:]
    cfg, s, _ = profile_settings("default", root)
    assert jobs_of(res.stdout) == full_dag(s, shard_count("default", root), cfg)
    reasons = re.findall(r"reason: (.*)", res.stdout)
    assert reasons and all("Missing output files" in r or "Input files updated by another job" in r for r in reasons)
    assert "missing provenance" not in res.stdout + res.stderr


def test_rl_baselines_the_evaluation_runs_are_trained_by_the_workflow(tmp_path):
    root = copy_repo(tmp_path)
    cfg_path = root / "config" / "smoke.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["evaluation"]["methods"] = [m for m in cfg["evaluation"]["methods"] if m not in ("dqn", "ppo")] + ["dqn", "ppo"]
    cfg.setdefault("rl", {})["seeds"] = [0, 1]
    cfg_path.write_text(yaml.safe_dump(cfg))
    res = snakemake(root, "-n", "-p", "--config", "profile=smoke")
    assert res.returncode == 0, res.stderr[-3000:]
    assert jobs_of(res.stdout)["rl_train"] == 4                     # 2 algorithms x 2 seeds
    command = next(line for line in res.stdout.splitlines() if "lsa.cli evaluate" in line and "--shard" in line)
    assert "--model dqn=results/smoke/models/rl-dqn-s0.zip --model ppo=results/smoke/models/rl-ppo-s0.zip" in command


def test_unknown_profile_is_a_clear_error(tmp_path):
    root = copy_repo(tmp_path)
    res = snakemake(root, "-n", "--config", "profile=nope")
    assert res.returncode != 0
    assert "unknown profile 'nope'" in res.stdout + res.stderr


def test_config_change_reruns_only_what_depends_on_it(tmp_path):
    root = copy_repo(tmp_path)
    assert snakemake(root, "-n", "--config", "profile=smoke").returncode == 0  # writes the slices
    for path in rule_outputs("smoke", root):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("placeholder for the DAG test\n")
    res = snakemake(root, "--touch", "--cores", "1", "--config", "profile=smoke")
    assert res.returncode == 0, res.stderr[-3000:]
    res = snakemake(root, "-n", "--config", "profile=smoke")
    assert "Nothing to be done" in res.stdout + res.stderr, res.stdout[-3000:]

    cfg_path = root / "config" / "smoke.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    # 1. a figure setting: the figures and the report (which reads the figure settings)
    cfg["figures"]["dpi"] = int(cfg["figures"].get("dpi", 100)) + 1
    cfg_path.write_text(yaml.safe_dump(cfg))
    jobs = jobs_of(snakemake(root, "-n", "--config", "profile=smoke").stdout)
    assert set(jobs) == {"figures", "report", "all"}, jobs
    snakemake(root, "--touch", "--cores", "1", "--config", "profile=smoke")
    # 2. a baseline method: the baseline evaluation and what is drawn from it, no training, no LLM evaluation
    cfg["evaluation"]["methods"] = [m for m in cfg["evaluation"]["methods"] if m != "de"]
    cfg_path.write_text(yaml.safe_dump(cfg))
    jobs = jobs_of(snakemake(root, "-n", "--config", "profile=smoke").stdout)
    assert set(jobs) == {"evaluate_shard", "evaluate_baselines", "figures", "report", "all"}, jobs
    snakemake(root, "--touch", "--cores", "1", "--config", "profile=smoke")
    # 2b. an evaluation budget: the baselines and lsa-code (paired per instance and budget), no training
    cfg["evaluation"]["instances"][0]["budgets_s"] = [0.2]
    cfg_path.write_text(yaml.safe_dump(cfg))
    jobs = jobs_of(snakemake(root, "-n", "--config", "profile=smoke").stdout)
    assert set(jobs) == {"evaluate_shard", "evaluate_baselines", "llm_evaluation_run", "llm_evaluation", "figures",
                         "report", "all"}, jobs
    snakemake(root, "--touch", "--cores", "1", "--config", "profile=smoke")
    # 3. one ablation's override: that GRPO run and figure d only
    cfg["workflow"]["grpo_runs"]["G4"] = {"num_generations": 2}
    cfg_path.write_text(yaml.safe_dump(cfg))
    jobs = jobs_of(snakemake(root, "-n", "--config", "profile=smoke").stdout)
    assert jobs == {"grpo": 1, "figures": 1, "all": 1}, jobs


# ---------------------------------------------------------------------------------- slow
def run_smoke_pipeline(dest: Path) -> tuple[Path, subprocess.CompletedProcess, float]:
    """The whole smoke pipeline in a fresh copy of the repository at `dest` (the session fixture
    `smoke_run` in conftest.py runs it once for every test that needs it)."""
    root = copy_repo(dest)
    t0 = time.perf_counter()
    res = snakemake(root, "--cores", "2", "--config", "profile=smoke", timeout=3 * SMOKE_BUDGET_S)
    return root, res, time.perf_counter() - t0


@pytest.mark.slow
def test_smoke_profile_runs_end_to_end(smoke_run):
    root, res, wall_s = smoke_run
    logs = root / "results" / "smoke" / "logs"
    tails = "".join(f"\n--- {p.name}\n" + p.read_text()[-1500:] for p in sorted(logs.glob("*.log"))) if logs.is_dir() else ""
    assert res.returncode == 0, res.stderr[-4000:] + tails
    paths = Paths.for_profile("smoke", root)
    for f in rule_outputs("smoke", root):
        assert f.is_file() and f.stat().st_size > 0, f
        if f.is_relative_to(paths.results) and f.suffix in (".csv", ".json"):
            assert sidecar_path(f).is_file(), f"{f} has no provenance sidecar"
    prov = json.loads(sidecar_path(paths.evaluation).read_text())
    assert {"git_commit", "versions", "cpu", "date", "config", "config_path"} <= set(prov)
    assert "results" not in json.dumps(prov["config"])  # the slice it ran from holds no paths
    for stage in ("evaluation", "grpo-main", "figures", "report"):
        assert paths.notebook(stage).is_file()  # executed notebooks are kept for inspection
    print(f"smoke pipeline: {wall_s:.0f} s")
    # a second invocation has nothing to do
    again = snakemake(root, "-n", "--config", "profile=smoke")
    assert "Nothing to be done" in again.stdout + again.stderr, again.stdout[-3000:]


@pytest.mark.slow
def test_figures_and_report_rerender_from_smoke_results_alone(smoke_run, tmp_path):
    root, res, _ = smoke_run
    assert res.returncode == 0
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = tmp_path / "figures"
    t0 = time.perf_counter()
    cli = subprocess.run([sys.executable, "-m", "lsa.cli", "figures", "--results", "results/smoke", "--figures",
                          str(out), "--strict"], cwd=root, capture_output=True, text=True, timeout=120, env=env)
    assert cli.returncode == 0, cli.stderr + cli.stdout
    assert time.perf_counter() - t0 <= 60
    _cfg, smoke, _paths = profile_settings("smoke", root)    # the figures the smoke profile makes (no arm)
    assert all(f.is_file() and f.stat().st_size > 0 for f in figure_outputs(Paths(root / "results/smoke", out), smoke))
    cli = subprocess.run([sys.executable, "-m", "lsa.cli", "report", "--results", "results/smoke", "--output",
                          str(tmp_path / "report")], cwd=root, capture_output=True, text=True, timeout=120, env=env)
    assert cli.returncode == 0, cli.stderr + cli.stdout
    assert (tmp_path / "report" / "report.md").read_text() == (root / "results/smoke/report/report.md").read_text()
