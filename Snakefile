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
from snakemake.utils import min_version

min_version("8.20")  # pyproject.toml: snakemake>=8.20
sys.path.insert(0, workflow.basedir)  # the lsa package of this checkout, even when not installed

from lsa.config import load_yaml
from lsa.errors import LSAError
from lsa.workflow.figures import figure_inputs, figure_outputs
from lsa.workflow.figures.claims import claim_inputs
from lsa.workflow.paths import Paths, profile_config_path
from lsa.workflow.resources import launch_prefix, rule_gpus, rule_runtimes, training_processes
from lsa.workflow.settings import check_profile
from lsa.workflow.shards import evaluation_shards, llm_evaluation_shard_count, split_runs
from lsa.workflow.stages import BASE_POLICY, PRIMITIVES_RUN, rl_stage, stage_parameters, write_stage_configs

PROFILE = str(config.get("profile", "default"))
try:  # the one validation door: every section of the profile, before any slice is written
    PROFILE_CONFIG = load_yaml(profile_config_path(PROFILE))
    S = check_profile(PROFILE_CONFIG).settings
except LSAError as exc:
    print(f"lsa workflow: error: {' '.join(str(exc).split())}", file=sys.stderr)
    raise SystemExit(2)
P = Paths.for_profile(PROFILE)
REFERENCE = Paths.reference()
STAGE = {k: str(v) for k, v in write_stage_configs(PROFILE_CONFIG, P).items()}
PAPERMILL = f"{sys.executable} -m papermill --kernel lsa --no-progress-bar"
NOTEBOOK_SHELL = "{PAPERMILL} {input.notebook} {log.notebook} -y {params.p:q} 2> {log.stderr}"
REPORT = P.report_files()
LSA = f"{sys.executable} -m lsa.cli"
SHARDS = evaluation_shards(PROFILE_CONFIG)  # the baseline evaluation's jobs (workflow.evaluation_shards)
LLM_SHARDS = split_runs(list(S.llm_policies()), llm_evaluation_shard_count(PROFILE_CONFIG))  # policy runs per job
LORA_TABLES = [P.lora_grpo_log, P.lora_evaluation] if "lora_grpo" in STAGE else []  # read by figures d, e, h and the claims
# the primitives-only arm (workflow.primitives): its evaluation and program census, read by its table and claims
PRIMITIVES_TABLES = [P.primitives_evaluation, P.primitives_programs] if S.primitives else []
GPUS = rule_gpus(PROFILE_CONFIG)  # GPUs per job of the learning / LLM rules (workflow.gpus; default 0)
RUNTIME = rule_runtimes(PROFILE_CONFIG)  # minutes per job a cluster is asked for (workflow.runtime_min)
GRPO_PROCESSES = training_processes(PROFILE_CONFIG)  # one per GPU of a GRPO job (workflow.gpus.grpo; CPU: 1)
# several: the job trains with `lsa train` under `accelerate launch`, then its notebook (as with one
# process) finds the finished run, exports the log and writes the sidecar
GRPO_LAUNCH = {} if GRPO_PROCESSES == 1 else {
    k: (lambda w, k=k: str(stage_parameters(f"grpo-{w.run}", P, S)[k])) for k in ("base", "run_dir", "log_state")}
GRPO_SHELL = NOTEBOOK_SHELL if GRPO_PROCESSES == 1 else (
    f"{launch_prefix(GRPO_PROCESSES, sys.executable)} train --config {{input.config}} --base {{params.base:q}} "
    "--output {params.run_dir:q} --log {params.log_state:q} > {log.train} 2>&1 && " + NOTEBOOK_SHELL)

wildcard_constraints:
    size="|".join(S.model_sizes),
    run="|".join(S.all_runs),
    algorithm="dqn|ppo",
    seed=r"\d+",
    shard=r"\d+",


def nb(name):
    return f"notebooks/{name}.ipynb"


