# LSA reproduction workflow. It only wires stages together: the science lives in lsa/, every path
# in lsa/workflow/paths.py, every setting in config/<profile>.yaml. Each stage is a papermill-
# parameterised notebook under notebooks/ (executed copies kept in <results>/notebooks/); rule
# targets are the result, figure and report files.
#
#   snakemake --cores all                          # = make reproduce: default profile -> results/, figures/
#   snakemake --cores all --config profile=smoke   # = make smoke: the whole pipeline in minutes
#   snakemake -n [--config profile=paper]          # list the DAG without running anything
#   snakemake figures | report                     # the figures / the reproduction report (and what they need)
#
# results/ and figures/ are never committed: a fresh clone recomputes everything, a second
# invocation has nothing to do, an interrupted one resumes (workflow/profiles/default sets
# rerun-incomplete; GRPO restarts from its last checkpoint, run state under <results>/runs/ is not
# a rule output). The committed run lives in reference/; the `report` rule compares a run with it.
#
# Changing a config value reruns only what reads it: at parse time every stage's slice of the
# profile is written to <results>/config/<stage>.yaml *only when it changed*; the slices are the
# rules' inputs. Slices hold settings only: every path reaches a notebook as a parameter (-y).
import sys

import yaml

sys.path.insert(0, workflow.basedir)  # the lsa package of this checkout, even when not installed

from lsa.config import load_yaml
from lsa.workflow.figures import figure_inputs, figure_outputs
from lsa.workflow.figures.claims import claim_inputs
from lsa.workflow.paths import Paths, profile_config_path
from lsa.workflow.stages import WorkflowSettings, rl_stage, stage_parameters, write_stage_configs

PROFILE = str(config.get("profile", "default"))
PROFILE_CONFIG = load_yaml(profile_config_path(PROFILE))
P = Paths.for_profile(PROFILE)
REFERENCE = Paths.reference()
S = WorkflowSettings.from_config(PROFILE_CONFIG)
STAGE = {k: str(v) for k, v in write_stage_configs(PROFILE_CONFIG, P).items()}
PAPERMILL = f"{sys.executable} -m papermill --kernel lsa --no-progress-bar"
NOTEBOOK_SHELL = "{PAPERMILL} {input.notebook} {log.notebook} -y {params.p:q} 2> {log.stderr}"
REPORT = P.report_files()

wildcard_constraints:
    size="|".join(S.model_sizes),
    run="|".join(S.all_runs),
    algorithm="dqn|ppo",
    seed=r"\d+",


def nb(name):
    return f"notebooks/{name}.ipynb"


def parameters(stage):
    """The stage's notebook parameters (config slice + paths from lsa.workflow.paths) as YAML."""
    return yaml.safe_dump(stage_parameters(stage, P, S), default_flow_style=True, width=10_000).strip()


def stage_log(stage):
    return {"notebook": P.notebook(stage), "stderr": P.log(stage)}


rule all:
    input:
        figure_outputs(P),
        REPORT.values(),
        [P.rl_model(algorithm, seed) for algorithm, seed in S.rl_runs],  # every rl.seeds model
        [P.cold_start_summary] if "cold_start" in STAGE else [],  # the real-LLM cold-start table


# ------------------------------------------------------------------ classical baselines
rule evaluate_baselines:
    input:
        config=STAGE["evaluation"],
        models=S.rl_models(P).values(),  # the RL baselines evaluation.methods names (trained below)
        notebook=nb("01_evaluate_baselines"),
    output:
        P.evaluation,
    threads: workflow.cores  # budgets are wall-clock: each evaluation worker is pinned to its own core
    params:
        p=parameters("evaluation"),
    log:
        **stage_log("evaluation"),
    shell:
        NOTEBOOK_SHELL


# ------------------------------------------------------------------ RL baselines (DQN / PPO, stable-baselines3)
rule rl_train:
    # only for the RL methods the evaluation runs; one model per algorithm and rl.seeds entry
    input:
        config=lambda w: STAGE["rl"],
        notebook=nb("08_rl_train"),
    output:
        model=P.rl_model("{algorithm}", "{seed}"),
        log=P.rl_log("{algorithm}", "{seed}"),
    params:
        p=lambda w: parameters(rl_stage(w.algorithm, w.seed)),
    log:
        **stage_log("rl-{algorithm}-s{seed}"),
    shell:
        NOTEBOOK_SHELL


