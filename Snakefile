# LSA reproduction workflow. It only wires stages together: the science lives in lsa/, every path
# in lsa/paths.py, every setting in config/<profile>.yaml. Each stage is a papermill-parameterised
# notebook under notebooks/ (executed copies kept in <results>/notebooks/); rule targets are the
# result and figure files.
#
#   snakemake --cores all                          # default profile: results/ and figures/
#   snakemake --cores 2 --config profile=smoke     # whole pipeline in a few minutes
#   snakemake -n [--config profile=paper]          # list the DAG without running anything
#   snakemake figures                              # the figures and the table (and what they need)
#
# Changing a config value reruns only what reads it: at parse time every stage's slice of the
# profile is written to <results>/config/<stage>.yaml *only when it changed*; the slices are the
# rules' inputs, so untouched stages keep older inputs and stay up to date. An interrupted run
# resumes: finished stages are kept, GRPO restarts from its last checkpoint (run state under
# <results>/runs/ is not a rule output, so Snakemake never deletes it).
import sys
from pathlib import Path

sys.path.insert(0, workflow.basedir)  # the lsa package of this checkout, even when not installed

from lsa.config import load_yaml
from lsa.paths import (DIRECT_RUNS, FIGURES, TABLE, Paths, WorkflowSettings,
                       profile_config_path, write_stage_configs)

PROFILE = str(config.get("profile", "default"))
PROFILE_CONFIG = load_yaml(profile_config_path(PROFILE))
P = Paths.for_profile(PROFILE)
S = WorkflowSettings.from_config(PROFILE_CONFIG)
STAGE = {k: str(v) for k, v in write_stage_configs(PROFILE_CONFIG, P).items()}
PAPERMILL = f"{sys.executable} -m papermill --kernel lsa --no-progress-bar"
SIZE_OF_RUN = S.size_runs  # run -> model size (main and size-*)

wildcard_constraints:
    size="|".join(S.model_sizes),
    run="|".join(S.all_runs),


def nb(name):
    return f"notebooks/{name}.ipynb"


rule all:
    input:
        P.all_figure_files(),


# ------------------------------------------------------------------ classical baselines
rule evaluate_baselines:
    input:
        config=STAGE["evaluation"],
        notebook=nb("01_evaluate_baselines"),
    output:
        P.evaluation,
    threads: workflow.cores  # budgets are wall-clock: the evaluation runs alone (matched compute)
    log:
        notebook=P.notebook("evaluation"),
        stderr=P.log("evaluation"),
    shell:
        "{PAPERMILL} {input.notebook} {log.notebook} -p profile {PROFILE} -p config {input.config}"
        " -p output {output} 2> {log.stderr}"


# ------------------------------------------------------------------ serializer: prompt length vs N
rule prompt_length:
    input:
        config=STAGE["prompt_length"],
        tokenizer=P.base_model_done(S.main_size),
        notebook=nb("02_prompt_length"),
    output:
        P.prompt_length,
    log:
        notebook=P.notebook("prompt_length"),
        stderr=P.log("prompt_length"),
    shell:
        "{PAPERMILL} {input.notebook} {log.notebook} -p profile {PROFILE} -p config {input.config}"
        " -p output {output} 2> {log.stderr}"


# ------------------------------------------------------------------ embedded base models
rule pretrain:
    input:
        config=lambda w: STAGE[f"pretrain-{w.size}"],
        notebook=nb("03_pretrain"),
    output:
        done=P.base_model_done("{size}"),
        log=P.pretrain_log("{size}"),
    params:
        log_state=lambda w: P.pretrain_log_state(w.size),
    log:
        notebook=P.notebook("pretrain-{size}"),
        stderr=P.log("pretrain-{size}"),
    shell:
        "{PAPERMILL} {input.notebook} {log.notebook} -p profile {PROFILE} -p config {input.config}"
        " -p size {wildcards.size} -p log_state {params.log_state} -p log_output {output.log} 2> {log.stderr}"


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
        base=P.base_model(S.main_size),
        log_state=P.sft_log_state,
    log:
        notebook=P.notebook("sft"),
        stderr=P.log("sft"),
    shell:
        "{PAPERMILL} {input.notebook} {log.notebook} -p profile {PROFILE} -p config {input.config}"
        " -p base {params.base} -p log_state {params.log_state} -p log_output {output.log} 2> {log.stderr}"


# ------------------------------------------------------------------ GRPO runs
def grpo_start(run):
    """The model a GRPO run starts from: the SFT model, or the base model of the run's size."""
    if run == "direct-sft":
        return P.sft_dir, P.sft_done
    size = SIZE_OF_RUN.get(run, S.main_size)
    return P.base_model(size), P.base_model_done(size)


rule grpo:
    # main + Fig. 2 ablations + direct (cold / SFT) + model sizes; all config slices of one notebook
    input:
        config=lambda w: STAGE[f"grpo-{w.run}"],
        start=lambda w: grpo_start(w.run)[1],
        notebook=nb("05_grpo"),
    output:
        done=P.final_model_done("{run}"),
        log=P.grpo_log("{run}"),
    threads: 1  # on 2 cores two runs side by side finish sooner than one after the other
    params:
        base=lambda w: grpo_start(w.run)[0],
        paradigm=lambda w: "direct" if w.run in DIRECT_RUNS else "code",
        run_dir=lambda w: P.run_dir(w.run),
        log_state=lambda w: P.run_log_state(w.run),
    log:
        notebook=P.notebook("grpo-{run}"),
        stderr=P.log("grpo-{run}"),
    shell:
        "{PAPERMILL} {input.notebook} {log.notebook} -p profile {PROFILE} -p config {input.config}"
        " -p run {wildcards.run} -p paradigm {params.paradigm} -p base {params.base}"
        " -p run_dir {params.run_dir} -p log_state {params.log_state} -p log_output {output.log}"
        " 2> {log.stderr}"


# ------------------------------------------------------------------ LLM policies under the protocol
rule llm_evaluation:
    input:
        config=STAGE["llm_evaluation"],
        base=P.base_model_done(S.main_size),
        policies=[P.final_model_done(run) for run in SIZE_OF_RUN],
        notebook=nb("06_llm_evaluation"),
    output:
        P.llm_evaluation,
    threads: workflow.cores  # budgets are wall-clock: the evaluation runs alone (matched compute)
    log:
        notebook=P.notebook("llm_evaluation"),
        stderr=P.log("llm_evaluation"),
    shell:
        "{PAPERMILL} {input.notebook} {log.notebook} -p profile {PROFILE} -p config {input.config}"
        " -p output {output} 2> {log.stderr}"


# ------------------------------------------------------------------ figures and the table
rule figures:
    # Every figure (PDF + PNG) and the throughput table (CSV, Markdown, LaTeX) in one notebook run:
    # rendering all takes seconds, a kernel start per figure would cost more. To re-render from
    # results/ alone without Snakemake: `lsa figures --results DIR --figures DIR` (`make figures`).
    input:
        results=sorted({str(f) for name in [*FIGURES, TABLE] for f in P.figure_inputs(name, S)}),
        settings=P.stage_config("figures"),
        notebook=nb("07_figures"),
    output:
        P.all_figure_files(),
    log:
        notebook=P.notebook("figures"),
        stderr=P.log("figures"),
    shell:
        "{PAPERMILL} {input.notebook} {log.notebook} -p profile {PROFILE} -p results {P.results}"
        " -p figures {P.figures} -p strict True 2> {log.stderr}"