def parameters(stage, **extra):
    """The stage's notebook parameters (config slice + paths from lsa.workflow.paths, and `extra`) as YAML."""
    p = {**stage_parameters(stage, P, S), **extra}
    return yaml.safe_dump(p, default_flow_style=True, width=10_000).strip()


def stage_log(stage):
    return {"notebook": P.notebook(stage), "stderr": P.log(stage)}


rule all:
    input:
        figure_outputs(P, S),
        REPORT.values(),
        [P.rl_model(algorithm, seed) for algorithm, seed in S.rl_runs],  # every rl.seeds model
        [P.cold_start_summary] if "cold_start" in STAGE else [],  # the real-LLM cold-start table
        LORA_TABLES,  # the real-LLM LoRA-GRPO log and its evaluation (lora_grpo: section; none when off)
        PRIMITIVES_TABLES,  # the primitives-only arm (workflow.primitives; none when off)


# ------------------------------------------------------------------ classical baselines
rule evaluate_shard:
    # one job per shard of the grid (lsa.workflow.shards: contiguous runs of similar estimated cost);
    # on a cluster each is its own job, with a runtime estimated from its runs' budgets
    input:
        config=STAGE["evaluation"],
        models=S.rl_models(P).values(),  # the RL baselines evaluation.methods names (trained below)
    output:
        P.evaluation_shard("{shard}"),
    threads: workflow.cores  # budgets are wall-clock: each evaluation worker is pinned to its own core
    resources:
        runtime=lambda w, threads: SHARDS[int(w.shard)].runtime_min(threads),
    params:
        shard=lambda w: f"{w.shard}/{len(SHARDS)}",
        models=" ".join(f"--model {m}={f}" for m, f in S.rl_models(P).items()),
    log:
        P.log("evaluation-shard-{shard}"),
    shell:
        "{LSA} evaluate --config {input.config} --shard {params.shard} {params.models} --output {output} > {log} 2>&1"


rule evaluate_baselines:
    # gathers the shard tables into the one tidy table, rows in grid order
    input:
        config=STAGE["evaluation"],
        shards=[P.evaluation_shard(s.index) for s in SHARDS],
        notebook=nb("01_evaluate_baselines"),
    output:
        P.evaluation,
    resources:
        runtime=RUNTIME["evaluate_baselines"],
    params:
        p=parameters("evaluation", shards=[str(P.evaluation_shard(s.index)) for s in SHARDS]),
    log:
        **stage_log("evaluation"),
    shell:
        NOTEBOOK_SHELL


# ------------------------------------------------------------------ the limit: best-known utilities
rule best_known:
    # every evaluation instance: the best of long runs of best_known.methods (exact optima where exact
    # proves them); per-instance results are cached under <results>/runs/best_known (a rerun resumes)
    input:
        config=STAGE["best_known"],
        notebook=nb("10_best_known"),
        reference=[P.committed_best_known] if (PROFILE_CONFIG.get("best_known") or {}).get("from_reference") else [],
    output:
        P.best_known,
    threads: workflow.cores  # budgets are wall-clock: each worker is pinned to its own core
    params:
        p=parameters("best_known"),
    log:
        **stage_log("best_known"),
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
    resources:
        runtime=RUNTIME["rl_train"],
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
    resources:
        runtime=RUNTIME["prompt_length"],
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
    resources:
        gpu=GPUS["pretrain"],
        runtime=RUNTIME["pretrain"],
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
    resources:
        gpu=GPUS["sft"],
        runtime=RUNTIME["sft"],
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
    resources:
        gpu=GPUS["grpo"],  # > 1: one training process per GPU (GRPO_SHELL: accelerate launch)
        runtime=RUNTIME["grpo"],
    params:
        p=lambda w: parameters(f"grpo-{w.run}"),
        **GRPO_LAUNCH,
    log:
        **stage_log("grpo-{run}"),
        **({} if GRPO_PROCESSES == 1 else {"train": P.log("grpo-{run}-train")}),
    shell:
        GRPO_SHELL


