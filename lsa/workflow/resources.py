"""What each workflow job asks a cluster for that depends on the profile's scale (CPUs, memory,
account and partitions are the site's, in the Snakemake profile workflow/profiles/slurm):

- GPUs of the learning and LLM stages, `workflow.gpus` (rule -> GPUs per job; absent: 0, a CPU-only
  job). The SLURM executor turns a job's `gpu` resource into `--gpus=N`; a job with 0 asks for none.
  Only GRPO uses several: with `workflow.gpus.grpo` = N > 1 each GRPO job runs `lsa train` as N
  processes, one per GPU, through `accelerate launch` (TRL's multi-GPU path, `launch_prefix`; the
  batch is split over them, lsa.policy.processes); the other rules run one process, so at most 1.
- runtimes, `workflow.runtime_min` (rule -> minutes per job; absent: DEFAULT_RUNTIME_MIN). The
  evaluation shards' runtimes come from their runs' budgets instead (lsa.workflow.shards).
"""
from __future__ import annotations

from lsa.errors import ConfigError

#: the rules that may run on GPUs (the baseline evaluation, RL training, figures and report never do);
#: `llm_evaluation` is its per-policy-run jobs (rule llm_evaluation_run), the gather step needs none
GPU_RULES = ("pretrain", "sft", "grpo", "llm_evaluation", "lora_grpo", "lora_evaluation")
#: the most GPUs one job may ask for (one node)
MAX_GPUS_PER_JOB = 16
#: the rules whose job may use several GPUs (one training process per GPU)
MULTI_GPU_RULES = ("grpo",)
#: the rules whose runtime a profile sets (evaluate_baselines, llm_evaluation: the gather steps;
#: llm_evaluation_run: one policy run's job; evaluate_shard: estimated from its budgets)
RUNTIME_RULES = ("rl_train", "prompt_length", "pretrain", "sft", "grpo", "evaluate_baselines", "llm_evaluation_run",
                 "llm_evaluation", "figures", "report", "lora_grpo", "lora_evaluation")
DEFAULT_RUNTIME_MIN = 60
MAX_RUNTIME_MIN = 14 * 24 * 60


def _per_rule(config: dict, key: str, rules: tuple[str, ...], low: int, high: int, default: int, what: str,
              bound: str) -> dict[str, int]:
    """`rules` -> an integer in [low, high] per job, from `workflow.<key>` of a loaded profile (absent: `default`)."""
    raw = ((config or {}).get("workflow") or {}).get(key) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"workflow.{key} must be a mapping rule -> {what}, got {type(raw).__name__}")
    unknown = sorted(str(k) for k in raw if k not in rules)
    if unknown:
        raise ConfigError(f"workflow.{key}: unknown rule(s) {', '.join(unknown)} (known: {', '.join(rules)})")
    for rule, n in raw.items():
        if isinstance(n, bool) or not isinstance(n, int) or not low <= n <= high:
            raise ConfigError(f"workflow.{key}.{rule} must be {bound} in [{low}, {high}], got {n!r}")
    return {rule: int(raw.get(rule, default)) for rule in rules}


def rule_gpus(config: dict) -> dict[str, int]:
    """GPU_RULES -> GPUs per job of that rule, from `workflow.gpus` of a loaded profile (default 0)."""
    gpus = _per_rule(config, "gpus", GPU_RULES, 0, MAX_GPUS_PER_JOB, 0, "GPUs per job", "an integer")
    for rule, n in gpus.items():
        if n > 1 and rule not in MULTI_GPU_RULES:
            raise ConfigError(f"workflow.gpus.{rule} must be 0 or 1, got {n}: {rule} runs in one process (only "
                              f"{', '.join(MULTI_GPU_RULES)} trains on several GPUs)")
    return gpus


def training_processes(config: dict) -> int:
    """Processes of one GRPO job: one per GPU of `workflow.gpus.grpo` (0 or absent: 1, on CPU)."""
    return max(1, rule_gpus(config)["grpo"])


def launch_prefix(processes: int, python: str) -> str:
    """How a GRPO job starts `lsa train` (append its arguments): one process, `python -m lsa.cli`;
    several, `accelerate launch` of that module, one process per GPU of the job on this node (DDP),
    its rendezvous on a free port so that jobs sharing a node do not collide."""
    if processes == 1:
        return f"{python} -m lsa.cli"
    return (f"{python} -m accelerate.commands.accelerate_cli launch --multi_gpu --num_processes {processes} "
            "--num_machines 1 --mixed_precision no --dynamo_backend no --main_process_port 0 -m lsa.cli")


def rule_runtimes(config: dict) -> dict[str, int]:
    """RUNTIME_RULES -> minutes a job of that rule asks for, from `workflow.runtime_min` of a loaded profile."""
    return _per_rule(config, "runtime_min", RUNTIME_RULES, 1, MAX_RUNTIME_MIN, DEFAULT_RUNTIME_MIN, "minutes",
                     "minutes")


__all__ = ["GPU_RULES", "MAX_GPUS_PER_JOB", "MULTI_GPU_RULES", "training_processes", "launch_prefix", "RUNTIME_RULES", "DEFAULT_RUNTIME_MIN", "rule_gpus", "rule_runtimes"]