# ------------------------------------------------------------------ serializer: prompt length vs N
rule prompt_length:
    input:
        config=STAGE["prompt_length"],
        tokenizer=P.base_model_done(S.main_size),
        notebook=nb("02_prompt_length"),
    output:
        P.prompt_length,
    params:
        p=parameters("prompt_length"),
    log:
        **stage_log("prompt_length"),
    shell:
        NOTEBOOK_SHELL


# ------------------------------------------------------------------ embedded base models
rule pretrain:
    input:
        config=lambda w: STAGE[f"pretrain-{w.size}"],
        notebook=nb("03_pretrain"),
    output:
        done=P.base_model_done("{size}"),
        log=P.pretrain_log("{size}"),
    params:
        p=lambda w: parameters(f"pretrain-{w.size}"),
    log:
        **stage_log("pretrain-{size}"),
    shell:
        NOTEBOOK_SHELL


# ------------------------------------------------------------------ SFT warm start (direct paradigm)
rule sft:
    input:
        config=STAGE["sft"],
        base=P.base_model_done(S.main_size),
        notebook=nb("04_sft"),
    output:
        done=P.sft_done,
        log=P.sft_log,
    params:
        p=parameters("sft"),
    log:
        **stage_log("sft"),
    shell:
        NOTEBOOK_SHELL


# ------------------------------------------------------------------ GRPO runs
rule grpo:
    # every policy family (main, size-<size>) x workflow.training_seeds (<family>, <family>-s<seed>),
    # the single-seed Fig. 2 ablations and direct runs (cold / SFT); the run's config slice says which
    input:
        config=lambda w: STAGE[f"grpo-{w.run}"],
        start=lambda w: S.start_model_done(w.run, P),
        notebook=nb("05_grpo"),
    output:
        done=P.final_model_done("{run}"),
        log=P.grpo_log("{run}"),
    threads: 1  # on 2 cores two runs side by side finish sooner than one after the other
    params:
        p=lambda w: parameters(f"grpo-{w.run}"),
    log:
        **stage_log("grpo-{run}"),
    shell:
        NOTEBOOK_SHELL


# ------------------------------------------------------------------ LLM policies under the protocol
rule llm_evaluation:
    # lsa-code of every policy family x training seed (main: the evaluation grid, paired with the
    # baselines; the other sizes and the base model: the family grid at figures.budget_s)
    input:
        config=STAGE["llm_evaluation"],
        policies=S.llm_model_done(P),
        notebook=nb("06_llm_evaluation"),
    output:
        P.llm_evaluation,
    threads: workflow.cores  # budgets are wall-clock: each evaluation worker is pinned to its own core
    params:
        p=parameters("llm_evaluation"),
    log:
        **stage_log("llm_evaluation"),
    shell:
        NOTEBOOK_SHELL


# ------------------------------------------------------------------ figures and the table
# ------------------------------------------------------------------ cold start of a real chat model
if "cold_start" in STAGE:
    rule cold_start:
        # zero-shot valid share of a pretrained chat model (cold_start.model, default smollm2-135m,
        # converted by `make setup`), code vs direct, on the same instances: `lsa cold-start`
        input:
            config=STAGE["cold_start"],
        output:
            samples=P.cold_start,
            summary=P.cold_start_summary,
        log:
            P.log("cold_start"),
        shell:
            "nice -n 5 {sys.executable} -m lsa.cli cold-start --config {input.config} --output {output.samples} "
            "--summary {output.summary} --no-progress 2> {log}"  # paths as stage_parameters('cold_start') gives them


rule figures:
    # Every figure (PDF + PNG) and the throughput table (CSV, Markdown, LaTeX) in one notebook run:
    # rendering all takes seconds, a kernel start per figure would cost more. Without Snakemake:
    # `lsa figures --results DIR --figures DIR`.
    input:
        results=figure_inputs(P, S),
        settings=STAGE["figures"],
        notebook=nb("07_figures"),
    output:
        figure_outputs(P),
    params:
        p=parameters("figures"),
    log:
        **stage_log("figures"),
    shell:
        NOTEBOOK_SHELL


# ------------------------------------------------------------------ the reproduction report
rule report:
    # Every README claim on this run vs the committed reference (reference/results): number, 95 % CI,
    # whether its shape holds. Without Snakemake: `lsa report --results DIR --output DIR`.
    input:
        results=claim_inputs(P, S),
        reference=[f for f in claim_inputs(REFERENCE, S) if f.is_file()],
        notebook=nb("09_report"),
    output:
        REPORT.values(),
    params:
        p=parameters("report"),
    log:
        **stage_log("report"),
    shell:
        NOTEBOOK_SHELL
