"""Every notebook as a reviewer opens it in a fresh clone: the way JupyterLab runs it (working
directory notebooks/, kernel `lsa`, papermill without -p: the default parameters), nothing under
results/ or figures/ yet.

- 07 (figures) and 09 (report) show the committed reference, say so in their first output line and
  write under figures/reference/ (nothing committed is touched);
- 01, 04, 05, 06 stop at their first data cell with one MissingInput sentence naming the absent file
  and the `snakemake` command that makes it;
- the stages that compute for minutes with the defaults run with `profile = "smoke"`, the one
  parameter changed: 02 (prompt length) counts tokens with the shipped embedded policy's tokenizer
  (no base model yet), then 03 (pretrain) makes the base model that 05 (GRPO) starts from; 08 (RL
  training) runs PPO. (04, SFT, would start from it too: the smoke workflow test runs it.)
  What these check is how a notebook resolves its defaults and that it runs, not the training's
  size: the copy's smoke profile trains less (SMALLER_SMOKE: fewer pretraining and GRPO steps and
  samples, fewer PPO steps). The smoke profile itself, at its own size, runs through the same
  notebooks in the smoke workflow test (tests/test_workflow.py).

The fast tests check `notebook_parameters` itself: explicit parameters (the workflow) are used as
given, without any stand-in.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
import yaml
from test_workflow import copy_repo, jobs_of, snakemake

from lsa.errors import LSAError
from lsa.policy.serializer import load_tokenizer
from lsa.workflow.figures import figure_outputs
from lsa.workflow.notebook import MissingInput, notebook_parameters
from lsa.workflow.paths import REFERENCE_RENDER_DIR, Paths
from lsa.workflow.provenance import sidecar_path
from lsa.workflow.settings import check_profile

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p.stem for p in (REPO / "notebooks").glob("*.ipynb"))
#: notebook -> the file its default run (or the smoke run below) must not have written when it stops
STOPS = {"01_evaluate_baselines": "results/evaluation.csv", "04_sft": "results/runs/sft-direct/lsa_sft.json",
         "05_grpo": "results/runs/grpo-main/final/lsa_train.json",
         "06_llm_evaluation": "results/llm_evaluation.csv"}
#: run with profile = "smoke" in this order (the defaults compute for minutes): 02 before 03 made a base model
SMOKE = ("02_prompt_length", "03_pretrain", "05_grpo")
#: run as they are, then 08 on the smoke profile with PPO (DQN's smoke run takes twice as long)
DEFAULTS = ("07_figures", "09_report", *STOPS)
#: section -> settings the copy's smoke profile changes for the by-hand runs above (sizes only: every
#: stage still runs its whole code path; the smoke workflow test runs the profile's own sizes)
SMALLER_SMOKE = {
    "pretrain": {"n_programs": 120, "n_instances": 6, "max_steps": 4},
    "grpo": {"num_generations": 2, "max_steps": 1, "n_train_instances": 2, "exec_workers": 1,
             "perf_reference_budget_s": 0.1, "seed_samples": 1, "seed_instances": 1, "validation_instances": 1,
             "validation_generations": 1},
    "rl": {"timesteps": {"dqn": 3000, "ppo": 256}, "ppo": {"n_steps": 128, "batch_size": 64, "n_epochs": 2}},
}

# ---------------------------------------------------------------------------------- fast
def test_every_notebook_opens_with_what_it_does_needs_and_takes():
    for name in NOTEBOOKS:
        nb = nbformat.read(REPO / "notebooks" / f"{name}.ipynb", as_version=4)
        intro = nb.cells[0]
        assert intro.cell_type == "markdown", name
        assert re.search(r"about [\d.]+\s*(s|min)\b[^\n]* on a 2-core CPU", intro.source), f"{name}: no time stated"
        assert "**Needs**" in intro.source and re.search(r"`(snakemake|make) [^`]+`", intro.source), \
            f"{name}: no prerequisite and command stated"


@pytest.fixture
def fresh(tmp_path):
    """A checkout with the profiles and the reference only (no results/, no figures/)."""
    shutil.copytree(REPO / "config", tmp_path / "config")
    (tmp_path / "reference").symlink_to(REPO / "reference")
    return tmp_path


def test_explicit_parameters_are_used_as_given_without_stand_ins(fresh):
    """The workflow passes every parameter: nothing is checked, written or replaced, even when the
    files are absent (the rule inputs guarantee them)."""
    lines = []
    given = {"results": "results/smoke", "figures": "figures/smoke"}
    assert notebook_parameters("smoke", "figures", root=fresh, log=lines.append, **given) == given
    given = {"config": "c.yaml", "tokenizer": "results/models/base-tiny", "output": "results/prompt_length.csv"}
    assert notebook_parameters("default", "prompt_length", root=fresh, log=lines.append, **given) == given
    assert not lines and not (fresh / "results").exists()


def test_figures_and_report_show_the_reference_only_when_the_run_has_no_results(fresh):
    lines = []
    p = notebook_parameters("default", "figures", root=fresh, log=lines.append, results=None, figures=None)
    assert p["results"] == str(fresh / "reference" / "results") and p["figures"] == str(fresh / REFERENCE_RENDER_DIR)
    assert len(lines) == 1 and "No results of profile 'default'" in lines[0] and "reference" in lines[0]
    r = notebook_parameters("smoke", "report", root=fresh, log=lines.append, reference=None, results=None, output=None)
    assert r["output"] == str(fresh / REFERENCE_RENDER_DIR / "report") and "--config profile=smoke" in lines[-1]
    # a run with some results: its own directory, and what it lacks is one sentence with the command
    run = Paths.for_profile("smoke", fresh)
    run.evaluation.parent.mkdir(parents=True, exist_ok=True)
    run.evaluation.write_text("instance,method\n")
    with pytest.raises(MissingInput, match=r"^missing \d+ results the figures read \(.*\): `snakemake --cores all "
                                           r"--config profile=smoke` makes them \(the whole run\)\.$"):
        notebook_parameters("smoke", "figures", root=fresh, results=None, figures=None)


def test_a_stage_without_its_input_names_it_and_the_command(fresh):
    with pytest.raises(MissingInput) as err:
        notebook_parameters("default", "grpo-main", root=fresh, config=None, run="main", base=None, run_dir=None,
                            done=None, log_state=None, log_output=None)
    assert str(err.value) == ("missing the model the run starts from results/models/base-tiny/lsa_pretrain.json: "
                              "run `snakemake --cores all results/models/base-tiny/lsa_pretrain.json` first."
                              .replace("results/", f"{fresh}/results/"))
    p = notebook_parameters("smoke", "rl-ppo", root=fresh, config=None, algorithm="ppo", seed=None, model_output=None,
                            log_output=None)   # no seed: the profile's first rl.seeds
    assert p["seed"] == 0 and p["model_output"].endswith("results/smoke/models/rl-ppo-s0.zip")


def test_the_command_a_missing_input_names_makes_it(tmp_path, monkeypatch):
    root = copy_repo(tmp_path)
    monkeypatch.chdir(root)                    # as in a notebook: paths relative to the repository root
    with pytest.raises(MissingInput) as err:
        notebook_parameters("smoke", "sft", config=None, base=None, model_dir=None, done=None, log_state=None,
                            log_output=None)
    command = re.search(r"run `(snakemake [^`]+)` first", str(err.value)).group(1).split()
    res = snakemake(root, "-n", *command[1:])
    assert res.returncode == 0, res.stderr[-2000:]
    assert jobs_of(res.stdout) == {"pretrain": 1}, res.stdout[-2000:]


def test_a_missing_local_tokenizer_is_our_sentence_not_the_hub_library_s():
    with pytest.raises(LSAError, match="no such model directory") as err:
        load_tokenizer("results/models/base-tiny")
    assert "Repo id" not in str(err.value)


# ---------------------------------------------------------------------------------- slow: every notebook
def _tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(root)).encode() + f.read_bytes())
    return h.hexdigest()


def _execute(root: Path, out_dir: Path, name: str, **parameters) -> tuple[int, nbformat.NotebookNode, float, str]:
    """papermill as JupyterLab runs a notebook: from notebooks/, kernel `lsa`; the copy's lsa (PYTHONPATH
    reaches the kernel, as the editable install does in a clone)."""
    out = out_dir / f"{name}{'-' + '-'.join(map(str, parameters.values())) if parameters else ''}.ipynb"
    cmd = [sys.executable, "-m", "papermill", "--kernel", "lsa", "--no-progress-bar", "--cwd", str(root / "notebooks"),
           str(root / "notebooks" / f"{name}.ipynb"), str(out)]
    for key, value in parameters.items():
        cmd += ["-p", key, str(value)]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=420, env={**os.environ, "PYTHONPATH": str(root)})
    return res.returncode, nbformat.read(out, as_version=4), time.perf_counter() - t0, res.stderr[-3000:]


def _outputs(nb, kind: str) -> list:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == kind]


def _first_line(nb) -> str:
    """The first line a data cell printed (stdout)."""
    texts = [o.text for o in _outputs(nb, "stream") if o.name == "stdout" and o.text.strip()]
    return texts[0].strip().splitlines()[0] if texts else ""


def _smaller_smoke(root: Path) -> None:
    """The copy's config/smoke.yaml with SMALLER_SMOKE merged into its sections (checked like any profile)."""
    path = root / "config" / "smoke.yaml"
    cfg = yaml.safe_load(path.read_text())
    for section, changes in SMALLER_SMOKE.items():
        for key, value in changes.items():
            old = cfg[section].get(key)
            cfg[section][key] = {**old, **value} if isinstance(value, dict) and isinstance(old, dict) else value
    check_profile(cfg)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    root = copy_repo(tmp_path_factory.mktemp("clone"))
    _smaller_smoke(root)
    out_dir = tmp_path_factory.mktemp("executed")
    reference = _tree_digest(root / "reference")
    def smoke_chain():
        return {f"{n}:smoke": _execute(root, out_dir, n, profile="smoke") for n in SMOKE}

    def one(name, key=None, **parameters):
        return lambda: {key or name: _execute(root, out_dir, name, **parameters)}

    # the smoke chain in order, every other notebook on its own: the two kernels stay busy until the end
    # (07, the longest, first; the stops, the shortest, last)
    jobs = [one("07_figures"), smoke_chain, one("09_report"),
            one("08_rl_train", "08_rl_train:smoke", profile="smoke", algorithm="ppo"),
            *(one(n) for n in DEFAULTS if n not in ("07_figures", "09_report"))]
    with ThreadPoolExecutor(max_workers=2) as pool:   # two kernels at a time: 2 cores
        runs = {k: v for done in pool.map(lambda job: job(), jobs) for k, v in done.items()}
    print("\n".join(f"{k}: {v[2]:.0f} s (rc {v[0]})" for k, v in runs.items()))
    return root, runs, reference


