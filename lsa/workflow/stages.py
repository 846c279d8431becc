"""The per-stage config slices written to results/config/ (no paths in them) and every stage's
notebook parameters (its slice and its paths, from lsa.workflow.paths; a notebook run by hand:
lsa.workflow.notebook); what runs: `settings`.

A stage's slice holds exactly the sections it reads, so editing one config value reruns only the
stages that read it (the slices are rule inputs, rewritten only when their text changes).
"""
from __future__ import annotations

import copy
from pathlib import Path

import yaml

from lsa.errors import ConfigError
from lsa.io import write_text
from lsa.policy.lora_grpo import lora_grpo_config
from lsa.workflow.paths import Paths
from lsa.workflow.settings import (
    BASE_POLICY,
    DEFAULT_GRPO_RUNS,
    DIRECT_RUNS,
    MAIN_RUN,
    POLICY_SECTIONS,
    PRIMITIVES_RUN,
    WorkflowSettings,
)

#: the only settings of `evaluation:` the LLM evaluation reads (baseline changes leave it be); where
#: the other families run is `workflow.llm_evaluation` (lsa.workflow.sections.LLMEvaluationPlan)
LLM_EVALUATION_KEYS = ("threads", "workers", "budgets_s")


# ====================================================================== per-stage config slices
def _pick(config: dict, *sections: str) -> dict:
    return {s: copy.deepcopy(config[s]) for s in sections if s in config}


def _with(config: dict, sections: tuple, key: str, overrides: dict, size: str) -> dict:
    """The `sections` of config with `overrides` applied to section `key` and model.size = size."""
    out = _pick(config, *sections, key)
    out.setdefault("model", {})["size"] = size
    out.setdefault(key, {}).update(overrides)
    return out


def _llm_evaluation(config: dict, s: WorkflowSettings) -> dict:
    """The LLM evaluation's slice: lsa-code only (the baselines come from evaluation.csv) — the main
    family on the evaluation grid (same instances and budgets: paired with the baselines), the other
    families and the base model on the family grid at the figures' budget."""
    ev = config.get("evaluation") or {}
    params = (ev.get("method_params") or {}).get("lsa-code")
    evaluation = {k: copy.deepcopy(ev[k]) for k in LLM_EVALUATION_KEYS if k in ev}
    evaluation["instances"] = [{k: copy.deepcopy(v) for k, v in g.items() if k != "methods"}
                               for g in ev.get("instances") or []]
    evaluation.update(methods=["lsa-code"], method_params={"lsa-code": copy.deepcopy(params)} if params else {})
    grpo = {**(config.get("grpo") or {}), **s.main_overrides}
    return {**_pick(config, *POLICY_SECTIONS, "inference"), "evaluation": evaluation,
            "family_instances": [dict(g) for g in s.family_instances], "policies": s.llm_policies(),
            "train_grid": {k: v for k, v in grpo.items() if k in ("train_n", "train_k", "train_regimes")}}


def _primitives(config: dict, s: WorkflowSettings) -> dict[str, dict]:
    """The primitives-only arm's slices: pretraining and GRPO exactly as the main policy's (model.size,
    pretrain:, grpo: with main's overrides, the first training seed) with model.vocabulary = primitives,
    and its evaluation (lsa-code on workflow.primitives.instances, the LLM evaluation's settings)."""
    out = {f"pretrain-{PRIMITIVES_RUN}": _with(config, POLICY_SECTIONS, "pretrain", {}, s.main_size),
           f"grpo-{PRIMITIVES_RUN}": _with(config, POLICY_SECTIONS, "grpo",
                                           {**s.main_overrides, "seed": s.training_seeds[0]}, s.main_size)}
    for data in out.values():
        data["model"]["vocabulary"] = "primitives"
    evaluation = _llm_evaluation(config, s)
    evaluation["evaluation"]["instances"] = [dict(g) for g in s.primitives_instances]
    evaluation.pop("family_instances")
    evaluation["model"] = {**evaluation.get("model", {}), "vocabulary": "primitives"}
    evaluation["policies"] = {PRIMITIVES_RUN: {"policy": PRIMITIVES_RUN, "train_seed": s.training_seeds[0],
                                               "model_size": s.main_size, "grid": "evaluation"}}
    evaluation["census_samples"] = s.primitives_census
    out["primitives_evaluation"] = evaluation
    return out


