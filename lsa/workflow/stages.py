"""What the workflow runs: the `workflow:` section of a profile (WorkflowSettings: model sizes, GRPO
runs, study grids) and the per-stage config slices written to results/config/ (no paths in them).

A stage's slice holds exactly the sections it reads, so editing one config value reruns only the
stages that read it (the slices are rule inputs, rewritten only when their text changes).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import yaml

from lsa.config import load_yaml
from lsa.errors import ConfigError
from lsa.io import write_text
from lsa.rl.config import ALGORITHMS as RL_ALGORITHMS
from lsa.workflow.paths import Paths, profile_config_path

#: GRPO runs every profile has (name -> overrides of the `grpo:` section); `workflow.grpo_runs`
#: in a profile replaces them. The first five are the paper's Fig. 2 configurations.
DEFAULT_GRPO_RUNS: dict[str, dict] = {
    "main": {},
    "G4": {"num_generations": 4},
    "lambda-struct2": {"lambda_struct": 2.0},
    "lambda-perf2": {"lambda_perf": 2.0},
    "lambda-depth2": {"lambda_depth": 2.0},
}
#: the direct-paradigm runs of the cold-start figure: GRPO from the base model, and after the SFT warm start
DIRECT_RUNS = ("direct-cold", "direct-sft")
#: the main run's name; the model-size runs are "size-<size>" for every other size
MAIN_RUN = "main"
#: sections every learning stage reads (the network decides the training instances)
POLICY_SECTIONS = ("network", "model")
WORKFLOW_KEYS = ("model_sizes", "grpo_runs", "size_run_overrides", "size_pretrain_overrides", "prompt_study",
                 "llm_evaluation")


@dataclass(frozen=True)
class WorkflowSettings:
    """The `workflow:` section of a profile: what the pipeline trains and evaluates beyond the
    `evaluation:` grid. Every field has a default so that a profile may omit the section."""

    model_sizes: tuple = ("tiny",)
    """Embedded base-model sizes pretrained for the model-size figure (the first is model.size)."""
    grpo_runs: tuple = tuple(DEFAULT_GRPO_RUNS.items())
    """(run name, overrides of grpo:) pairs: main + the Fig. 2 ablations."""
    size_run_overrides: tuple = ()
    """Overrides of grpo: for the size-<size> runs (e.g. fewer steps)."""
    size_pretrain_overrides: tuple = ()
    """Overrides of pretrain: for the sizes other than the main one (e.g. fewer steps)."""
    prompt_study: tuple = ()
    """Prompt-length study grid as (key, value) pairs: N, K, regimes, seeds, max_tokens."""
    llm_evaluation: tuple = ()
    """LLM evaluation grid as (key, value) pairs: instances, budgets_s, reference_methods."""
    rl_algorithms: tuple = ()
    """RL baselines the evaluation runs (evaluation.methods ∩ dqn, ppo): each is trained by the workflow."""
    rl_seeds: tuple = (0,)
    """Training seeds of the RL baselines (rl.seeds); the evaluation uses the first."""

    @classmethod
    def from_config(cls, config: dict | None) -> "WorkflowSettings":
        config = config or {}
        section = config.get("workflow") or {}
        if not isinstance(section, dict):
            raise ConfigError("config section 'workflow' must be a mapping")
        unknown = sorted(set(section) - set(WORKFLOW_KEYS))
        if unknown:
            raise ConfigError(f"unknown key(s) in config section 'workflow': {', '.join(unknown)} "
                              f"(known: {', '.join(sorted(WORKFLOW_KEYS))})")
        main_size = (config.get("model") or {}).get("size", "tiny")
        sizes = [s for s in (section.get("model_sizes") or [main_size]) if s != main_size]
        runs = section.get("grpo_runs") or DEFAULT_GRPO_RUNS
        if MAIN_RUN not in runs:
            raise ConfigError(f"workflow.grpo_runs must contain the '{MAIN_RUN}' run")
        for name in runs:
            if name in DIRECT_RUNS or name.startswith("size-") or not name.replace("-", "").isalnum():
                raise ConfigError(f"workflow.grpo_runs: run name {name!r} is reserved or not alphanumeric")
        methods = (config.get("evaluation") or {}).get("methods") or []
        rl_seeds = tuple((config.get("rl") or {}).get("seeds") or (0,))
        return cls(model_sizes=(main_size, *sizes), rl_algorithms=tuple(a for a in RL_ALGORITHMS if a in methods),
                   rl_seeds=rl_seeds,
                   grpo_runs=tuple((k, dict(v or {})) for k, v in runs.items()),
                   size_run_overrides=tuple(dict(section.get("size_run_overrides") or {}).items()),
                   size_pretrain_overrides=tuple(dict(section.get("size_pretrain_overrides") or {}).items()),
                   prompt_study=tuple(dict(section.get("prompt_study") or {}).items()),
                   llm_evaluation=tuple(dict(section.get("llm_evaluation") or {}).items()))

    @property
    def main_size(self) -> str:
        return self.model_sizes[0]

    @property
    def dynamics_runs(self) -> list[str]:
        """Runs of figure d: main and its ablations (in config order)."""
        return [name for name, _ in self.grpo_runs]

    @property
    def size_runs(self) -> dict[str, str]:
        """Run name -> model size, for the model-size curve (main is the main size)."""
        return {MAIN_RUN: self.main_size, **{f"size-{s}": s for s in self.model_sizes[1:]}}

    @property
    def all_runs(self) -> list[str]:
        """Every GRPO run the workflow trains."""
        return [*self.dynamics_runs, *DIRECT_RUNS, *list(self.size_runs)[1:]]

    @property
    def rl_runs(self) -> list[tuple[str, int]]:
        """(algorithm, seed) of every RL baseline the workflow trains."""
        return [(a, seed) for a in self.rl_algorithms for seed in self.rl_seeds]

    def rl_models(self, paths: Paths) -> dict[str, str]:
        """Method -> the trained model the evaluation runs it with (its first seed)."""
        return {a: str(paths.rl_model(a, self.rl_seeds[0])) for a in self.rl_algorithms}

    def run_size(self, run: str) -> str:
        return self.size_runs.get(run, self.main_size)

    def policies(self) -> dict[str, str | None]:
        """Policy name -> GRPO run whose final model it is (None: the main-size base model)."""
        return {"base": None, **{run: run for run in self.size_runs}}

    def start_model(self, run: str, paths: Paths) -> Path:
        """The model a GRPO run starts from: the SFT model (direct-sft), else the base model of its size."""
        return paths.sft_dir if run == "direct-sft" else paths.base_model(self.run_size(run))

    def start_model_done(self, run: str, paths: Paths) -> Path:
        return paths.sft_done if run == "direct-sft" else paths.base_model_done(self.run_size(run))

    def policy_models(self, paths: Paths) -> dict[str, str]:
        """Policy name -> model directory (what the LLM evaluation loads)."""
        return {name: str(paths.base_model(self.main_size) if run is None else paths.final_model(run))
                for name, run in self.policies().items()}


# ====================================================================== per-stage config slices
def _pick(config: dict, *sections: str) -> dict:
    return {s: copy.deepcopy(config[s]) for s in sections if s in config}


def _with(config: dict, sections: tuple, key: str, overrides: dict, size: str) -> dict:
    """The `sections` of config with `overrides` applied to section `key` and model.size = size."""
    out = _pick(config, *sections, key)
    out.setdefault("model", {})["size"] = size
    out.setdefault(key, {}).update(overrides)
    return out


def stage_configs(config: dict) -> dict[str, dict]:
    """Stage name -> the config slice that stage runs from (settings only: the workflow passes
    every path to the stage as a rule param)."""
    s = WorkflowSettings.from_config(config)
    out: dict[str, dict] = {"evaluation": _pick(config, "network", "evaluation")}
    out["prompt_length"] = {**_pick(config, *POLICY_SECTIONS), "prompt_study": dict(s.prompt_study)}
    for size in s.model_sizes:
        overrides = dict(s.size_pretrain_overrides) if size != s.main_size else {}
        out[f"pretrain-{size}"] = _with(config, POLICY_SECTIONS, "pretrain", overrides, size)
    for run, overrides in s.grpo_runs:
        out[f"grpo-{run}"] = _with(config, POLICY_SECTIONS, "grpo", overrides, s.main_size)
    for run, size in list(s.size_runs.items())[1:]:
        out[f"grpo-{run}"] = _with(config, POLICY_SECTIONS, "grpo", dict(s.size_run_overrides), size)
    # direct paradigm: `direct:` says how its GRPO runs differ (lsa.policy.config.direct_variant)
    for run in DIRECT_RUNS:
        out[f"grpo-{run}"] = _with(config, (*POLICY_SECTIONS, "direct"), "grpo", {"paradigm": "direct"}, s.main_size)
    out["sft"] = _with(config, POLICY_SECTIONS, "sft", {}, s.main_size)

    llm = dict(s.llm_evaluation)
    evaluation = copy.deepcopy(config.get("evaluation") or {})
    evaluation.update(instances=llm.get("instances", evaluation.get("instances", [])),
                      budgets_s=llm.get("budgets_s", evaluation.get("budgets_s", [1.0])),
                      methods=list(llm.get("reference_methods", ["random", "greedy"])))
    out["llm_evaluation"] = {
        **_pick(config, *POLICY_SECTIONS, "inference"), "evaluation": evaluation,
        "policy_sizes": {name: s.run_size(run) if run else s.main_size for name, run in s.policies().items()},
        "train_grid": {k: v for k, v in (config.get("grpo") or {}).items()
                       if k in ("train_n", "train_k", "train_regimes")},
    }
    if s.rl_algorithms:
        out["rl"] = _pick(config, "network", "rl")
    out["figures"] = {"figures": dict(config.get("figures") or {}), "dynamics_runs": s.dynamics_runs}
    return out


def stage_parameters(stage: str, paths: Paths, settings: WorkflowSettings) -> dict:
    """The papermill parameters of a stage's notebook: its config slice and every path it reads or
    writes, from `paths`. The Snakefile passes them; a notebook run by hand asks `notebook_parameters`."""
    p, s = paths, settings
    common = {"config": p.stage_config(stage)}
    kind, _, name = stage.partition("-")
    if stage == "evaluation":
        out = {**common, "models": s.rl_models(p), "output": p.evaluation}
    elif stage == "prompt_length":
        out = {**common, "tokenizer": p.base_model(s.main_size), "output": p.prompt_length}
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
        out = {**common, "policies": s.policy_models(p), "output": p.llm_evaluation}
    elif kind == "rl" and stage.count("-") == 2:
        algorithm, seed = name.split("-s")
        out = {"config": p.stage_config("rl"), "algorithm": algorithm, "seed": int(seed),
               "model_output": p.rl_model(algorithm, int(seed)), "log_output": p.rl_log(algorithm, int(seed))}
    elif stage == "figures":
        out = {"results": p.results, "figures": p.figures}
    elif stage == "report":
        out = {"reference": Paths.reference().results, "results": p.results, "output": p.report_dir}
    else:
        raise ConfigError(f"unknown workflow stage {stage!r}")
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in out.items()}


def rl_stage(algorithm: str, seed: int) -> str:
    """The stage name of an RL baseline's training run (its notebook: 08_rl_train)."""
    return f"rl-{algorithm}-s{seed}"


def notebook_parameters(profile: str, stage: str, root: str | Path = ".", **given) -> dict:
    """The parameters a stage notebook runs with: those the workflow passed (`given`), and for any
    left None (a notebook opened by hand) what the workflow would pass for `profile` — its config
    slices are then written when they changed. Nothing is read or written when all were passed."""
    if all(v is not None for v in given.values()):
        return dict(given)
    config = load_yaml(profile_config_path(profile, root))
    paths = Paths.for_profile(profile, root)
    write_stage_configs(config, paths)
    defaults = stage_parameters(stage, paths, WorkflowSettings.from_config(config))
    return {**defaults, **{k: v for k, v in given.items() if v is not None}}


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


__all__ = ["WorkflowSettings", "DEFAULT_GRPO_RUNS", "DIRECT_RUNS", "MAIN_RUN", "stage_configs", "stage_parameters",
           "notebook_parameters", "rl_stage", "write_if_changed", "write_stage_configs", "load_stage_config"]