@pytest.mark.slow
def test_figures_and_report_notebooks_render_the_reference_in_a_fresh_clone(executed):
    root, runs, reference = executed
    for name in ("07_figures", "09_report"):
        rc, nb, _, stderr = runs[name]
        assert rc == 0, stderr
        assert _first_line(nb).startswith("No results of profile 'default'"), _first_line(nb)
    shown = Paths(root / "reference" / "results", root / REFERENCE_RENDER_DIR)
    assert all(f.is_file() and f.stat().st_size > 0 for f in figure_outputs(shown))
    pngs = [f for f in figure_outputs(shown) if f.suffix == ".png"]
    assert len(_outputs(runs["07_figures"][1], "display_data")) == len(pngs)   # every figure shown in the notebook
    report = shown.report_files(root / REFERENCE_RENDER_DIR / "report")
    assert all(f.is_file() and f.stat().st_size > 0 for f in report.values())
    assert "reproduced" in report["md"].read_text()
    assert _tree_digest(root / "reference") == reference                     # nothing committed is rewritten
    assert not (root / "results" / "evaluation.csv").exists()


@pytest.mark.slow
def test_prompt_length_notebook_counts_with_the_shipped_tokenizer(executed):
    root, runs, _ = executed
    rc, nb, _, stderr = runs["02_prompt_length:smoke"]
    assert rc == 0, stderr
    assert _first_line(nb).startswith("No pretrained base model yet"), _first_line(nb)
    table = Paths.for_profile("smoke", root).prompt_length
    assert table.is_file() and len(table.read_text().splitlines()) > 1
    assert "embedded-code" in sidecar_path(table).read_text()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(STOPS))
