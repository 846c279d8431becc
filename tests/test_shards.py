"""The baseline evaluation as shard jobs (lsa.workflow.shards): shards cover the grid contiguously
with similar estimated costs, and the gathered shard tables are the table one `evaluate` call writes
(same columns, same row order, same results for the deterministic methods)."""
from __future__ import annotations

import dataclasses
import importlib.util
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from test_workflow import copy_repo, full_dag, jobs_of, profile_settings, shard_count, snakemake

from lsa.errors import ConfigError
from lsa.methods.evaluate import evaluate, evaluation_cells
from lsa.workflow.plan import cost_table, parse_jobs, plan
from lsa.workflow.provenance import write_table
from lsa.workflow.resources import launch_prefix, rule_gpus, training_processes
from lsa.workflow.settings import check_profile
from lsa.workflow.shards import (
    cell_cost_s,
    evaluate_shard,
    evaluation_shard_count,
    evaluation_shards,
    gather_shards,
    split_cells,
    split_runs,
)

REPO = Path(__file__).resolve().parent.parent
#: deterministic methods (random: a fixed number of samples; exact: where it proved optimality;
#: pulp-partitioned: where CBC solved every cluster to optimality, small clusters) on instances small
#: enough to finish within the budget
TINY = {"evaluation": {"instances": [{"N": [6, 8], "K": 3, "regimes": ["dense", "sparse"], "seeds": [0, 1]},
                                     {"N": [7], "K": 4, "regimes": ["dense"], "seeds": [2], "budgets_s": [0.4]}],
                       "methods": ["random", "greedy", "km", "exact", "pulp-partitioned"],
                       "budgets_s": [0.3, 0.6],
                       "method_params": {"random": {"max_samples": 50}, "pulp-partitioned": {"cluster_size": 4}}}}
#: columns that do not depend on timing
RESULT_COLUMNS = ["instance", "N", "K", "regime", "seed", "method", "budget_s", "utility", "throughput", "mean_rate",
                  "p5_rate", "jain", "conflicts", "valid", "repaired", "fallback_random", "refused"]


def profile(name: str) -> dict:
    return yaml.safe_load((REPO / "config" / f"{name}.yaml").read_text())


def test_shards_cover_the_grid_in_order_with_similar_costs():
    cells = evaluation_cells(profile("paper"))
    shards = evaluation_shards(profile("paper"))
    assert len(shards) == evaluation_shard_count(profile("paper")) >= 30
    assert [c.index for s in shards for c in s.cells] == list(range(len(cells)))   # contiguous, complete
    costs = [s.cost_s for s in shards]
    assert max(costs) <= 1.1 * min(costs), costs
    assert all(s.runtime_min(8) >= 10 and s.runtime_min(1) > s.runtime_min(8) for s in shards)


def test_uneven_costs_and_more_shards_than_runs_leave_no_shard_empty():
    cells = evaluation_cells(TINY)
    assert [len(s.cells) for s in split_cells(cells[:3], 10)] == [1, 1, 1]
    # one costly run among cheap ones: it fills its shard alone, no shard is empty
    skewed = [dataclasses.replace(c, budget_s=100.0 if c.index == 5 else 0.1) for c in cells]
    shards = split_cells(skewed, 4)
    assert len(shards) == 4 and all(s.cells for s in shards)
    assert [c.index for s in shards for c in s.cells] == list(range(len(cells)))
    assert any(len(s.cells) == 1 and s.cells[0].index == 5 for s in shards)
    assert sum(s.cost_s for s in shards) == pytest.approx(sum(cell_cost_s(c) for c in skewed))


