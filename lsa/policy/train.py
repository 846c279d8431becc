"""`lsa train --config FILE`: GRPO with TRL's GRPOTrainer (code or direct paradigm), and the SFT warm start.

Code run: prompts = serializations of training instances, rewards = rewards.py, checkpoints every
`grpo.save_steps` and automatic resume from the last one after a kill, a tidy per-step CSV.
Direct runs (`--paradigm direct`, with or without `--sft`) share the same trainer and logs.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="YAML profile with model:, grpo:, sft:, direct: sections")
    parser.add_argument("--paradigm", choices=["code", "direct"], default=None, help="override grpo.paradigm")
    parser.add_argument("--sft", action="store_true",
                        help="direct paradigm: SFT warm start on exact optima (sft: section) before GRPO")
    parser.add_argument("--sft-only", action="store_true", help="run only the SFT warm start")
    parser.add_argument("--base", default=None, help="override the starting model (path or HF id)")
    parser.add_argument("--output", default=None, help="override the output directory")
    parser.add_argument("--max-steps", type=int, default=None, help="override the number of GRPO steps")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a grpo: field, e.g. --set num_generations=4 --set lambda_perf=2")
    parser.add_argument("--no-resume", action="store_true", help="start fresh even if checkpoints exist")
    parser.add_argument("--ship", action="store_true",
                        help="copy the final policy into the package (lsa/data/models/embedded-code or -direct)")


def run(args) -> int:
    import yaml

    from ..config import build_dataclass, load_yaml
    from .config import GRPOSection, policy_config

    raw = load_yaml(args.config)
    cfg = policy_config(raw)
    grpo = cfg.grpo
    overrides = {}
    for item in args.set:
        if "=" not in item:
            from ..errors import ConfigError
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        overrides[key] = yaml.safe_load(value)
    if overrides:
        grpo = build_dataclass(GRPOSection, {**asdict(grpo), **overrides}, "grpo")
    paradigm = args.paradigm or grpo.paradigm
    if paradigm == "direct":
        # the direct section says how direct runs differ from the code run; a config whose grpo:
        # section already names the direct paradigm (a workflow slice) keeps its own paths
        d = cfg.direct
        grpo = replace(grpo, paradigm="direct", train_n=d.train_n, train_k=d.train_k, max_steps=d.max_steps,
                       max_completion_length=d.max_completion_length)
        if cfg.grpo.paradigm != "direct" or args.output:
            out = args.output or (d.warm_output_dir if args.sft else d.cold_output_dir)
            grpo = replace(grpo, output_dir=out, log_csv=str(Path(out) / "train_log.csv"))
    elif args.output:
        grpo = replace(grpo, output_dir=args.output, log_csv=str(Path(args.output) / "train_log.csv"))
    if args.base:
        grpo = replace(grpo, base_model=args.base)
    if args.max_steps is not None:
        grpo = replace(grpo, max_steps=args.max_steps)
    if args.no_resume:
        grpo = replace(grpo, resume=False)
    if args.sft or args.sft_only:
        sft_info = train_sft(cfg.model, cfg.sft, base_model=args.base)
        print(json.dumps(sft_info, indent=1))
        if args.sft_only:
            return 0
        grpo = replace(grpo, base_model=cfg.sft.output_dir)
    info = train_grpo(cfg.model, grpo)
    print(json.dumps(info, indent=1, default=str))
    if args.ship:
        print(f"shipped to {ship(info['output_dir'], grpo.paradigm)}")
    return 0


def ship(final_dir: str | Path, paradigm: str = "code") -> Path:
    """Copy a trained policy (config, tokenizer, safetensors, lsa_train.json) into the package."""
    import shutil

    from .config import EMBEDDED_POLICY_DIR
    dest = EMBEDDED_POLICY_DIR if paradigm == "code" else EMBEDDED_POLICY_DIR.parent / "embedded-direct"
    tmp = dest.parent / f".{dest.name}.part"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(final_dir, tmp, ignore=shutil.ignore_patterns("training_args.bin", "checkpoint-*"))
    for path in tmp.iterdir():
        path.chmod(0o644)  # safetensors are written 0600; the package must be readable by all
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return dest


# ----------------------------------------------------------------------------------------------
# instances and datasets
# ----------------------------------------------------------------------------------------------
def training_instances(n: int, sizes, channels, regimes, seed: int) -> list:
    """`n` PPP instances; sizes, K and regimes drawn from the lists with a seeded generator."""
    from ..network import generate_ppp

    rng = np.random.default_rng(seed)
    nets = []
    for i in range(n):
        N, K, regime = int(rng.choice(sizes)), int(rng.choice(channels)), str(rng.choice(regimes))
        nets.append(generate_ppp(N, K, regime, seed=seed * 100_003 + i))
    return nets


def prompt_for(net, paradigm: str, tokenizer, model_cfg) -> str:
    from .prompts import code_prompt, direct_prompt

    if paradigm == "code":
        return code_prompt(net, tokenizer=tokenizer, max_tokens=model_cfg.prompt_max_tokens,
                           api_doc=model_cfg.api_doc_in_prompt)
    return direct_prompt(net, tokenizer=tokenizer, max_tokens=model_cfg.prompt_max_tokens)


# ----------------------------------------------------------------------------------------------
# GRPO
# ----------------------------------------------------------------------------------------------
def grpo_args(grpo, **extra):
    """TRL GRPOConfig from the `grpo:` section (field names of the installed TRL)."""
    import torch
    from trl import GRPOConfig

    batch = grpo.prompts_per_step * grpo.num_generations
    return GRPOConfig(
        output_dir=grpo.output_dir, max_steps=grpo.max_steps, learning_rate=grpo.learning_rate,
        per_device_train_batch_size=batch, gradient_accumulation_steps=1, num_generations=grpo.num_generations,
        generation_batch_size=batch, max_completion_length=grpo.max_completion_length,
        temperature=grpo.temperature, beta=grpo.beta, loss_type=grpo.loss_type, scale_rewards=grpo.scale_rewards,
        reward_weights=[grpo.lambda_struct, grpo.lambda_perf, grpo.lambda_depth],
        logging_steps=1, save_strategy="steps", save_steps=grpo.save_steps, save_total_limit=grpo.save_total_limit,
        report_to=[], seed=grpo.seed, bf16=grpo.bf16, use_vllm=grpo.use_vllm,
        use_cpu=not torch.cuda.is_available(),
        **({"gradient_checkpointing": True} if grpo.gradient_checkpointing else {}),
        lr_scheduler_type="constant", warmup_steps=0, log_completions=False, dataloader_num_workers=0,
        **extra)


def train_grpo(model_cfg, grpo, callbacks=None) -> dict:
    """Run GRPO; returns a summary. Resumes from the last checkpoint in output_dir unless grpo.resume is False."""
    import torch
    from datasets import Dataset
    from transformers.trainer_utils import get_last_checkpoint
    from trl import GRPOTrainer

    from .logs import GRPO_COLUMNS, CsvLogCallback
    from .models import load_policy, lora_config
    from .rewards import RewardContext

    if grpo.torch_threads:
        torch.set_num_threads(grpo.torch_threads)
    t_start = time.perf_counter()
    base = grpo.base_model or model_cfg.name_or_path
    policy = load_policy(base, dtype=model_cfg.dtype, trust_remote_code=model_cfg.trust_remote_code)
    tokenizer = policy.tokenizer
    nets = training_instances(grpo.n_train_instances, grpo.train_n, grpo.train_k, grpo.train_regimes, grpo.seed)
    prompts = [prompt_for(net, grpo.paradigm, tokenizer, model_cfg) for net in nets]
    dataset = Dataset.from_dict({"prompt": prompts, "instance": list(range(len(nets)))})
    ctx = RewardContext(nets, paradigm=grpo.paradigm, timeout_s=grpo.exec_timeout_s, workers=grpo.exec_workers,
                        perf_clip=grpo.perf_clip, depth_free_nodes=grpo.depth_free_nodes,
                        depth_scale_nodes=grpo.depth_scale_nodes)
    out_dir = Path(grpo.output_dir)
    log_cb = CsvLogCallback(grpo.log_csv, GRPO_COLUMNS,
                            extra={"paradigm": grpo.paradigm, "G": grpo.num_generations})
    peft_config = None
    if model_cfg.lora:
        peft_config = lora_config(model_cfg.lora_r, model_cfg.lora_alpha, model_cfg.lora_dropout,
                                  model_cfg.lora_target_modules)
    trainer = GRPOTrainer(model=policy.model, reward_funcs=ctx.reward_functions(), args=grpo_args(grpo),
                          train_dataset=dataset, processing_class=tokenizer, peft_config=peft_config,
                          callbacks=[log_cb, *(callbacks or [])])
    resume = get_last_checkpoint(str(out_dir)) if (grpo.resume and out_dir.is_dir()) else None
    result = trainer.train(resume_from_checkpoint=resume)
    final = out_dir / "final"
    trainer.save_model(str(final))
    tokenizer.save_pretrained(final)
    rows = log_cb.rows
    info = {"output_dir": str(final), "paradigm": grpo.paradigm, "base_model": base, "steps": result.global_step,
            "resumed_from": resume, "train_s": round(time.perf_counter() - t_start, 1),
            "sandbox_executions": ctx.executions,
            "first_rows": rows[:1], "last_rows": rows[-1:], "grpo": asdict(grpo)}
    (final / "lsa_train.json").write_text(json.dumps(info, indent=1, default=str))
    return info


# ----------------------------------------------------------------------------------------------
# SFT warm start (direct paradigm)
# ----------------------------------------------------------------------------------------------
def exact_optimum(net, budget_s: float = 2.0) -> np.ndarray:
    """Exact optimum: `lsa.baselines.exact` when available, else vectorised brute force (K^N ≤ 2e6)."""
    from ..errors import MethodTooLarge
    try:
        from ..baselines import exact
    except ImportError:
        return brute_force(net)
    from ..protocol import Anytime
    run = Anytime(net, budget_s)
    try:
        info = exact.solve(net, run, np.random.default_rng(0)) or {}
    except MethodTooLarge:
        info = {}
    if info.get("optimal") and run.best_assignment is not None:
        return run.best_assignment
    return brute_force(net)  # search not finished within the budget


def brute_force(net) -> np.ndarray:
    """Enumerate all K^N assignments in chunks; exact sum-rate of each (small N only)."""
    N, K = net.N, net.K
    total = K ** N
    if total > 2_000_000:
        raise ValueError(f"brute force over K^N = {total} assignments is too large")
    best_u, best_a = -np.inf, None
    powers = K ** np.arange(N)
    for start in range(0, total, 65536):
        codes = np.arange(start, min(total, start + 65536))
        A = (codes[:, None] // powers[None, :]) % K                      # (B, N)
        signal = net.signal_w[np.arange(N)[None, :], A]                  # (B, N)
        same = A[:, net.cross_row] == A[:, net.cross_col]                # (B, M)
        interf = np.zeros_like(signal)
        np.add.at(interf.T, net.cross_row, (same * net.cross_power_w).T)
        u = np.log2(1.0 + signal / (net.noise_w + interf)).sum(axis=1)
        j = int(np.argmax(u))
        if u[j] > best_u:
            best_u, best_a = float(u[j]), A[j].astype(np.int64)
    return best_a


def train_sft(model_cfg, sft, base_model: str | None = None) -> dict:
    """TRL SFTTrainer on (direct prompt, exact optimal channel list) pairs; saves to sft.output_dir."""
    import torch
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from .logs import LM_COLUMNS, CsvLogCallback
    from .models import load_policy

    t_start = time.perf_counter()
    policy = load_policy(base_model or sft.base_model or model_cfg.name_or_path, dtype=model_cfg.dtype)
    nets = training_instances(sft.n_instances, sft.instance_n, sft.instance_k,
                              ["sparse", "dense", "ultra-dense"], seed=sft.seed + 50_000)
    rows = {"prompt": [], "completion": []}
    for net in nets:
        rows["prompt"].append(prompt_for(net, "direct", policy.tokenizer, model_cfg))
        best = exact_optimum(net, sft.exact_budget_s)
        rows["completion"].append("[" + ", ".join(str(int(c)) for c in best) + "]")
    t_targets = time.perf_counter() - t_start
    args = SFTConfig(output_dir=str(Path(sft.output_dir) / "trainer"), num_train_epochs=sft.epochs,
                     max_steps=sft.max_steps, per_device_train_batch_size=sft.batch_size,
                     learning_rate=sft.learning_rate, logging_steps=5, save_strategy="no", report_to=[],
                     seed=sft.seed, use_cpu=not torch.cuda.is_available(), completion_only_loss=True,
                     max_length=model_cfg.max_position_embeddings, packing=False, dataset_num_proc=None)
    log_cb = CsvLogCallback(sft.log_csv, LM_COLUMNS)
    policy.tokenizer.padding_side = "right"
    trainer = SFTTrainer(model=policy.model, args=args, train_dataset=Dataset.from_dict(rows),
                         processing_class=policy.tokenizer, callbacks=[log_cb])
    result = trainer.train()
    policy.tokenizer.padding_side = "left"
    trainer.save_model(sft.output_dir)
    policy.tokenizer.save_pretrained(sft.output_dir)
    info = {"output_dir": sft.output_dir, "instances": len(nets), "steps": result.global_step,
            "targets_s": round(t_targets, 1), "train_s": round(time.perf_counter() - t_start, 1),
            "final_loss": float(log_cb.rows[-1]["loss"]) if log_cb.rows else None}
    Path(sft.output_dir, "lsa_sft.json").write_text(json.dumps(info, indent=1))
    return info
