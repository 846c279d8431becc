"""Every result, model, figure and per-stage config path of a workflow profile, in one place.

The Snakefile, the stage notebooks, `lsa figures` and the tests ask this module where things live;
nothing else hard-codes a path under results/ or figures/. It also writes the per-stage config slices.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import yaml

#: workflow profiles (config/<name>.yaml); `default` writes to results/ and figures/ themselves,
#: every other profile to results/<name>/ and figures/<name>/ (so cached default results sit at the top)
PROFILES = ("smoke", "default", "paper")
DEFAULT_PROFILE = "default"

#: GRPO runs every profile has (name → overrides of the `grpo:` section); `workflow.grpo_runs`
#: in a profile replaces the overrides. The first five are the paper's Fig. 2 configurations.
DEFAULT_GRPO_RUNS: dict[str, dict] = {
    "main": {},
    "G4": {"num_generations": 4},
    "lambda-struct2": {"lambda_struct": 2.0},
    "lambda-perf2": {"lambda_perf": 2.0},
    "lambda-depth2": {"lambda_depth": 2.0},
}
#: legend labels of the GRPO runs in figure d
RUN_LABELS = {"main": "G=8, λ=(1,1,1) (baseline)", "G4": "G=4", "lambda-struct2": "λ1=2 (R_struct)",
              "lambda-perf2": "λ2=2 (R_perf)", "lambda-depth2": "λ3=2 (R_depth)"}
#: the direct-paradigm runs of the cold-start figure: GRPO from the base model, and after the SFT warm start
DIRECT_RUNS = ("direct-cold", "direct-sft")
#: the main run's name; the model-size runs are "size-<size>" for every other size
MAIN_RUN = "main"

#: figure name → (panel letter, one-line caption). Files: <figures>/<name>.pdf and .png
FIGURES: dict[str, tuple[str, str]] = {
    "fig_a_utility_vs_n": ("a", "spectral utility vs N per method at a fixed budget (log N)"),
    "fig_b_anytime": ("b", "spectral utility vs time budget at the largest N (anytime curves)"),
    "fig_c_exact_share": ("c", "share of the exact optimum at N <= 20"),
    "fig_d_grpo_dynamics": ("d", "GRPO training dynamics: total reward and R_struct, R_perf, R_depth"),
    "fig_e_cold_start": ("e", "cold start: code vs direct vs SFT + direct"),
    "fig_f_prompt_tokens": ("f", "prompt tokens vs N, hierarchical vs naive serialization"),
    "fig_g_generalisation": ("g", "generalisation to larger N and other densities"),
    "fig_h_model_size": ("h", "model-size scaling of the trained policy"),
}
TABLE = "table_throughput"
TABLE_EXTS = ("csv", "md", "tex")
FIGURE_EXTS = ("pdf", "png")


@dataclass(frozen=True)
class Paths:
    """Paths of one profile. `results` and `figures` are directories (relative to the repo root)."""

    results: Path
    figures: Path

    @classmethod
    def for_profile(cls, profile: str = DEFAULT_PROFILE, root: str | Path = ".") -> "Paths":
        root = Path(root)
        if profile == DEFAULT_PROFILE:
            return cls(root / "results", root / "figures")
        return cls(root / "results" / profile, root / "figures" / profile)

    # ---------------------------------------------------------------- tidy results (figure inputs)
    @property
    def evaluation(self) -> Path:
        """Baselines: methods x instances x budgets x seeds (`lsa evaluate`)."""
        return self.results / "evaluation.csv"

    @property
    def prompt_length(self) -> Path:
        """Prompt tokens of the hierarchical and the naive serialization per instance."""
        return self.results / "prompt_length.csv"

    @property
    def llm_evaluation(self) -> Path:
        """lsa-code of every policy (base, GRPO main, model sizes) + reference methods, same protocol."""
        return self.results / "llm_evaluation.csv"

    def pretrain_log(self, size: str) -> Path:
        return self.results / "training" / f"pretrain-{size}.csv"

    def grpo_log(self, run: str) -> Path:
        """Tidy per-step GRPO log of a finished run (copied from the run directory at the end)."""
        return self.results / "training" / f"grpo-{run}.csv"

    @property
    def sft_log(self) -> Path:
        return self.results / "training" / "sft-direct.csv"

    # ---------------------------------------------------------------- models and run state
    def base_model(self, size: str) -> Path:
        """Pretrained embedded base model directory (save_pretrained)."""
        return self.results / "models" / f"base-{size}"

    def pretrain_log_state(self, size: str) -> Path:
        """The loss log `lsa pretrain` rewrites while it runs (exported to pretrain_log at the end, so a
        killed job never leaves a half-written rule output behind)."""
        return self.base_model(size) / "pretrain_log.csv"

    def base_model_done(self, size: str) -> Path:
        """Written last by `lsa pretrain`: the target that says the base model is complete."""
        return self.base_model(size) / "lsa_pretrain.json"

    def run_dir(self, run: str) -> Path:
        """GRPO output_dir: checkpoints (resume state, not a rule output) and the final policy."""
        return self.results / "runs" / f"grpo-{run}"

    def run_log_state(self, run: str) -> Path:
        """The log `lsa train` rewrites while it runs (kept across a kill so a resume keeps history)."""
        return self.run_dir(run) / "train_log.csv"

    def final_model(self, run: str) -> Path:
        """The trained policy of a GRPO run (`lsa train` saves it last, with lsa_train.json)."""
        return self.run_dir(run) / "final"

    def final_model_done(self, run: str) -> Path:
        return self.final_model(run) / "lsa_train.json"

    @property
    def sft_done(self) -> Path:
        return self.sft_dir / "lsa_sft.json"

    @property
    def sft_dir(self) -> Path:
        return self.results / "runs" / "sft-direct"

    @property
    def sft_log_state(self) -> Path:
        return self.sft_dir / "sft_log.csv"

    # ---------------------------------------------------------------- workflow bookkeeping
    def stage_config(self, stage: str) -> Path:
        """Per-stage config slice: rewritten only when that stage's settings change."""
        return self.results / "config" / f"{stage}.yaml"

    def notebook(self, stage: str) -> Path:
        """Executed notebook of a stage, kept for inspection."""
        return self.results / "notebooks" / f"{stage}.ipynb"

    def log(self, stage: str) -> Path:
        return self.results / "logs" / f"{stage}.log"

    # ---------------------------------------------------------------- figures and the table
    def figure(self, name: str, ext: str = "pdf") -> Path:
        if name not in FIGURES and name != TABLE and not name.startswith("{"):  # "{figure}": a rule pattern
            raise KeyError(f"unknown figure {name!r}; known: {', '.join(FIGURES)}, {TABLE}")
        return self.figures / f"{name}.{ext}"

    def figure_files(self, name: str) -> list[Path]:
        exts = TABLE_EXTS if name == TABLE else FIGURE_EXTS
        return [self.figure(name, ext) for ext in exts]

    def all_figure_files(self) -> list[Path]:
        return [p for name in [*FIGURES, TABLE] for p in self.figure_files(name)]

    def figure_inputs(self, name: str, settings: "WorkflowSettings | None" = None) -> list[Path]:
        """The tidy results files a figure reads (what its rule depends on)."""
        s = settings or WorkflowSettings.from_config({})
        if name in ("fig_a_utility_vs_n", "fig_b_anytime", "fig_c_exact_share", TABLE):
            return [self.evaluation, self.llm_evaluation]
        if name == "fig_d_grpo_dynamics":
            return [self.grpo_log(r) for r in s.dynamics_runs]
        if name == "fig_e_cold_start":
            return [self.grpo_log(MAIN_RUN), *(self.grpo_log(r) for r in DIRECT_RUNS)]
        if name == "fig_f_prompt_tokens":
            return [self.prompt_length]
        if name in ("fig_g_generalisation", "fig_h_model_size"):
            return [self.llm_evaluation]
        raise KeyError(name)