# ------------------------------------------------------------------ LLM policies under the protocol
rule llm_evaluation_run:
    # lsa-code of a group of policy runs (families x training seeds, the base model; workflow.
    # llm_evaluation_shards groups, a GPU each where workflow.gpus asks): main on the evaluation grid,
    # paired with the baselines; the other sizes and the base model on the family grid at figures.budget_s
    input:
        config=STAGE["llm_evaluation"],
        policies=lambda w: [P.base_model_done(S.main_size) if run == BASE_POLICY else P.final_model_done(run)
                            for run in LLM_SHARDS[int(w.shard)]],
        notebook=nb("06_llm_evaluation"),
    output:
        P.llm_evaluation_run("{shard}"),
    threads: workflow.cores  # budgets are wall-clock: each evaluation worker is pinned to its own core
    resources:
        gpu=GPUS["llm_evaluation"],
        runtime=RUNTIME["llm_evaluation_run"],
    params:
        p=lambda w: parameters("llm_evaluation", runs=LLM_SHARDS[int(w.shard)], output=str(P.llm_evaluation_run(w.shard))),
    log:
        **stage_log("llm_evaluation-{shard}"),
    shell:
        NOTEBOOK_SHELL


rule llm_evaluation:
    # gathers the policy runs' tables into the one tidy table, in the slice's order
    input:
        config=STAGE["llm_evaluation"],
        runs=[P.llm_evaluation_run(i) for i in range(len(LLM_SHARDS))],
        notebook=nb("06_llm_evaluation"),
    output:
        P.llm_evaluation,
    resources:
        runtime=RUNTIME["llm_evaluation"],
    params:
        p=parameters("llm_evaluation", shards=[str(P.llm_evaluation_run(i)) for i in range(len(LLM_SHARDS))]),
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


# ------------------------------------------------------------------ LoRA-GRPO of a real chat model
if "lora_grpo" in STAGE:
    rule lora_grpo:
        # LoRA-GRPO from lora_grpo.model (default smollm2-135m, converted by `make setup`) with our rewards
        # and sandbox: `lsa lora-grpo`; checkpoints under <results>/runs/grpo-lora-llm (a rerun resumes)
        input:
            config=STAGE["lora_grpo"],
        output:
            log=P.lora_grpo_log,
            done=P.lora_adapter_done,
        threads: 2  # torch_threads and exec_workers of the default section
        resources:
            gpu=GPUS["lora_grpo"],
            runtime=RUNTIME["lora_grpo"],
        params:
            run_dir=P.lora_run_dir,
            adapter=P.lora_adapter,
        log:
            P.log("lora_grpo"),
        shell:
            "nice -n 5 {LSA} lora-grpo --config {input.config} --run-dir {params.run_dir} --log {output.log} "
            "--adapter {params.adapter} > {log} 2>&1"

    rule lora_evaluation:
        # the adapter as lsa-code beside lora_grpo.evaluation.methods, same instances and budgets: `lsa lora-eval`
        input:
            config=STAGE["lora_grpo"],
            done=P.lora_adapter_done,
        output:
            P.lora_evaluation,
        threads: workflow.cores  # budgets are wall-clock: each evaluation worker is pinned to its own core
        resources:
            gpu=GPUS["lora_evaluation"],
            runtime=RUNTIME["lora_evaluation"],
        params:
            adapter=P.lora_adapter,
        log:
            P.log("lora_evaluation"),
        shell:
            "{LSA} lora-eval --config {input.config} --adapter {params.adapter} --output {output} --no-progress > {log} 2>&1"