def test_stage_notebooks_without_their_input_stop_at_once_saying_what_to_run(executed, name):
    root, runs, _ = executed
    rc, nb, _, _ = runs[name]
    assert rc != 0
    errors = _outputs(nb, "error")
    assert len(errors) == 1 and errors[0].ename == "MissingInput", errors
    assert re.fullmatch(r"missing .+ (results/\S+).*: (run )?`snakemake --cores all[^`]*`.*\.", errors[0].evalue), \
        errors[0].evalue
    failed = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and any(
        o.output_type == "error" for o in c.outputs))
    assert "notebook_parameters(" in nb.cells[failed].source      # its first data cell: nothing ran before it
    assert not (root / STOPS[name]).exists()                      # nothing half-written


@pytest.mark.slow
def test_training_notebooks_run_on_the_smoke_profile(executed):
    root, runs, _ = executed
    smoke = Paths.for_profile("smoke", root)
    for key in ("03_pretrain:smoke", "05_grpo:smoke", "08_rl_train:smoke"):
        rc, _, _, stderr = runs[key]
        assert rc == 0, f"{key}: {stderr}"
    assert smoke.base_model_done("tiny").is_file() and smoke.pretrain_log("tiny").is_file()
    assert smoke.final_model_done("main").is_file() and sidecar_path(smoke.grpo_log("main")).is_file()
    assert smoke.rl_model("ppo", 0).is_file() and sidecar_path(smoke.rl_log("ppo", 0)).is_file()