def _best_known(config: dict) -> dict:
    """The best-known stage's slice: the network, the evaluation grid's instances (not its methods or
    budgets) and `best_known:`."""
    grids = [{k: copy.deepcopy(v) for k, v in g.items() if k in ("N", "K", "regimes", "seeds")}
             for g in (config.get("evaluation") or {}).get("instances") or []]
    return {**_pick(config, "network", "best_known"), "evaluation": {"instances": grids}}


def stage_configs(config: dict) -> dict[str, dict]:
    """Stage name -> the config slice that stage runs from (settings only: the workflow passes
    every path to the stage as a rule param)."""
    s = WorkflowSettings.from_config(config)
    out: dict[str, dict] = {"evaluation": _pick(config, "network", "evaluation")}
    out["best_known"] = _best_known(config)
    out["prompt_length"] = {**_pick(config, *POLICY_SECTIONS), "prompt_study": dict(s.prompt_study)}
    # every size pretrains with the same settings, and every family trains with the same GRPO settings
    # (figure h compares sizes trained alike); the seed of a run is its grpo.seed
    for size in s.model_sizes:
        out[f"pretrain-{size}"] = _with(config, POLICY_SECTIONS, "pretrain", {}, size)
    for run, family, seed in s.family_runs:
        out[f"grpo-{run}"] = _with(config, POLICY_SECTIONS, "grpo", {**s.main_overrides, "seed": seed},
                                   s.families[family])
    first = s.training_seeds[0]
    for run, overrides in s.ablation_runs:   # figure d: single-seed training curves, the first seed
        out[f"grpo-{run}"] = _with(config, POLICY_SECTIONS, "grpo", {**overrides, "seed": first}, s.main_size)
    # direct paradigm (figure e, single-seed): `direct:` says how its GRPO runs differ (lsa.policy.config.direct_variant)
    for run in DIRECT_RUNS:
        out[f"grpo-{run}"] = _with(config, (*POLICY_SECTIONS, "direct"), "grpo", {"paradigm": "direct", "seed": first},
                                   s.main_size)
    out["sft"] = _with(config, POLICY_SECTIONS, "sft", {}, s.main_size)
    out["llm_evaluation"] = _llm_evaluation(config, s)
    if s.primitives:                               # the primitives-only arm (issue 19's ablation)
        out.update(_primitives(config, s))
    if s.rl_algorithms:
        out["rl"] = _pick(config, "network", "rl")
    if config.get("cold_start") is not None:       # the real-LLM cold-start experiment (lsa cold-start)
        out["cold_start"] = _pick(config, "network", "cold_start")
    if lora_grpo_config(config) is not None:       # LoRA-GRPO of a real chat model (lsa lora-grpo, lsa lora-eval)
        out["lora_grpo"] = _pick(config, "network", "lora_grpo")
    out["figures"] = {"figures": dict(config.get("figures") or {}), "dynamics_runs": s.dynamics_runs,
                      "families": s.families, "training_seeds": list(s.training_seeds),
                      "family_runs": {f: [run for run, family, _ in s.family_runs if family == f] for f in s.families},
                      "training": {"train_regimes": list(s.train_regimes), "train_n_max": s.train_n_max,
                                   "unseen_regimes": s.unseen_regimes}}
    return out