# ------------------------------------------------------------------ the primitives-only arm (issue 19's ablation)
if S.primitives:
    rule pretrain_primitives:
        # the main size's base model pretrained alike, with model.vocabulary: primitives (no complete
        # search in its corpus); its own model directory, log and slice: the main base model is untouched
        input:
            config=STAGE[f"pretrain-{PRIMITIVES_RUN}"],
            notebook=nb("03_pretrain"),
        output:
            done=P.base_model_done(PRIMITIVES_RUN),
            log=P.pretrain_log(PRIMITIVES_RUN),
        resources:
            gpu=GPUS["pretrain"],
            runtime=RUNTIME["pretrain"],
        params:
            p=parameters(f"pretrain-{PRIMITIVES_RUN}"),
        log:
            **stage_log(f"pretrain-{PRIMITIVES_RUN}"),
        shell:
            NOTEBOOK_SHELL

    rule grpo_primitives:
        # GRPO exactly like main (grpo: with main's overrides, the first training seed), vocabulary primitives
        input:
            config=STAGE[f"grpo-{PRIMITIVES_RUN}"],
            start=P.base_model_done(PRIMITIVES_RUN),
            notebook=nb("05_grpo"),
        output:
            done=P.final_model_done(PRIMITIVES_RUN),
            log=P.grpo_log(PRIMITIVES_RUN),
        threads: 1
        resources:
            gpu=GPUS["grpo"],
            runtime=RUNTIME["grpo"],
        params:
            p=parameters(f"grpo-{PRIMITIVES_RUN}"),
            **({} if GRPO_PROCESSES == 1 else {  # several GPUs: `lsa train` under accelerate launch, as main
                k: str(stage_parameters(f"grpo-{PRIMITIVES_RUN}", P, S)[k]) for k in ("base", "run_dir", "log_state")}),
        log:
            **stage_log(f"grpo-{PRIMITIVES_RUN}"),
            **({} if GRPO_PROCESSES == 1 else {"train": P.log(f"grpo-{PRIMITIVES_RUN}-train")}),
        shell:
            GRPO_SHELL

    rule primitives_evaluation:
        # the arm as lsa-code on workflow.primitives.instances (share of best-known), and its program census
        input:
            config=STAGE["primitives_evaluation"],
            policy=P.final_model_done(PRIMITIVES_RUN),
            best_known=P.best_known,
            evaluation=P.evaluation,
            llm_evaluation=P.llm_evaluation,
            notebook=nb("11_primitives"),
        output:
            table=P.primitives_evaluation,
            programs=P.primitives_programs,
        threads: workflow.cores  # budgets are wall-clock: each evaluation worker is pinned to its own core
        resources:
            gpu=GPUS["llm_evaluation"],
            runtime=RUNTIME["llm_evaluation_run"],
        params:
            p=parameters("primitives_evaluation"),
        log:
            **stage_log("primitives_evaluation"),
        shell:
            NOTEBOOK_SHELL


rule figures:
    # Every figure (PDF + PNG) and the throughput table (CSV, Markdown, LaTeX) in one notebook run:
    # rendering all takes seconds, a kernel start per figure would cost more. Without Snakemake:
    # `lsa figures --results DIR --figures DIR`.
    input:
        results=figure_inputs(P, S) + LORA_TABLES,  # figure_inputs: the primitives tables where the arm is on
        settings=STAGE["figures"],
        notebook=nb("07_figures"),
    output:
        figure_outputs(P, S),
    resources:
        runtime=RUNTIME["figures"],
    params:
        p=parameters("figures"),
    log:
        **stage_log("figures"),
    shell:
        NOTEBOOK_SHELL


# ------------------------------------------------------------------ the reproduction report
rule report:
    # Every README claim on this run vs the committed reference (reference/results): number, 95 % CI,
    # its verdict (holds / not shown / fails). Without Snakemake: `lsa report --results DIR --output DIR`.
    input:
        results=claim_inputs(P, S) + ([P.cold_start_summary] if "cold_start" in STAGE else []) + LORA_TABLES
                + PRIMITIVES_TABLES,
        reference=[f for f in claim_inputs(REFERENCE, S) if f.is_file()],
        notebook=nb("09_report"),
    output:
        REPORT.values(),
    resources:
        runtime=RUNTIME["report"],
    params:
        p=parameters("report"),
    log:
        **stage_log("report"),
    shell:
        NOTEBOOK_SHELL
