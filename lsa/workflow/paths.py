"""Where every stage of the workflow reads and writes: results, models, logs, figures, the report,
the committed reference. The only module that decides a path under results/, figures/ or reference/.

The Snakefile takes its inputs, outputs and params from here and passes them to the notebooks;
`lsa figures` and `lsa report` take their defaults from here; config slices carry no paths.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lsa.errors import ConfigError
from lsa.policy.lora_grpo import LORA_RUN
from lsa.policy.pretrain import PRETRAIN_DONE
from lsa.policy.sft import SFT_DONE
from lsa.policy.train import TRAIN_DONE

#: workflow profiles (config/<name>.yaml); `default` writes to results/ and figures/ themselves,
#: every other profile to results/<name>/ and figures/<name>/
PROFILES = ("smoke", "default", "paper")
DEFAULT_PROFILE = "default"
#: the committed run every fresh run is compared with (`lsa report`); never a workflow output
REFERENCE_DIR = Path("reference")
#: where the figures and report notebooks render the reference when a run has no results (git ignores figures/)
REFERENCE_RENDER_DIR = Path("figures") / "reference"
FIGURE_EXTS = ("pdf", "png")
TABLE_EXTS = ("csv", "md", "tex")


@dataclass(frozen=True)
class Paths:
    """The files of one run: `results` and `figures` are directories (relative to the repo root)."""

    results: Path
    figures: Path

    @classmethod
    def for_profile(cls, profile: str = DEFAULT_PROFILE, root: str | Path = ".") -> "Paths":
        root = Path(root)
        if profile == DEFAULT_PROFILE:
            return cls(root / "results", root / "figures")
        return cls(root / "results" / profile, root / "figures" / profile)

    @classmethod
    def reference(cls, root: str | Path = ".") -> "Paths":
        """The committed reference run (reference/results, reference/figures)."""
        return cls(Path(root) / REFERENCE_DIR / "results", Path(root) / REFERENCE_DIR / "figures")

    # ---------------------------------------------------------------- tidy results
    @property
    def evaluation(self) -> Path:
        """Baselines: methods x instances x budgets x seeds (`evaluate`)."""
        return self.results / "evaluation.csv"

    def evaluation_shard(self, shard: int | str) -> Path:
        """One shard job's rows of the baseline evaluation (lsa.workflow.shards); gathered into `evaluation`."""
        return self.results / "shards" / f"evaluation-{shard}.csv"

    def llm_evaluation_run(self, shard: int | str) -> Path:
        """One job's policy runs of the LLM evaluation (lsa.workflow.shards.split_runs); gathered into `llm_evaluation`."""
        return self.results / "shards" / f"llm_evaluation-{shard}.csv"

    @property
    def prompt_length(self) -> Path:
        """Prompt tokens of the hierarchical and the naive serialization per instance."""
        return self.results / "prompt_length.csv"

    @property
    def llm_evaluation(self) -> Path:
        """lsa-code of every policy (base, GRPO main, model sizes) + reference methods, same protocol."""
        return self.results / "llm_evaluation.csv"

    @property
    def primitives_evaluation(self) -> Path:
        """The primitives-only arm as lsa-code (no complete search in its vocabulary), with share_of_best_known."""
        return self.results / "primitives_evaluation.csv"

    @property
    def primitives_programs(self) -> Path:
        """The primitives-only arm's programs: its seed programs and a census sample, with the net methods each calls."""
        return self.results / "primitives_programs.csv"

    @property
    def best_known(self) -> Path:
        """Best-known utility of every evaluation instance: long runs of the strongest methods (`best_known`)."""
        return self.results / "best_known.csv"

    @property
    def committed_best_known(self) -> Path:
        """The committed counterpart of `best_known` (reference/results/best_known.csv for the default
        profile, <root>/reference/results/<profile>/... for another), read where `best_known.from_reference`
        is set. Derived from `results` (root/results[/profile]), so it holds for an absolute root too."""
        nested = self.results.name != "results"
        root = self.results.parent.parent if nested else self.results.parent
        return root / REFERENCE_DIR / "results" / (self.results.name if nested else "") / self.best_known.name

    @property
    def best_known_cache(self) -> Path:
        """One JSON per instance solved by `best_known` (run state, not a rule output: a rerun resumes)."""
        return self.results / "runs" / "best_known"

    @property
    def cold_start(self) -> Path:
        """Every completion of the zero-shot cold-start experiment on a real chat model (`lsa cold-start`)."""
        return self.results / "cold_start.csv"

    @property
    def cold_start_summary(self) -> Path:
        """Valid share per paradigm and N with 95 % Wilson intervals (the cold-start table)."""
        return self.results / "cold_start_summary.csv"

    @property
    def lora_evaluation(self) -> Path:
        """The LoRA-GRPO adapter (lsa-code) and the classical methods beside it, same instances and budgets."""
        return self.results / "lora_evaluation.csv"

    @property
    def lora_grpo_log(self) -> Path:
        """Tidy per-step log of the LoRA-GRPO run of a real chat model, beside the embedded runs' logs."""
        return self.grpo_log(LORA_RUN)

    def pretrain_log(self, size: str) -> Path:
        """Tidy loss log of a pretraining run (exported from the in-run log when the stage ends)."""
        return self.results / "training" / f"pretrain-{size}.csv"

    def grpo_log(self, run: str) -> Path:
        """Tidy per-step GRPO log of a finished run (exported from the in-run log when it ends)."""
        return self.results / "training" / f"grpo-{run}.csv"

    @property
    def sft_log(self) -> Path:
        return self.results / "training" / "sft-direct.csv"

    # ---------------------------------------------------------------- models and run state
    def base_model(self, size: str) -> Path:
        """Pretrained embedded base model directory (save_pretrained)."""
        return self.results / "models" / f"base-{size}"

    def base_model_done(self, size: str) -> Path:
        """Written last by `pretrain`: the rule output that says the base model is complete."""
        return self.base_model(size) / PRETRAIN_DONE

    def pretrain_log_state(self, size: str) -> Path:
        """The loss log `pretrain` rewrites while it runs (run state, not a rule output: a killed
        job never leaves a half-written result behind)."""
        return self.results / "runs" / f"pretrain-{size}" / "pretrain_log.csv"

    def run_dir(self, run: str) -> Path:
        """GRPO output_dir: checkpoints (resume state, not a rule output) and the final policy."""
        return self.results / "runs" / f"grpo-{run}"

    def run_log_state(self, run: str) -> Path:
        """The log `train_grpo` rewrites while it runs (kept across a kill so a resume keeps history)."""
        return self.run_dir(run) / "train_log.csv"

    def final_model(self, run: str) -> Path:
        """The trained policy of a GRPO run (`train_grpo` saves it last, with lsa_train.json)."""
        return self.run_dir(run) / "final"

    def final_model_done(self, run: str) -> Path:
        return self.final_model(run) / TRAIN_DONE

    @property
    def sft_dir(self) -> Path:
        return self.results / "runs" / "sft-direct"

    @property
    def sft_done(self) -> Path:
        return self.sft_dir / SFT_DONE

    @property
    def sft_log_state(self) -> Path:
        return self.sft_dir / "sft_log.csv"

    @property
    def lora_adapter(self) -> Path:
        """The LoRA-GRPO adapter of the real chat model (peft folder; its base model is named inside)."""
        return self.results / "models" / LORA_RUN

    @property
    def lora_adapter_done(self) -> Path:
        """Written last into the installed adapter: the rule output that says it is complete."""
        return self.lora_adapter / TRAIN_DONE

    @property
    def lora_run_dir(self) -> Path:
        """The LoRA-GRPO run's checkpoints and in-run log (run state, not a rule output: a rerun resumes)."""
        return self.run_dir(LORA_RUN)

    def rl_model(self, algorithm: str, seed: int) -> Path:
        """A trained DQN / PPO baseline (stable-baselines3 .zip)."""
        return self.results / "models" / f"rl-{algorithm}-s{seed}.zip"

    def rl_log(self, algorithm: str, seed: int) -> Path:
        """Per-episode training log of an RL baseline."""
        return self.results / "training" / f"rl-{algorithm}-s{seed}.csv"

    # ---------------------------------------------------------------- workflow bookkeeping
    def stage_config(self, stage: str) -> Path:
        """Per-stage config slice: rewritten only when that stage's settings change."""
        return self.results / "config" / f"{stage}.yaml"

    def notebook(self, stage: str) -> Path:
        """Executed notebook of a stage, kept for inspection."""
        return self.results / "notebooks" / f"{stage}.ipynb"

    def log(self, stage: str) -> Path:
        return self.results / "logs" / f"{stage}.log"

    # ---------------------------------------------------------------- figures, the table, the report
    def figure(self, name: str, ext: str = "pdf") -> Path:
        return self.figures / f"{name}.{ext}"

    def figure_files(self, name: str, exts: tuple[str, ...] = FIGURE_EXTS) -> list[Path]:
        return [self.figure(name, ext) for ext in exts]

    @property
    def report_dir(self) -> Path:
        """The reproduction report of this run against the reference (Markdown, CSV, figure)."""
        return self.results / "report"

    def report_files(self, output: Path | None = None) -> dict[str, Path]:
        out = Path(output) if output is not None else self.report_dir
        return {"md": out / "report.md", "csv": out / "report.csv", "pdf": out / "report.pdf",
                "png": out / "report.png"}


