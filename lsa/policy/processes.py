"""GRPO on several GPUs: one training process per GPU, started by `accelerate launch` (TRL's own
multi-GPU path: DistributedDataParallel; the workflow's `grpo` rule launches `lsa train` so when
`workflow.gpus.grpo` > 1, lsa.workflow.resources.launch_prefix).

What each process does (lsa.policy.train.train_grpo):
- every process builds the same training instances and prompts (grpo.seed): TRL's sampler hands
  each process its share of every step's prompt groups, which needs the same dataset everywhere;
- each generates and scores prompts_per_step * G / processes completions per step
  (GRPOConfig.per_process_batch, checked before the model loads); TRL gathers the rewards of a
  group across processes before computing advantages, so a step is the same as on one GPU;
- TRL seeds each process's sampling differently (`set_seed(seed, device_specific=True)`: seed +
  process index), so processes that hold copies of one prompt do not draw the same completions;
- only the main process writes: the per-step CSV log, the validation (and the best weights it
  keeps), `final/` with lsa_train.json and the seed programs. Trainer checkpoints are the Trainer's
  (the main process writes them; each process adds its own RNG state, rng_state_<i>.pth).

The process count comes from the launcher's environment (WORLD_SIZE), so it is known before torch
or accelerate is imported.
"""
from __future__ import annotations

import os


def process_count() -> int:
    """Training processes of this run: WORLD_SIZE set by `accelerate launch` / torchrun (absent: 1)."""
    return max(1, int(os.environ.get("WORLD_SIZE", "1") or 1))


def process_index() -> int:
    """This process's rank (0: the main process, the one that writes)."""
    return int(os.environ.get("RANK", "0") or 0)


def reward_workers(exec_workers: int | None, processes: int) -> int | None:
    """Sandbox workers of one process's reward: grpo.exec_workers as set; null (all cores) is the
    job's cores shared among its processes, so that N processes do not start N x cores workers."""
    if exec_workers is not None or processes == 1:
        return exec_workers
    return max(1, len(os.sched_getaffinity(0)) // processes)


def end_processes() -> None:
    """Leave the process group (if one was started): a gloo or NCCL group left to interpreter
    teardown can abort the process ('terminate called without an active exception')."""
    import sys

    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


__all__ = ["process_count", "process_index", "reward_workers", "end_processes"]
