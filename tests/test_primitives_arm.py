"""The primitives-only arm (issue 19's ablation): its profile section, its stages (trained like main,
with model.vocabulary primitives; no existing stage's slice changes), its Snakemake wiring, lsa-code
holding a policy to the vocabulary recorded with it, and the arm's tidy table."""
from __future__ import annotations

import copy
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from test_workflow import copy_repo, jobs_of, snakemake

import lsa.policy.inference as inference
from lsa.errors import ConfigError
from lsa.policy.config import EMBEDDED_POLICY_DIR
from lsa.policy.models import recorded_vocabulary
from lsa.policy.vocabulary import complete_searches_in, net_calls
from lsa.workflow.figures import FIGURES, figure_outputs
from lsa.workflow.paths import Paths
from lsa.workflow.primitives import CENSUS_COLUMNS, evaluate_arm, program_census
from lsa.workflow.settings import PRIMITIVES_RUN, WorkflowSettings, check_profile
from lsa.workflow.stages import stage_configs, stage_parameters

REPO = Path(__file__).resolve().parent.parent
ARM_STAGES = {f"pretrain-{PRIMITIVES_RUN}", f"grpo-{PRIMITIVES_RUN}", "primitives_evaluation"}


def profile(name: str) -> dict:
    return yaml.safe_load((REPO / "config" / f"{name}.yaml").read_text())


# ---------------------------------------------------------------------------------- the profile section
def test_default_and_paper_profiles_run_the_arm_on_the_n2000_grid_smoke_does_not():
    for name in ("default", "paper"):
        s = WorkflowSettings.from_config(profile(name))
        assert s.primitives, name
        grid = s.primitives_instances[0]
        assert grid["N"] == [2000] and grid["budgets_s"] == [0.5, 2.0] and len(grid["seeds"]) >= 5
        assert set(grid["regimes"]) == {"sparse", "dense", "ultra-dense"}
    assert not WorkflowSettings.from_config(profile("smoke")).primitives


@pytest.mark.parametrize("arm, match", [
    ({"enabled": True}, "enabled needs instances"),
    ({"enabled": True, "instances": {"N": [3000], "K": 8, "regimes": ["dense"], "seeds": [0], "budgets_s": [2.0]}},
     r"workflow\.primitives\.instances: 1 run\(s\) that the evaluation grid does not have \(dense N=3000"),
    ({"enabled": True, "instances": {"N": [2000], "K": 8, "regimes": ["dense"], "seeds": [0], "budgets_s": [7.0]}},
     "evaluation grid does not have"),
    ({"census_samples": 999}, "census_samples"),
    ({"colour": "blue"}, "colour"),
])
def test_a_bad_arm_section_is_one_config_error(arm, match):
    cfg = profile("default")
    cfg["workflow"]["primitives"] = arm
    with pytest.raises(ConfigError, match=match):
        check_profile(cfg)


def test_the_arm_s_run_name_is_reserved():
    cfg = profile("default")
    cfg["workflow"]["grpo_runs"] = {"main": {}, PRIMITIVES_RUN: {"num_generations": 4}}
    with pytest.raises(ConfigError, match="reserved"):
        check_profile(cfg)


# ---------------------------------------------------------------------------------- the stages
def test_the_arm_is_trained_like_main_and_changes_no_other_stage_s_slice():
    cfg = profile("default")
    on = stage_configs(cfg)
    off_cfg = copy.deepcopy(cfg)
    off_cfg["workflow"]["primitives"] = {"enabled": False}
    off = stage_configs(off_cfg)
    assert set(on) - set(off) == ARM_STAGES
    assert {k: v for k, v in on.items() if k not in ARM_STAGES} == off   # the committed reference stays valid
    for stage, same_as in ((f"pretrain-{PRIMITIVES_RUN}", "pretrain-tiny"), (f"grpo-{PRIMITIVES_RUN}", "grpo-main")):
        arm, main = copy.deepcopy(on[stage]), copy.deepcopy(on[same_as])
        assert arm["model"].pop("vocabulary") == "primitives" and "vocabulary" not in main["model"]
        assert arm == main, stage                                  # everything else exactly as main's
    ev = on["primitives_evaluation"]
    assert ev["model"]["vocabulary"] == "primitives" and ev["evaluation"]["methods"] == ["lsa-code"]
    assert ev["evaluation"]["instances"] == [dict(g) for g in WorkflowSettings.from_config(cfg).primitives_instances]
    assert ev["inference"] == on["llm_evaluation"]["inference"]   # the protocol of the LLM evaluation
    assert list(ev["policies"]) == [PRIMITIVES_RUN]


def test_stage_parameters_point_at_the_arm_s_own_files(tmp_path):
    cfg = profile("default")
    s, p = WorkflowSettings.from_config(cfg), Paths.for_profile("default", tmp_path)
    pre = stage_parameters(f"pretrain-{PRIMITIVES_RUN}", p, s)
    grpo = stage_parameters(f"grpo-{PRIMITIVES_RUN}", p, s)
    ev = stage_parameters("primitives_evaluation", p, s)
    assert pre["model_dir"] == grpo["base"] == str(p.base_model(PRIMITIVES_RUN)) != str(p.base_model("tiny"))
    assert grpo["run_dir"] == str(p.run_dir(PRIMITIVES_RUN)) and ev["model"] == str(p.final_model(PRIMITIVES_RUN))
    assert ev["output"] == str(p.results / "primitives_evaluation.csv")
    smoke = WorkflowSettings.from_config(profile("smoke"))
    with pytest.raises(ConfigError, match="unknown workflow stage"):
        stage_parameters("primitives_evaluation", p, smoke)
    names = {f.name for f in FIGURES.values() if f.made}
    assert names == {"fig_i_primitives", "table_primitives"}
    assert not names & {f.stem for f in figure_outputs(p, smoke)} and names <= {f.stem for f in figure_outputs(p, s)}