def test_sharded_evaluation_equals_the_unsharded_one(tmp_path):
    """Deterministic methods (fixed seed): the gathered table, through the CSV files the workflow
    writes, is the one table of `evaluate` — same columns, rows, order and results."""
    whole = tmp_path / "whole.csv"
    write_table(evaluate(TINY, progress=False), whole)
    parts = []
    for shard in range(3):
        path = tmp_path / f"shard-{shard}.csv"
        write_table(evaluate_shard(TINY, shard, 3, progress=False), path)
        parts.append(pd.read_csv(path))
    gathered = tmp_path / "gathered.csv"
    write_table(gather_shards(parts, runs=len(evaluation_cells(TINY))), gathered)
    a = pd.read_csv(whole)
    b = pd.read_csv(gathered)
    assert list(a.columns) == list(b.columns) and len(a) == len(evaluation_cells(TINY))
    assert not a["refused"].notna().any() and a["valid"].all()        # every method ran within its budget
    # a search cut off by the wall clock is not repeatable (the busier the machine, the earlier): compare
    # exact where it proved optimality and pulp-partitioned where CBC solved every cluster, in both runs
    solved = [((t["clusters_optimal"] == t["clusters_total"]) | (t["method"] != "pulp-partitioned"))
              & ((t["optimal"] == True) | (t["method"] != "exact")) for t in (a, b)]  # noqa: E712 - NaN elsewhere
    same = solved[0] & solved[1]
    for method in ("exact", "pulp-partitioned"):
        assert same[a["method"] == method].mean() >= 0.5, method
    pd.testing.assert_frame_equal(a.loc[same, RESULT_COLUMNS], b.loc[same, RESULT_COLUMNS])
    assert (a["method"] == b["method"]).all() and (a["instance"] == b["instance"]).all()


def test_gathering_a_missing_or_repeated_shard_is_an_error():
    table = pd.DataFrame({"cell": [0, 1], "utility": [1.0, 2.0]})
    more = pd.DataFrame({"cell": [2], "utility": [3.0]})
    assert gather_shards([more, table], runs=3)["utility"].tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(ConfigError, match="shard is missing"):
        gather_shards([table], runs=3)
    with pytest.raises(ConfigError, match="shard is missing"):
        gather_shards([table, table, more], runs=3)


@pytest.mark.parametrize("workflow", [{"evaluation_shards": 0}, {"evaluation_shards": "4"},
                                      {"gpus": {"figures": 1}}, {"gpus": {"grpo": -1}}, {"gpus": [1]}])
def test_bad_shard_or_gpu_settings_are_one_config_error(workflow):
    with pytest.raises(ConfigError, match=r"workflow\.(evaluation_shards|gpus)"):
        evaluation_shard_count({"workflow": workflow})
        rule_gpus({"workflow": workflow})


def test_only_the_paper_profile_asks_for_gpus():
    asked = {rule: gpus for rule, gpus in rule_gpus(profile("paper")).items() if gpus}
    assert asked == {"pretrain": 1, "sft": 1, "grpo": 4, "llm_evaluation": 1}
    assert set(rule_gpus(profile("smoke")).values()) == set(rule_gpus(profile("default")).values()) == {0}
    assert training_processes(profile("paper")) == 4
    assert training_processes(profile("smoke")) == training_processes(profile("default")) == 1


@pytest.mark.parametrize("gpus, message", [
    ({"sft": 2}, r"^workflow\.gpus\.sft must be 0 or 1, got 2: sft runs in one process"),
    ({"grpo": 3}, r"^workflow\.grpo_runs\.main: .*4 \* 8 = 32 completions does not split evenly over 3 training "
                  r"processes \(workflow\.gpus\.grpo\)"),
    ({"grpo": 5}, r"^workflow\.grpo_runs\.main: .*over 5 training processes"),
])
def test_gpus_that_a_grpo_job_cannot_use_are_one_config_error(gpus, message):
    """The paper profile with GPUs its jobs cannot use: a GPU count that does not divide a GRPO run's
    batch (prompts_per_step * G: main 4 * 8 = 32) or several GPUs for a one-process rule."""
    cfg = profile("paper")
    cfg["workflow"]["gpus"] = {**cfg["workflow"]["gpus"], **gpus}
    with pytest.raises(ConfigError, match=message) as err:
        check_profile(cfg)
    assert "\n" not in str(err.value)
    cfg["workflow"]["gpus"]["grpo"], cfg["workflow"]["gpus"]["sft"] = 16, 1
    cfg["workflow"]["grpo_runs"]["G4"] = {"num_generations": 6}
    with pytest.raises(ConfigError, match=r"workflow\.grpo_runs\.G4: .*4 \* 6 = 24 completions .* over 16"):
        check_profile(cfg)                         # main's 32 split over 16 GPUs, this ablation's 24 do not
    cfg["workflow"]["grpo_runs"]["G4"] = {"num_generations": 4}
    assert check_profile(cfg).settings.all_runs


