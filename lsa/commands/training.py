"""`lsa pretrain`, `lsa train` and `lsa rl-train`: arguments and handlers."""
from __future__ import annotations

import json
from pathlib import Path

from lsa.commands.arguments import key_values, positive_int, seed
from lsa.config import load_yaml
from lsa.io import check_writable


# ------------------------------------------------------------------------- pretrain / train
def pretrain_arguments(p):
    from lsa.policy.config import ModelConfig, PretrainConfig

    p.add_argument("--config", required=True, type=Path, help="YAML profile with model: and pretrain: sections")
    p.add_argument("--output", required=True, type=Path, help="directory of the pretrained base model")
    p.add_argument("--size", default=None, help=ModelConfig.help_of("size"))
    p.add_argument("--max-steps", type=positive_int, default=None, help=PretrainConfig.help_of("max_steps"))
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def pretrain(args) -> int:
    from dataclasses import replace

    from lsa.policy.config import policy_config
    from lsa.policy.pretrain import pretrain
    from lsa.sim import network_config

    raw = load_yaml(args.config)
    cfg = policy_config(raw)
    model_cfg = replace(cfg.model, size=args.size) if args.size else cfg.model
    pre = replace(cfg.pretrain, max_steps=args.max_steps) if args.max_steps is not None else cfg.pretrain
    check_writable(args.output / "config.json")
    info = pretrain(model_cfg, pre, args.output, network=network_config(raw), progress=not args.no_progress)
    print(json.dumps(info, indent=1))
    return 0


def train_arguments(p):
    from lsa.policy.config import GRPOConfig

    p.add_argument("--config", required=True, type=Path, help="YAML profile with model:, grpo:, sft:, direct: sections")
    p.add_argument("--output", required=True, type=Path, help="run directory: checkpoints and final/")
    p.add_argument("--log", type=Path, default=None, help="per-step CSV log (default: OUTPUT/train_log.csv)")
    p.add_argument("--base", default=None, help="starting model (path or HF id); default: model.name_or_path")
    p.add_argument("--paradigm", choices=["code", "direct"], default=None, help=GRPOConfig.help_of("paradigm"))
    p.add_argument("--sft", action="store_true", help="direct paradigm: SFT warm start (sft: section) before GRPO")
    p.add_argument("--sft-only", action="store_true", help="run only the SFT warm start (into --output)")
    p.add_argument("--max-steps", type=positive_int, default=None, help=GRPOConfig.help_of("max_steps"))
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a grpo: field, e.g. --set num_generations=4 --set lambda_perf=2")
    p.add_argument("--no-resume", action="store_true", help="start fresh even if checkpoints exist")
    p.add_argument("--ship", action="store_true",
                   help="copy the final policy into the package (lsa/data/models/embedded-code or -direct)")


def train(args) -> int:
    import dataclasses

    from lsa.errors import ConfigError
    from lsa.policy.config import GRPOConfig, direct_variant, policy_config
    from lsa.policy.processes import end_processes, process_count
    from lsa.policy.sft import train_sft
    from lsa.policy.train import ship, train_grpo
    from lsa.sim import network_config
    from lsa.workflow.settings import check_profile

    raw = load_yaml(args.config)
    check_profile(raw)                          # every section, before anything is written
    cfg = policy_config(raw)
    network = network_config(raw)
    overrides = key_values(args.set)
    if args.max_steps is not None:
        overrides["max_steps"] = args.max_steps
    if args.no_resume:
        overrides["resume"] = False
    grpo = GRPOConfig.from_mapping({**dataclasses.asdict(cfg.grpo), **overrides})
    if (args.paradigm or grpo.paradigm) == "direct":
        grpo = direct_variant(grpo, cfg.direct)
    check_writable(args.output / "final" / "config.json")
    if args.log is not None:
        check_writable(args.log)
    base = args.base
    if (args.sft or args.sft_only) and process_count() > 1:
        raise ConfigError("--sft / --sft-only run in one process: start them without accelerate launch (only GRPO "
                          "trains on several GPUs)")
    if args.sft or args.sft_only:
        sft_dir = args.output if args.sft_only else args.output / "sft"
        print(json.dumps(train_sft(cfg.model, cfg.sft, base, sft_dir, network=network), indent=1))
        if args.sft_only:
            return 0
        base = sft_dir
    try:       # under `accelerate launch` (several GPUs) every process runs this; the main one writes
        info = train_grpo(cfg.model, grpo, base, args.output, log_csv=args.log, network=network)
    finally:
        end_processes()
    if info.get("main_process", True):
        print(json.dumps(info, indent=1, default=str))
        if args.ship:
            print(f"shipped to {ship(info['output_dir'], grpo.paradigm)}")
    return 0


# ------------------------------------------------------------------------- rl-train
def rl_train_arguments(p):
    p.add_argument("--config", required=True, type=Path, help="YAML profile with an rl: (and network:) section")
    p.add_argument("--algorithm", required=True, choices=["dqn", "ppo"], help="which SB3 algorithm to train")
    p.add_argument("--output", required=True, type=Path, help="model archive to write (.zip, SB3 save)")
    p.add_argument("--log", required=True, type=Path, help="per-episode reward CSV to write")
    p.add_argument("--seed", type=seed, default=None, help="training seed (default: the first of rl.seeds)")
    p.add_argument("--timesteps", type=positive_int, default=None, help="override rl.timesteps[ALGORITHM]")
    p.add_argument("--ship", action="store_true", help="also copy the model into the package as the default")


def rl_train(args) -> int:
    from lsa.rl.config import rl_config
    from lsa.rl.train import ship, train_agent
    from lsa.sim import network_config

    raw = load_yaml(args.config)
    info = train_agent(args.algorithm, rl_config(raw), args.output, args.log, seed=args.seed,
                       network=network_config(raw), timesteps=args.timesteps)
    print(json.dumps(info, indent=1))
    if args.ship:
        print(f"shipped to {ship(args.output, args.algorithm)}")
    return 0