def test_with_the_reference_results_only_the_arm_s_jobs_are_planned(tmp_path):
    """The design constraint: a clone whose results/ is the committed reference plans the arm's three
    jobs for the arm's tables, and nothing that the reference already holds (the arm's own outputs,
    committed in the reference too, are taken out first)."""
    root = copy_repo(tmp_path)
    shutil.copytree(root / "reference" / "results", root / "results")
    arm = Paths.for_profile("default", root)
    for done in (arm.primitives_evaluation, arm.primitives_programs, arm.base_model_done(PRIMITIVES_RUN),
                 arm.final_model_done(PRIMITIVES_RUN), arm.pretrain_log(PRIMITIVES_RUN), arm.grpo_log(PRIMITIVES_RUN)):
        done.unlink(missing_ok=True)
    for path in root.rglob("*"):     # results newer than the code, as after a copy into a clone
        if path.is_file():
            t = 1_700_000_000 if path.relative_to(root).parts[0] == "results" else 1_600_000_000
            os.utime(path, (t, t))
    res = snakemake(root, "-n", "results/primitives_evaluation.csv", "results/primitives_programs.csv")
    assert res.returncode == 0, res.stderr[-3000:]
    assert jobs_of(res.stdout) == {"pretrain_primitives": 1, "grpo_primitives": 1, "primitives_evaluation": 1}


# ---------------------------------------------------------------------------------- lsa-code and the vocabulary
@pytest.fixture(scope="module")
def primitives_policy(tmp_path_factory) -> Path:
    """The shipped embedded policy (trained with the full vocabulary: its seed programs call
    local_search and ils) recorded as a primitives policy: lsa-code must run none of those."""
    model = tmp_path_factory.mktemp("policy") / "primitives"
    shutil.copytree(EMBEDDED_POLICY_DIR, model)
    record = json.loads((model / "lsa_train.json").read_text())
    record.setdefault("model", {})["vocabulary"] = "primitives"
    (model / "lsa_train.json").write_text(json.dumps(record))
    return model


def test_lsa_code_never_runs_a_complete_search_for_a_primitives_policy(primitives_policy, monkeypatch):
    from lsa.methods.protocol import run_method
    from lsa.sim.generate import generate_ppp

    assert recorded_vocabulary(primitives_policy) == "primitives" and recorded_vocabulary(EMBEDDED_POLICY_DIR) == "full"
    ran = []
    real = inference.run_programs

    def spy(sources, *args, **kwargs):   # the real sandbox run, with the sources it was given noted
        ran.extend(sources)
        return real(sources, *args, **kwargs)

    monkeypatch.setattr(inference, "run_programs", spy)
    net = generate_ppp(200, 8, "dense", 0)
    row, _ = run_method(net, "lsa-code", 1.0, 0, {"model": str(primitives_policy)})
    assert row["vocabulary"] == "primitives" and row["programs_outside_vocabulary"] >= 1   # its seeds were refused
    programs = [s for s in ran if s != inference.PRIMING_PROGRAM]
    assert not any(complete_searches_in(s) for s in programs)
    assert row["programs_tried"] >= row["programs_outside_vocabulary"]     # refused programs count as tried
    assert row["valid"] or row["fallback_random"]     # nothing left in the vocabulary: the flagged fallback


def test_the_arm_s_table_and_census_have_their_columns(primitives_policy, tmp_path):
    cfg = stage_configs(profile("default"))["primitives_evaluation"]
    cfg["evaluation"]["instances"] = [{"N": [150], "K": 4, "regimes": ["dense"], "seeds": [0, 1], "budgets_s": [0.5]}]
    cfg["evaluation"]["workers"] = 1
    best = pd.DataFrame([{"instance": f"dense-N150-K4-s{s}", "best_known": 1e9, "proven_optimal": False}
                         for s in (0, 1)])
    table = evaluate_arm(cfg, primitives_policy, best, [], progress=False)
    assert {"share_of_best_known", "best_known", "best_known_proven", "vocabulary", "programs_outside_vocabulary",
            "policy", "run", "train_seed", "utility", "valid"} <= set(table.columns)
    assert len(table) == 2 and (table["vocabulary"] == "primitives").all() and (table["policy"] == PRIMITIVES_RUN).all()
    assert np.allclose(table["share_of_best_known"], table["utility"] / 1e9)
    census = program_census({**cfg, "census_samples": 2}, primitives_policy, progress=False)
    assert list(census.columns) == CENSUS_COLUMNS
    assert set(census["origin"]) == {"seed", "sampled"} and (census["origin"] == "sampled").sum() == 4
    seeds = census[census["origin"] == "seed"]
    assert all(c for c in seeds["complete_searches"])     # the full policy's seeds: what the filter refused
    with pytest.raises(ConfigError, match="not 'primitives'"):
        evaluate_arm(cfg, EMBEDDED_POLICY_DIR, best, [], progress=False)


def test_net_calls_lists_each_called_method_once():
    source = "def assign(net, rng):\n    a = net.greedy()\n    a = net.descend(a)\n    b = net.descend(a)\n    return a\n"
    assert sorted(net_calls(source)) == ["descend", "greedy"]
    assert net_calls("def assign(net, rng) oops") == []