@dataclass(frozen=True)
class Rendering:
    """What the figures and report notebooks read (`results`) and where they write (`figures`,
    `report_dir`); `note` is the line that says the committed reference stands in for a run."""

    results: Path
    figures: Path
    report_dir: Path
    note: str | None = None


def results_or_reference(profile: str = DEFAULT_PROFILE, root: str | Path = ".") -> Rendering:
    """The profile's run when it has results (its baseline evaluation), else the committed reference
    (reference/results), rendered into figures/reference/ so nothing committed is overwritten."""
    run = Paths.for_profile(profile, root)
    if run.evaluation.is_file():
        return Rendering(run.results, run.figures, run.report_dir)
    reference, out = Paths.reference(root), Path(root) / REFERENCE_RENDER_DIR
    note = (f"No results of profile {profile!r} ({run.evaluation} is absent): showing the committed reference "
            f"{reference.results} instead, written to {out}/ (`{workflow_command(profile)}` makes the profile's own).")
    return Rendering(reference.results, out, out / "report", note)


def workflow_command(profile: str = DEFAULT_PROFILE, *targets: str | Path) -> str:
    """The Snakemake command line that makes `targets` (none: the whole run) of `profile` (the targets
    come before --config, which takes every word after it)."""
    config = [] if profile == DEFAULT_PROFILE else ["--config", f"profile={profile}"]
    return " ".join(["snakemake", "--cores", "all", *map(str, targets), *config])


def profile_config_path(profile: str, root: str | Path = ".") -> Path:
    """config/<profile>.yaml; an unknown profile is a ConfigError naming the known ones."""
    path = Path(root) / "config" / f"{profile}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (Path(root) / "config").glob("*.yaml"))
        raise ConfigError(f"unknown profile {profile!r}: {path} not found (known: {', '.join(known)})")
    return path


__all__ = ["Paths", "Rendering", "PROFILES", "DEFAULT_PROFILE", "REFERENCE_DIR", "REFERENCE_RENDER_DIR", "FIGURE_EXTS",
           "TABLE_EXTS", "profile_config_path", "results_or_reference", "workflow_command"]