def test_grpo_launch_is_one_process_on_cpu_and_accelerate_on_several_gpus():
    assert launch_prefix(1, "/env/python") == "/env/python -m lsa.cli"
    four = launch_prefix(4, "/env/python").split()
    assert four[:4] == ["/env/python", "-m", "accelerate.commands.accelerate_cli", "launch"]
    assert four[-2:] == ["-m", "lsa.cli"] and "--multi_gpu" in four
    assert four[four.index("--num_processes") + 1] == "4" and four[four.index("--main_process_port") + 1] == "0"


@pytest.mark.skipif(importlib.util.find_spec("snakemake_executor_plugin_slurm") is None,
                    reason="the SLURM executor plugin is not installed (pip install -e '.[slurm]')")
def test_slurm_plan_of_the_paper_profile_has_many_evaluation_jobs_with_resources(tmp_path):
    root = copy_repo(tmp_path)
    res = snakemake(root, "-n", "--profile", "workflow/profiles/slurm", "--config", "profile=paper")
    assert res.returncode == 0, res.stderr[-3000:] + res.stdout[-3000:]
    cfg, settings, _ = profile_settings("paper", root)             # the whole DAG, planned without a cluster
    assert jobs_of(res.stdout) == full_dag(settings, shard_count("paper", root), cfg)
    jobs = [(j.rule, j.resources) for j in parse_jobs(res.stdout)]
    shards = [r for rule, r in jobs if rule == "evaluate_shard"]
    assert len(shards) >= 30
    for r in shards:
        assert int(r["runtime"]) >= 10 and int(r["mem_mb"]) > 0 and int(r["cpus_per_task"]) >= 1
        assert "gpu" not in r and r["slurm_partition"] != "gpu"                 # CPU only
    for rule, gpus in (("grpo", "4"), ("llm_evaluation_run", "1")):
        assert all(r.get("gpu") == gpus and int(r["runtime"]) > 0 for name, r in jobs if name == rule), rule
        assert all(r.get("slurm_partition") == "gpu" for name, r in jobs if name == rule), rule   # the profile's
    # GRPO on its 4 GPUs: `lsa train` as 4 processes through accelerate launch, then the run's notebook
    shells = {rule: [] for rule, _ in jobs}
    for block in res.stdout.split("\n\n"):
        rule, shell = re.search(r"^(?:local)?rule (\w+):$", block, re.M), re.search(r"^Shell command: (.*)$", block, re.M)
        if rule and shell:
            shells[rule.group(1)].append(shell.group(1))
    assert len(shells["grpo"]) == len(settings.all_runs) == sum(name == "grpo" for name, _ in jobs)
    for run, shell in zip(sorted(settings.all_runs), sorted(shells["grpo"], key=lambda c: c.split("--output ")[1])):
        launch, notebook = shell.split(" && ")
        assert re.search(r"-m accelerate\.commands\.accelerate_cli launch --multi_gpu --num_processes 4 .*"
                         rf"-m lsa\.cli train --config \S+/grpo-{run}\.yaml .*--output \S+/runs/grpo-{run} ", launch)
        assert "papermill" in notebook and f"run: {run}," in notebook
    arm = shells.get("grpo_primitives") or []      # the primitives-only arm trains like main, on 4 GPUs too
    assert len(arm) == 1 and re.search(r"--num_processes 4 .*-m lsa\.cli train --config \S+/grpo-primitives\.yaml "
                                       r".*--output \S+/runs/grpo-primitives ", arm[0])
    assert not any("accelerate" in c for rule, cs in shells.items() if rule not in ("grpo", "grpo_primitives") for c in cs)
    assert all("gpu" not in r or r["gpu"] == "0" for name, r in jobs if name in ("rl_train", "figures", "report"))
    # the cost plan: GPU-hours only where a GPU is asked for; every job's hours counted once
    table = cost_table(parse_jobs(res.stdout)).set_index("rule")
    assert table.loc["evaluate_shard", "jobs"] == len(shards) and table.loc["evaluate_shard", "gpu_hours"] == 0
    assert table.loc["grpo", "gpu_hours"] > 0 and table.loc["llm_evaluation", "gpu_hours"] == 0   # the gather step
    assert table.loc["total", "jobs"] == len(jobs) - 1     # without `all`
    assert table.loc["total", "core_hours"] == pytest.approx(table.drop("total")["core_hours"].sum(), abs=0.2)
    smoke = plan("smoke", root=root).set_index("rule")
    assert smoke.loc["total", "gpu_hours"] == 0 and smoke.loc["total", "core_hours"] < table.loc["total", "core_hours"]