# ====================================================================== workflow settings
@dataclass(frozen=True)
class WorkflowSettings:
    """The `workflow:` section of a profile: what the pipeline trains and evaluates beyond the
    `evaluation:` grid. Every field has a default so that a profile may omit the section."""

    model_sizes: tuple = ("tiny", "small")
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
    """LLM evaluation grid as (key, value) pairs: instances, budgets_s, reference_methods, policies."""

    @classmethod
    def from_config(cls, config: dict) -> "WorkflowSettings":
        from lsa.errors import ConfigError

        section = dict((config or {}).get("workflow") or {})
        known = {"model_sizes", "grpo_runs", "size_run_overrides", "size_pretrain_overrides", "prompt_study",
                 "llm_evaluation"}
        unknown = sorted(set(section) - known)
        if unknown:
            raise ConfigError(f"unknown key(s) in config section 'workflow': {', '.join(unknown)} "
                              f"(known: {', '.join(sorted(known))})")
        main_size = ((config or {}).get("model") or {}).get("size", "tiny")
        sizes = list(section.get("model_sizes") or [main_size])
        if main_size in sizes:
            sizes.remove(main_size)
        runs = section.get("grpo_runs") or DEFAULT_GRPO_RUNS
        if MAIN_RUN not in runs:
            raise ConfigError(f"workflow.grpo_runs must contain the '{MAIN_RUN}' run")
        for name in runs:
            if name in DIRECT_RUNS or name.startswith("size-") or not name.replace("-", "").isalnum():
                raise ConfigError(f"workflow.grpo_runs: run name {name!r} is reserved or not alphanumeric")
        return cls(model_sizes=(main_size, *sizes),
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
        """Run name → model size, for the model-size curve (main is the main size)."""
        return {MAIN_RUN: self.main_size, **{f"size-{s}": s for s in self.model_sizes[1:]}}

    @property
    def all_runs(self) -> list[str]:
        """Every GRPO run the workflow trains."""
        return [*self.dynamics_runs, *DIRECT_RUNS, *list(self.size_runs)[1:]]

    def policies(self) -> dict[str, str]:
        """Policy name → GRPO run whose final model it is ('base' = the main-size base model)."""
        return {"base": "", **{run: run for run in self.size_runs}}


# ====================================================================== per-stage config slices
#: sections every learning stage reads (the network decides the training instances)
_POLICY_SECTIONS = ("network", "model")


def _pick(config: dict, *sections: str) -> dict:
    return {s: copy.deepcopy(config[s]) for s in sections if s in config}


def stage_configs(config: dict, paths: Paths) -> dict[str, dict]:
    """Stage name → the config slice that stage runs from, with every path filled in from `paths`.

    A stage's slice holds exactly the sections it reads, so editing one section invalidates only
    the stages that read it (the slice files are the rules' inputs).
    """
    s = WorkflowSettings.from_config(config)
    out: dict[str, dict] = {}

    ev = _pick(config, "network", "evaluation")
    ev.setdefault("evaluation", {})["output"] = str(paths.evaluation)
    out["evaluation"] = ev

    out["prompt_length"] = {**_pick(config, "network", "model"),
                            "prompt_study": dict(s.prompt_study),
                            "tokenizer": str(paths.base_model(s.main_size)),
                            "output": str(paths.prompt_length)}

    for size in s.model_sizes:
        sl = _pick(config, *_POLICY_SECTIONS, "pretrain")
        sl.setdefault("model", {})["size"] = size
        if size != s.main_size:
            sl.setdefault("pretrain", {}).update(dict(s.size_pretrain_overrides))
        sl.setdefault("pretrain", {}).update(output_dir=str(paths.base_model(size)),
                                             log_csv=str(paths.pretrain_log_state(size)))
        out[f"pretrain-{size}"] = sl

    def grpo_slice(run: str, size: str, overrides: dict, base_model: Path) -> dict:
        sl = _pick(config, *_POLICY_SECTIONS, "grpo")
        sl.setdefault("model", {})["size"] = size
        grpo = sl.setdefault("grpo", {})
        grpo.update(overrides)
        grpo.update(base_model=str(base_model), output_dir=str(paths.run_dir(run)),
                    log_csv=str(paths.run_log_state(run)))
        return sl

    for run, overrides in s.grpo_runs:
        out[f"grpo-{run}"] = grpo_slice(run, s.main_size, overrides, paths.base_model(s.main_size))
    for run, size in list(s.size_runs.items())[1:]:
        out[f"grpo-{run}"] = grpo_slice(run, size, dict(s.size_run_overrides), paths.base_model(size))

    # direct paradigm (`lsa train --paradigm direct`): the `direct:` section says how its GRPO runs
    # differ from the code run; the SFT warm start is its own stage (`lsa train --sft-only`)
    sft = _pick(config, *_POLICY_SECTIONS, "sft")
    sft.setdefault("sft", {}).update(base_model=str(paths.base_model(s.main_size)),
                                     output_dir=str(paths.sft_dir), log_csv=str(paths.sft_log_state))
    out["sft"] = sft
    for run, base in (("direct-cold", paths.base_model(s.main_size)), ("direct-sft", paths.sft_dir)):
        sl = grpo_slice(run, s.main_size, {"paradigm": "direct"}, base)
        sl["direct"] = copy.deepcopy(config.get("direct") or {})
        sl["direct"].update(cold_output_dir=str(paths.run_dir("direct-cold")),
                            warm_output_dir=str(paths.run_dir("direct-sft")))
        out[f"grpo-{run}"] = sl

    llm = dict(s.llm_evaluation)
    ev_section = dict(config.get("evaluation") or {})
    out["llm_evaluation"] = {
        **_pick(config, *_POLICY_SECTIONS, "inference"),
        "evaluation": {
            "threads": ev_section.get("threads", 1),
            "instances": llm.get("instances", ev_section.get("instances", [])),
            "budgets_s": llm.get("budgets_s", ev_section.get("budgets_s", [1.0])),
            "methods": list(llm.get("reference_methods", ["random", "greedy"])),
            "method_params": ev_section.get("method_params", {}),
            "output": str(paths.llm_evaluation),
        },
        "policies": {name: (str(paths.base_model(s.main_size)) if name == "base" else str(paths.final_model(run)))
                     for name, run in s.policies().items()},
        "policy_sizes": {name: (s.main_size if name == "base" else s.size_runs[run])
                         for name, run in s.policies().items()},
        "train_grid": {k: v for k, v in (config.get("grpo") or {}).items()
                       if k in ("train_n", "train_k", "train_regimes")},
    }
    out["figures"] = {"figures": dict(config.get("figures") or {}),
                      "dynamics_runs": s.dynamics_runs, "run_labels": RUN_LABELS}
    return out


def write_if_changed(path: Path, data: dict) -> bool:
    """Write `data` as YAML unless the file already holds exactly that text; True if written.
    Untouched files keep their mtime, so Snakemake leaves the stages that read them up to date."""
    text = ("# generated by lsa.paths.write_stage_configs from the profile; do not edit\n"
            + yaml.safe_dump(data, sort_keys=True, default_flow_style=None, allow_unicode=True))
    path = Path(path)
    if path.is_file() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return True


def write_stage_configs(config: dict, paths: Paths) -> dict[str, Path]:
    """Write every stage's config slice (only those that changed); returns stage → slice path."""
    out = {}
    for stage, data in stage_configs(config, paths).items():
        write_if_changed(paths.stage_config(stage), data)
        out[stage] = paths.stage_config(stage)
    return out


def load_stage_config(path: str | Path) -> dict:
    with open(path) as fh:
        return yaml.safe_load(fh) or {}


def profile_config_path(profile: str, root: str | Path = ".") -> Path:
    """config/<profile>.yaml; an unknown profile is a ConfigError naming the known ones."""
    from lsa.errors import ConfigError

    path = Path(root) / "config" / f"{profile}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (Path(root) / "config").glob("*.yaml"))
        raise ConfigError(f"unknown profile {profile!r}: {path} not found (known: {', '.join(known)})")
    return path


def ensure_stage_config(profile: str, stage: str, root: str | Path = ".") -> Path:
    """The slice a stage runs from, (re)written from config/<profile>.yaml when it changed — what a
    notebook opened by hand uses when the workflow did not pass `config`."""
    from lsa.config import load_yaml

    paths = Paths.for_profile(profile, root)
    slices = write_stage_configs(load_yaml(profile_config_path(profile, root)), paths)
    return slices[stage]
