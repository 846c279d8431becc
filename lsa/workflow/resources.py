"""What each workflow job asks a cluster for beyond CPUs and memory (those are in the Snakemake
profile, workflow/profiles/slurm): the GPUs of the learning and LLM stages, from the profile's
`workflow.gpus` (rule -> GPUs per job; absent: 0, a CPU-only job). The SLURM executor turns a job's
`gpu` resource into `--gpus=N`; a job with 0 asks for none. The evaluation shards' runtimes come from
their budgets (lsa.workflow.shards).
"""
from __future__ import annotations

from lsa.errors import ConfigError

#: the rules that may run on GPUs (the baseline evaluation, RL training, figures and report never do)
GPU_RULES = ("pretrain", "sft", "grpo", "llm_evaluation")
#: the most GPUs one job may ask for (one node)
MAX_GPUS_PER_JOB = 16


def rule_gpus(config: dict) -> dict[str, int]:
    """GPU_RULES -> GPUs per job of that rule, from `workflow.gpus` of a loaded profile (default 0)."""
    raw = ((config or {}).get("workflow") or {}).get("gpus") or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"workflow.gpus must be a mapping rule -> GPUs per job, got {type(raw).__name__}")
    unknown = sorted(str(k) for k in raw if k not in GPU_RULES)
    if unknown:
        raise ConfigError(f"workflow.gpus: unknown rule(s) {', '.join(unknown)} (known: {', '.join(GPU_RULES)})")
    for rule, n in raw.items():
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_GPUS_PER_JOB:
            raise ConfigError(f"workflow.gpus.{rule} must be an integer in [0, {MAX_GPUS_PER_JOB}], got {n!r}")
    return {rule: int(raw.get(rule, 0)) for rule in GPU_RULES}


__all__ = ["GPU_RULES", "MAX_GPUS_PER_JOB", "rule_gpus"]
