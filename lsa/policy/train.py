"""GRPO training of a policy with TRL's `GRPOTrainer` (code or direct paradigm), and shipping a
trained policy into the package.

Prompts are serializations of training instances, rewards come from `rewards.py`, checkpoints are
written every `grpo.save_steps` and a killed run resumes from the last one; a tidy per-step CSV
log is rewritten as training proceeds. `final/` holds the weights with the best held-out validation
reward (`validation.py`), not necessarily the last step's. The caller says where everything goes.
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from lsa.io import write_json
from lsa.policy.config import (
    EMBEDDED_DIRECT_DIR,
    EMBEDDED_POLICY_DIR,
    INSTANCE_SEED_STRIDE,
    TRAIN_INSTANCE_SEED,
    GRPOConfig,
    ModelConfig,
)
from lsa.policy.logs import GRPO_COLUMNS, CsvLogCallback
from lsa.policy.models import load_policy, lora_config, prompt_record
from lsa.policy.processes import process_count, process_index, reward_workers
from lsa.policy.prompts import code_prompt, direct_prompt
from lsa.policy.rewards import RewardContext
from lsa.policy.seeds import MIN_STRUCT, SEED_FORMAT, SEED_PROGRAMS_FILE
from lsa.policy.validation import ValidationCallback, last_step_record, validation_instances
from lsa.sim.generate import generate_ppp
from lsa.sim.params import NetworkConfig

#: written last into a finished run's final model directory (the workflow's completion marker)
TRAIN_DONE = "lsa_train.json"


def training_instances(n: int, sizes, channels, regimes, seed: int, network: NetworkConfig | None = None) -> list:
    """`n` PPP instances; sizes, K and regimes drawn from the lists with a seeded generator. Their
    instance seeds start at TRAIN_INSTANCE_SEED, so no training instance is an evaluation instance."""
    rng = np.random.default_rng(seed)
    nets = []
    for i in range(n):
        N, K, regime = int(rng.choice(sizes)), int(rng.choice(channels)), str(rng.choice(regimes))
        nets.append(generate_ppp(N, K, regime, seed=TRAIN_INSTANCE_SEED + seed * INSTANCE_SEED_STRIDE + i,
                                 params=network))
    return nets


def prompt_for(net, paradigm: str, tokenizer, model_cfg: ModelConfig) -> str:
    if paradigm == "code":
        return code_prompt(net, tokenizer=tokenizer, max_tokens=model_cfg.prompt_max_tokens,
                           api_doc=model_cfg.api_doc_in_prompt, vocabulary=model_cfg.vocabulary)
    return direct_prompt(net, tokenizer=tokenizer, max_tokens=model_cfg.prompt_max_tokens)


def trainer_args(grpo: GRPOConfig, output_dir: str | Path, processes: int = 1):
    """TRL `GRPOConfig` from the `grpo:` section (field names of the installed TRL). One step is one
    generation batch of prompts_per_step * G completions however many `processes` (GPUs) train:
    each process takes an equal share of it (GRPOConfig.per_process_batch)."""
    import torch
    import trl

    return trl.GRPOConfig(
        output_dir=str(output_dir), max_steps=grpo.max_steps, learning_rate=grpo.learning_rate,
        per_device_train_batch_size=grpo.per_process_batch(processes), gradient_accumulation_steps=1,
        num_generations=grpo.num_generations, generation_batch_size=grpo.batch, max_completion_length=grpo.max_completion_length,
        temperature=grpo.temperature, beta=grpo.beta, loss_type=grpo.loss_type, scale_rewards=grpo.scale_rewards,
        reward_weights=[grpo.lambda_struct, grpo.lambda_perf, grpo.lambda_depth],
        logging_steps=1, save_strategy="steps", save_steps=grpo.save_steps, save_total_limit=grpo.save_total_limit,
        report_to=[], seed=grpo.seed, bf16=grpo.bf16, use_vllm=grpo.use_vllm,
        use_cpu=not torch.cuda.is_available(),
        gradient_checkpointing=grpo.gradient_checkpointing,   # TRL's GRPOConfig defaults to True: say it either way
        lr_scheduler_type="constant", warmup_steps=0, log_completions=False, dataloader_num_workers=0)


def train_grpo(model_cfg: ModelConfig, grpo: GRPOConfig, base_model: str | Path | None, output_dir: str | Path,
               log_csv: str | Path | None = None, network: NetworkConfig | None = None, callbacks=None) -> dict:
    """Run GRPO from `base_model` (None: `model.name_or_path`) into `output_dir` (checkpoints and
    `final/`); the per-step log goes to `log_csv` (default `output_dir/train_log.csv`). Resumes from
    the last checkpoint in `output_dir` unless `grpo.resume` is False; a run that already finished
    there with the same settings is not trained again (its record is returned). Returns a summary.

    Under `accelerate launch` every process calls this (lsa.policy.processes): each trains on its
    share of the batch, only the main process writes the log, final/ and lsa_train.json (the other
    processes return their own summary, with `"main_process": False`)."""
    base = str(base_model) if base_model else model_cfg.name_or_path
    out_dir = Path(output_dir)
    if grpo.resume and (done := finished_run(out_dir, model_cfg, grpo, base)) is not None:
        return done
    processes = process_count()
    grpo.per_process_batch(processes)                # one clear line before the model loads

    import torch
    from accelerate.utils import gather_object
    from datasets import Dataset
    from transformers.trainer_utils import get_last_checkpoint
    from trl import GRPOTrainer

    if grpo.torch_threads:
        torch.set_num_threads(grpo.torch_threads)
    t_start = time.perf_counter()
    log_csv = Path(log_csv) if log_csv else out_dir / "train_log.csv"
    policy = load_policy(base, dtype=model_cfg.dtype, trust_remote_code=model_cfg.trust_remote_code)
    tokenizer = policy.tokenizer
    nets = training_instances(grpo.n_train_instances, grpo.train_n, grpo.train_k, grpo.train_regimes, grpo.seed,
                              network)
    prompts = [prompt_for(net, grpo.paradigm, tokenizer, model_cfg) for net in nets]
    dataset = Dataset.from_dict({"prompt": prompts, "instance": list(range(len(nets)))})
    ctx = RewardContext(nets, paradigm=grpo.paradigm, timeout_s=grpo.exec_timeout_s,
                        workers=reward_workers(grpo.exec_workers, processes), perf_clip=grpo.perf_clip,
                        depth_free_nodes=grpo.depth_free_nodes, depth_scale_nodes=grpo.depth_scale_nodes,
                        reference_methods=grpo.perf_reference, reference_budget_s=grpo.perf_reference_budget_s,
                        vocabulary=model_cfg.vocabulary)
    log_cb = CsvLogCallback(log_csv, GRPO_COLUMNS, extra={"paradigm": grpo.paradigm, "G": grpo.num_generations})
    validation = None
    if grpo.validation_every and process_index() == 0:   # the main process validates (and chooses final/)
        val_nets = validation_instances(grpo, network)
        validation = ValidationCallback(grpo, val_nets, [prompt_for(n, grpo.paradigm, tokenizer, model_cfg)
                                                         for n in val_nets], tokenizer)
    peft_config = None
    if model_cfg.lora:
        peft_config = lora_config(model_cfg.lora_r, model_cfg.lora_alpha, model_cfg.lora_dropout,
                                  model_cfg.lora_target_modules)
    callbacks = [log_cb, *([validation] if validation else []), *(callbacks or [])]
    trainer = GRPOTrainer(model=policy.model, reward_funcs=ctx.reward_functions(),
                          args=trainer_args(grpo, out_dir, processes), train_dataset=dataset, processing_class=tokenizer,
                          peft_config=peft_config, callbacks=callbacks)
    resume = get_last_checkpoint(str(out_dir)) if (grpo.resume and out_dir.is_dir()) else None
    if resume and validation:
        validation.restore(resume)
    result = trainer.train(resume_from_checkpoint=resume)
    executions = sum(gather_object([ctx.executions]))    # every process's sandbox runs (one process: its own)
    if not trainer.accelerator.is_main_process:
        return {"output_dir": str(out_dir / "final"), "main_process": False, "process_index": process_index(),
                "steps": result.global_step, "processes": processes}
    # the shipped weights: the best validated ones (validation off: the last step's)
    shipped = validation.load_best(trainer.model) if validation else last_step_record(result.global_step)
    final = out_dir / "final"
    trainer.save_model(str(final))
    tokenizer.save_pretrained(final)
    seeds = None
    if grpo.paradigm == "code" and grpo.seed_programs > 0:   # before the completion marker below
        seeds = record_after_training(final, grpo, model_cfg, network, nets)
    rows = log_cb.rows
    info = {"output_dir": str(final), "paradigm": grpo.paradigm, "base_model": base, "steps": result.global_step,
            "resumed_from": resume, "train_s": round(time.perf_counter() - t_start, 1),
            "sandbox_executions": executions, "processes": processes,
            "first_rows": rows[:1], "last_rows": rows[-1:], "shipped_checkpoint": shipped, "grpo": asdict(grpo),
            "model": asdict(model_cfg), "prompt": prompt_record(model_cfg), "seed_programs": seeds}
    write_json(final / TRAIN_DONE, info)
    return info


def finished_run(output_dir: str | Path, model_cfg: ModelConfig, grpo: GRPOConfig, base: str | None) -> dict | None:
    """The record (lsa_train.json) of a run that finished in `output_dir` from `base` with these
    model and grpo settings, else None. The workflow's multi-GPU GRPO job trains with `lsa train`
    under `accelerate launch`, then its notebook calls train_grpo with the same settings: it gets
    this record instead of a second training."""
    path = Path(output_dir) / "final" / TRAIN_DONE
    if not path.is_file():
        return None
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    same = json.loads(json.dumps({"grpo": asdict(grpo), "model": asdict(model_cfg), "base_model": base}, default=str))
    return info if all(info.get(k) == v for k, v in same.items()) else None


def ship(final_dir: str | Path, paradigm: str = "code") -> Path:
    """Copy a trained policy (config, tokenizer, safetensors, lsa_train.json) into the package."""
    dest = EMBEDDED_POLICY_DIR if paradigm == "code" else EMBEDDED_DIRECT_DIR
    tmp = dest.parent / f".{dest.name}.part"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(final_dir, tmp, ignore=shutil.ignore_patterns("training_args.bin", "checkpoint-*"))
    for path in tmp.iterdir():
        path.chmod(0o644)  # safetensors are written 0600; the package must be readable by all
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return dest


def screen_indices(n_instances: int, screen: int) -> list[int]:
    """The instances of the screening round: `screen` of `n_instances`, spread evenly over them
    (all of them when `screen` is 0 or not smaller)."""
    if screen <= 0 or screen >= n_instances:
        return list(range(n_instances))
    return sorted({int(round(i)) for i in np.linspace(0, n_instances - 1, screen)})


def score_candidates(ctx, candidates: dict[str, str], *, weights=(1.0, 1.0, 1.0), keep: int = 4,
                     screen_instances: int = 0, screen_keep: int = 8) -> tuple[list[dict], dict | None]:
    """Score candidate programs (source -> a completion holding it) on the instances of the reward
    context `ctx` with the training reward. Returns the qualified ones, best first (reward, then
    shorter source), and the screen's record (None without a screen).

    One round of successive halving when `screen_instances` > 0: every candidate runs on
    `screen_instances` of ctx's instances (spread over them) and only the best `screen_keep` (by
    that mean reward; at least `keep`) run on the rest; the ranking is by the mean over all
    instances. A program is qualified when its R_struct reaches MIN_STRUCT on every instance, so
    one that fails the screen could never qualify. Each run costs up to the sandbox timeout: the
    screen cuts candidates x instances runs to about candidates x screen + screen_keep x instances."""
    n_inst = len(ctx.nets)
    first = screen_indices(n_inst, screen_instances)
    rest = [i for i in range(n_inst) if i not in first]

    def score(text: str, idx: list[int]) -> dict[int, tuple[float, float, float]]:
        outcomes = ctx.outcomes([text] * len(idx), idx)
        return {i: (o.struct, ctx.perf(o, i), ctx.depth(o)) for i, o in zip(idx, outcomes)}

    def summary(parts: dict[int, tuple[float, float, float]]) -> dict:
        struct, perf, depth = (np.array([parts[i][c] for i in sorted(parts)]) for c in range(3))
        reward = float(np.mean(weights[0] * struct + weights[1] * perf + weights[2] * depth))
        return {"reward": reward, "qualified": bool(struct.min() >= MIN_STRUCT),
                "r_perf": float(perf.mean()), "r_struct": float(struct.mean()), "r_depth": float(depth.mean())}

    screened = {source: score(text, first) for source, text in candidates.items()}
    results = {source: summary(parts) for source, parts in screened.items()}
    finalists = [s for s in screened if results[s]["qualified"]]
    screen_qualified = len(finalists)
    if rest:                                         # the screen: the best screen_keep go on to every instance
        finalists.sort(key=lambda s: (-results[s]["reward"], len(s)))
        finalists = finalists[: max(screen_keep, keep)]
        for source in finalists:
            results[source] = summary(screened[source] | score(candidates[source], rest))
    scored = []
    for source in finalists:
        total = results[source]
        if total["qualified"]:
            scored.append({"source": source, "reward": round(total["reward"], 4), "r_perf": round(total["r_perf"], 4),
                           "r_struct": round(total["r_struct"], 4), "r_depth": round(total["r_depth"], 4)})
    scored.sort(key=lambda p: (-p["reward"], len(p["source"])))
    screen = {"instances": first, "qualified": screen_qualified, "kept": len(finalists)} if rest else None
    return scored, screen


def record_seed_programs(policy, ctx, prompts: list[str], out_dir: str | Path, *, keep: int = 4,
                         samples_per_prompt: int = 8, max_new_tokens: int = 256, temperature: float = 0.7,
                         weights=(1.0, 1.0, 1.0), seed: int = 0, screen_instances: int = 0,
                         screen_keep: int = 8) -> dict:
    """Sample `samples_per_prompt` programs from `policy` on each of `prompts` (prompts of the
    training instances held by the reward context `ctx`, same order), score the distinct programs
    with the training reward, and write the best `keep` into `out_dir/SEED_PROGRAMS_FILE`.

    Scoring: `score_candidates` (with its screen when `screen_instances` > 0). Returns the record (without the sources)."""
    from lsa.policy.config import InferenceConfig
    from lsa.policy.inference import sample_completions
    from lsa.policy.prompts import program_source

    rng = np.random.default_rng(seed)
    cfg = replace(InferenceConfig(), temperature=temperature)
    candidates: dict[str, str] = {}                # source -> one completion that holds it
    for prompt in prompts:
        for text in sample_completions(policy, prompt, samples_per_prompt, max_new_tokens, cfg, 600.0, rng):
            source = program_source(text)
            if source is not None:
                candidates.setdefault(source, text)
    scored, screen = score_candidates(ctx, candidates, weights=weights, keep=keep, screen_instances=screen_instances,
                                      screen_keep=screen_keep)
    n_inst = len(ctx.nets)
    record = {"format": SEED_FORMAT, "programs": scored[:keep], "candidates": len(candidates),
              "qualified": len(scored), "instances": n_inst, "samples_per_prompt": samples_per_prompt,
              "prompts": len(prompts), "temperature": temperature, "seed": seed,
              "screen": screen,
              "how": "sampled from the trained policy on its training instances, scored with the training reward"
                     + (f" (every candidate on {len(screen['instances'])} instances, the best {screen['kept']} on all"
                        f" {n_inst})" if screen else "")}
    write_json(Path(out_dir) / SEED_PROGRAMS_FILE, record)
    return {k: v for k, v in record.items() if k != "programs"} | {
        "kept": [{k: v for k, v in p.items() if k != "source"} for p in scored[:keep]]}


def record_after_training(model_dir: str | Path, grpo, model_cfg, network=None, nets=None) -> dict:
    """Record the seed programs of the trained code policy in `model_dir` on its training instances
    (the first `grpo.seed_instances` of them; `nets`: already generated ones, else regenerated from
    `grpo`), with `grpo`'s reward settings and a sandbox timeout of `grpo.exec_timeout_s`."""
    if nets is None:
        nets = training_instances(grpo.n_train_instances, grpo.train_n, grpo.train_k, grpo.train_regimes,
                                  grpo.seed, network)
    nets = list(nets)[: grpo.seed_instances]
    policy = load_policy(str(model_dir), dtype=model_cfg.dtype, trust_remote_code=model_cfg.trust_remote_code)
    ctx = RewardContext(nets, paradigm="code", timeout_s=grpo.exec_timeout_s, workers=grpo.exec_workers,
                        perf_clip=grpo.perf_clip, depth_free_nodes=grpo.depth_free_nodes,
                        depth_scale_nodes=grpo.depth_scale_nodes, reference_methods=grpo.perf_reference,
                        reference_budget_s=grpo.perf_reference_budget_s,
                        vocabulary=model_cfg.vocabulary)   # primitives: a complete search earns the rejection reward
    prompts = [prompt_for(net, "code", policy.tokenizer, model_cfg) for net in nets]
    return record_seed_programs(policy, ctx, prompts, model_dir, keep=grpo.seed_programs,
                                samples_per_prompt=grpo.seed_samples, max_new_tokens=grpo.max_completion_length,
                                temperature=grpo.temperature,
                                weights=(grpo.lambda_struct, grpo.lambda_perf, grpo.lambda_depth), seed=grpo.seed,
                                screen_instances=grpo.seed_screen_instances, screen_keep=grpo.seed_screen_keep)


__all__ = ["train_grpo", "finished_run", "training_instances", "prompt_for", "ship", "TRAIN_DONE", "record_seed_programs",
           "screen_indices", "score_candidates", "record_after_training"]
