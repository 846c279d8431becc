"""The parameters of a stage notebook: those the workflow passed, or, for a notebook opened by hand
(JupyterLab, papermill without -p), what the workflow would pass for a profile.

Run by the workflow (every parameter passed) nothing is checked, read or written: the rule inputs
already exist. Run by hand in a checkout that lacks an earlier stage's output:
- a stage that reads it stops at once with `MissingInput`: one sentence naming the file and the
  `snakemake` command that makes it;
- the prompt-length study counts tokens with the shipped embedded policy's tokenizer while the run
  has no pretrained base model, and says so;
- the figures and the report show the committed reference while the run has no results, and say so
  (`lsa.workflow.paths.results_or_reference`).
"""
from __future__ import annotations

from pathlib import Path

from lsa.config import load_yaml
from lsa.errors import LSAError
from lsa.policy.config import EMBEDDED_POLICY_DIR
from lsa.workflow.paths import Paths, profile_config_path, results_or_reference, workflow_command
from lsa.workflow.settings import WorkflowSettings
from lsa.workflow.stages import rl_stage, stage_parameters, write_stage_configs

#: how many missing files a MissingInput names and puts on its command line
_NAMED = 2


class MissingInput(LSAError):
    """A stage notebook run by hand lacks a file an earlier stage makes."""


def notebook_parameters(profile: str, stage: str, root: str | Path = ".", log=print, **given) -> dict:
    """The parameters a stage notebook runs with: those the workflow passed (`given`), and for any
    left None what the workflow would pass for `profile` (its config slices are then written when
    they changed). A stage named without its seed (`rl-dqn`) takes the profile's first `rl.seeds`.
    Raises MissingInput when a defaulted input is absent; `log` gets the line saying what stands in."""
    if all(v is not None for v in given.values()):
        return dict(given)
    config = load_yaml(profile_config_path(profile, root))
    paths, settings = Paths.for_profile(profile, root), WorkflowSettings.from_config(config)
    write_stage_configs(config, paths)
    kind, _, name = stage.partition("-")
    if kind == "rl" and "-s" not in name:
        stage = rl_stage(name, settings.rl_seeds[0])
    params = stage_parameters(stage, paths, settings)
    unset = {k for k, v in given.items() if v is None}
    note = missing = None
    if stage in ("figures", "report") and "results" in unset:
        shown = results_or_reference(profile, root)
        params.update({"results": str(shown.results), "figures": str(shown.figures)} if stage == "figures" else
                      {"results": str(shown.results), "output": str(shown.report_dir)})
        note = shown.note
        if note is None:  # the run's own results: every file the stage reads must be there
            missing = missing_inputs(stage, profile, paths, settings)
    elif stage == "prompt_length" and "tokenizer" in unset and not paths.base_model_done(settings.main_size).is_file():
        params["tokenizer"] = str(EMBEDDED_POLICY_DIR)
        note = (f"No pretrained base model yet ({paths.base_model(settings.main_size)} is absent): counting tokens "
                f"with the tokenizer of the shipped embedded policy ({_shown(EMBEDDED_POLICY_DIR)}); "
                f"`{workflow_command(profile, paths.prompt_length)}` counts them with the run's own base model.")
    elif unset & {"models", "base"}:
        missing = missing_inputs(stage, profile, paths, settings)
    if missing:
        raise MissingInput(missing)
    if note:
        log(note)
    return {**params, **{k: v for k, v in given.items() if v is not None}}


def stage_inputs(stage: str, paths: Paths, settings: WorkflowSettings) -> tuple[str, str, list[Path]]:
    """What a stage reads that an earlier stage makes: what one of them is, what several are, the
    files the workflow waits for."""
    s, (kind, _, name) = settings, stage.partition("-")
    if stage == "evaluation":
        return "trained RL baseline", "trained RL baselines", [paths.rl_model(a, s.rl_seeds[0]) for a in s.rl_algorithms]
    if stage in ("prompt_length", "sft"):
        return "pretrained base model", "", [paths.base_model_done(s.main_size)]
    if kind == "grpo":
        return "model the run starts from", "", [s.start_model_done(name, paths)]
    if stage == "llm_evaluation":
        return "trained policy", "trained policies", s.llm_model_done(paths)
    if stage == "figures":
        from lsa.workflow.figures import figure_inputs

        return "result the figures read", "results the figures read", figure_inputs(paths, s)
    if stage == "report":
        from lsa.workflow.figures.claims import claim_inputs

        return "result the report reads", "results the report reads", claim_inputs(paths, s)
    return "", "", []


def missing_inputs(stage: str, profile: str, paths: Paths, settings: WorkflowSettings) -> str | None:
    """The sentence that names a stage's absent inputs and the command that makes them (None: all there)."""
    one, several, files = stage_inputs(stage, paths, settings)
    missing = [f for f in files if not Path(f).is_file()]
    if not missing:
        return None
    if len(missing) <= _NAMED:
        what = one if len(missing) == 1 else several
        return (f"missing the {what} {' and '.join(map(str, missing))}: "
                f"run `{workflow_command(profile, *missing)}` first.")
    # many: the stage's own output (Snakemake makes what it lacks first), or the whole run
    own = {"evaluation": paths.evaluation, "llm_evaluation": paths.llm_evaluation}.get(stage)
    command = workflow_command(profile, *([own] if own else []))
    return (f"missing {len(missing)} {several} ({', '.join(map(str, missing[:_NAMED]))}, ...): "
            f"`{command}` makes them{' and then runs this stage' if own else ' (the whole run)'}.")


def _shown(path: Path) -> str:
    """`path` relative to the working directory when it lies below it (the notebooks run from the root)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


__all__ = ["MissingInput", "notebook_parameters", "stage_inputs", "missing_inputs"]