def stage_parameters(stage: str, paths: Paths, settings: WorkflowSettings) -> dict:
    """The papermill parameters of a stage's notebook: its config slice and every path it reads or
    writes, from `paths`. The Snakefile passes them; a notebook run by hand asks
    `lsa.workflow.notebook.notebook_parameters`."""
    p, s = paths, settings
    common = {"config": p.stage_config(stage)}
    kind, _, name = stage.partition("-")
    if stage == "evaluation":
        out = {**common, "models": s.rl_models(p), "output": p.evaluation}
    elif stage == "best_known":
        out = {**common, "cache": p.best_known_cache, "reference": p.committed_best_known, "output": p.best_known}
    elif stage == "prompt_length":
        out = {**common, "tokenizer": p.base_model(s.main_size), "output": p.prompt_length}
    elif stage == f"pretrain-{PRIMITIVES_RUN}" and s.primitives:
        out = {**common, "size": PRIMITIVES_RUN, "model_dir": p.base_model(PRIMITIVES_RUN),
               "done": p.base_model_done(PRIMITIVES_RUN), "log_state": p.pretrain_log_state(PRIMITIVES_RUN),
               "log_output": p.pretrain_log(PRIMITIVES_RUN)}
    elif stage == f"grpo-{PRIMITIVES_RUN}" and s.primitives:
        name = PRIMITIVES_RUN
        out = {**common, "run": name, "base": p.base_model(name), "run_dir": p.run_dir(name),
               "done": p.final_model_done(name), "log_state": p.run_log_state(name), "log_output": p.grpo_log(name)}
    elif stage == "primitives_evaluation" and s.primitives:
        out = {**common, "model": p.final_model(PRIMITIVES_RUN), "best_known": p.best_known, "evaluation": p.evaluation,
               "llm_evaluation": p.llm_evaluation, "output": p.primitives_evaluation, "programs": p.primitives_programs}
    elif kind == "pretrain" and name in s.model_sizes:
        out = {**common, "size": name, "model_dir": p.base_model(name), "done": p.base_model_done(name),
               "log_state": p.pretrain_log_state(name), "log_output": p.pretrain_log(name)}
    elif stage == "sft":
        out = {**common, "base": p.base_model(s.main_size), "model_dir": p.sft_dir, "done": p.sft_done,
               "log_state": p.sft_log_state, "log_output": p.sft_log}
    elif kind == "grpo" and name in s.all_runs:
        out = {**common, "run": name, "base": s.start_model(name, p), "run_dir": p.run_dir(name),
               "done": p.final_model_done(name), "log_state": p.run_log_state(name), "log_output": p.grpo_log(name)}
    elif stage == "llm_evaluation":
        out = {**common, "models": s.llm_models(p), "output": p.llm_evaluation}
    elif kind == "rl" and stage.count("-") == 2:
        algorithm, seed = name.split("-s")
        out = {"config": p.stage_config("rl"), "algorithm": algorithm, "seed": int(seed),
               "model_output": p.rl_model(algorithm, int(seed)), "log_output": p.rl_log(algorithm, int(seed))}
    elif stage == "cold_start":
        out = {**common, "output": p.cold_start, "summary": p.cold_start_summary}
    elif stage == "lora_grpo":
        out = {**common, "run_dir": p.lora_run_dir, "log_output": p.lora_grpo_log, "adapter": p.lora_adapter,
               "output": p.lora_evaluation}
    elif stage == "figures":
        out = {"results": p.results, "figures": p.figures}
    elif stage == "report":
        out = {"reference": Paths.reference().results, "results": p.results, "output": p.report_dir}
    else:
        raise ConfigError(f"unknown workflow stage {stage!r}")
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in out.items()}


def rl_stage(algorithm: str, seed: int | str | None = None) -> str:
    """The stage name of an RL baseline's training run (its notebook: 08_rl_train); without a seed,
    `lsa.workflow.notebook.notebook_parameters` takes the profile's first rl.seeds."""
    return f"rl-{algorithm}" if seed is None else f"rl-{algorithm}-s{seed}"


SLICE_HEADER = "# generated by lsa.workflow.stages.write_stage_configs from the profile; do not edit\n"


def write_if_changed(path: str | Path, data: dict) -> bool:
    """Write `data` as YAML unless the file already holds exactly that text; True if written.
    Untouched files keep their mtime, so Snakemake leaves the stages that read them up to date."""
    text = SLICE_HEADER + yaml.safe_dump(data, sort_keys=True, default_flow_style=None, allow_unicode=True)
    path = Path(path)
    if path.is_file() and path.read_text() == text:
        return False
    write_text(path, text)
    return True


def write_stage_configs(config: dict, paths: Paths) -> dict[str, Path]:
    """Write every stage's config slice (only those that changed); returns stage -> slice path."""
    out = {}
    for stage, data in stage_configs(config).items():
        write_if_changed(paths.stage_config(stage), data)
        out[stage] = paths.stage_config(stage)
    return out


def load_stage_config(path: str | Path) -> dict:
    """A slice written by `write_stage_configs` (an empty file is an empty mapping)."""
    with open(path) as fh:
        return yaml.safe_load(fh) or {}


__all__ = ["WorkflowSettings", "DEFAULT_GRPO_RUNS", "DIRECT_RUNS", "MAIN_RUN", "BASE_POLICY", "stage_configs", "stage_parameters",
           "rl_stage", "write_if_changed", "write_stage_configs", "load_stage_config"]