def _lsa(cwd: Path, *args: str):
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "lsa.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=env)


def test_cli_runs_one_shard_and_refuses_a_shard_that_does_not_exist(tmp_path):
    cfg = {"evaluation": {"instances": [{"N": [10], "K": 3, "regimes": ["dense", "sparse"], "seeds": [0]}],
                          "methods": ["greedy"], "budgets_s": [0.1]}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    parts = []
    for shard in ("0/2", "1/2"):
        res = _lsa(tmp_path, "evaluate", "--config", "c.yaml", "--shard", shard, "--output", f"s{shard[0]}.csv")
        assert res.returncode == 0, res.stderr
        parts.append(pd.read_csv(tmp_path / f"s{shard[0]}.csv"))
    assert [len(p) for p in parts] == [1, 1]
    gathered = gather_shards(parts, runs=2)
    assert gathered["instance"].tolist() == ["dense-N10-K3-s0", "sparse-N10-K3-s0"] and "cell" not in gathered
    for bad, message in (("2/2", "--shard"), ("1/x", "--shard"), ("2/3", "shard 2 does not exist")):
        res = _lsa(tmp_path, "evaluate", "--config", "c.yaml", "--shard", bad, "--output", "bad.csv")
        assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1 and message in res.stderr, res.stderr
        assert not (tmp_path / "bad.csv").exists()


def test_plan_outside_a_checkout_is_one_clear_line(tmp_path):
    res = _lsa(tmp_path, "plan", "--profile", "smoke")
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1 and "Snakefile" in res.stderr


def test_policy_run_tables_gather_in_the_slice_order_with_the_training_grid():
    from lsa.workflow.studies import gather_policies

    slice_ = {"policies": {"main": {}, "size-nano": {}, "base": {}},
              "train_grid": {"train_n": [10, 20], "train_regimes": ["dense"]}}
    groups = split_runs(list(slice_["policies"]), 2)
    assert groups == [["main", "size-nano"], ["base"]] and split_runs(["a"], 5) == [["a"]]
    tables = [pd.DataFrame({"utility": [float(i), float(i)], "run": [run, run], "train_n_max": [999, 999],
                            "train_seed": [None if run == "base" else 0] * 2})
              for i, run in enumerate(["base", "size-nano", "main"])]
    table = gather_policies(slice_, [tables[0], pd.concat([tables[2], tables[1]])])
    assert table["run"].tolist() == ["main", "main", "size-nano", "size-nano", "base", "base"]
    assert table["train_n_max"].tolist() == [20] * 6 and str(table["train_seed"].dtype) == "Int64"
    with pytest.raises(ConfigError, match="tables hold the runs"):
        gather_policies(slice_, [tables[2]])
    with pytest.raises(ConfigError, match="tables hold the runs"):
        gather_policies(slice_, tables + [tables[2]])


def test_sharded_wall_clock_methods_give_overlapping_intervals():
    """Methods bounded by the wall clock (local-search, ils, de) are not repeatable run by run; their
    sharded and unsharded results must agree in distribution: the 95 % intervals of the mean utility
    per method overlap."""
    from lsa.workflow.stats import t_interval

    cfg = {"evaluation": {"instances": [{"N": [40], "K": 4, "regimes": ["dense", "sparse"], "seeds": [0, 1, 2]}],
                          "methods": ["local-search", "ils", "de"], "budgets_s": [0.2]}}
    whole = evaluate(cfg, progress=False)
    gathered = gather_shards([evaluate_shard(cfg, i, 4, progress=False) for i in range(4)],
                             runs=len(evaluation_cells(cfg)))
    assert whole[["instance", "method"]].equals(gathered[["instance", "method"]])
    for method in cfg["evaluation"]["methods"]:
        (_, lo_a, hi_a), (_, lo_b, hi_b) = (t_interval(t.loc[t["method"] == method, "utility"]) for t in (whole, gathered))
        assert lo_a <= hi_b and lo_b <= hi_a, (method, lo_a, hi_a, lo_b, hi_b)
