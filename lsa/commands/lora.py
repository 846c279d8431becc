"""`lsa lora-grpo` and `lsa lora-eval`: LoRA-GRPO of a real pretrained chat model and the evaluation
of its adapter under the protocol (lsa.workflow.lora; the `lora_grpo:` section of a profile)."""
from __future__ import annotations

import json
from pathlib import Path

from lsa.commands.arguments import positive_int


def lora_grpo_arguments(p):
    p.add_argument("--config", required=True, type=Path, help="YAML profile (or slice) with a lora_grpo: section")
    p.add_argument("--run-dir", required=True, type=Path, help="checkpoints, in-run log and final/ (a rerun resumes)")
    p.add_argument("--log", required=True, type=Path, help="tidy per-step training log (CSV) to write")
    p.add_argument("--adapter", required=True, type=Path, help="directory the trained LoRA adapter is installed into")
    p.add_argument("--model", default=None,
                   help="override lora_grpo.model.name_or_path: a named model (`lsa model list`), HF id or local folder")
    p.add_argument("--max-steps", type=positive_int, default=None, help="override lora_grpo.grpo.max_steps")
    p.add_argument("--bf16", action="store_true", help="bfloat16 weights and mixed precision (a GPU)")


def lora_grpo(args) -> int:
    from lsa.config import load_yaml
    from lsa.io import check_writable
    from lsa.workflow.lora import train_stage
    from lsa.workflow.settings import check_profile

    raw = load_yaml(args.config)
    check_profile(raw)                          # every section (the evaluation's too), before anything is written
    for target in (args.log, args.adapter / "adapter_config.json", args.run_dir / "final" / "config.json"):
        check_writable(target)
    info = train_stage(raw, args.run_dir, args.log, args.adapter, config_path=args.config, model=args.model,
                       max_steps=args.max_steps, bf16=args.bf16 or None)
    print(json.dumps(info, indent=1, default=str))
    return 0


def lora_eval_arguments(p):
    p.add_argument("--config", required=True, type=Path, help="YAML profile (or slice) with a lora_grpo: section")
    p.add_argument("--adapter", required=True, type=Path, help="the trained LoRA adapter (from lsa lora-grpo)")
    p.add_argument("--output", required=True, type=Path, help="tidy CSV: the adapter and the classical methods")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def lora_eval(args) -> int:
    from lsa.config import load_yaml
    from lsa.io import check_writable
    from lsa.workflow.lora import evaluate_stage, write_evaluation
    from lsa.workflow.settings import check_profile

    raw = load_yaml(args.config)
    check_profile(raw)
    check_writable(args.output)
    table = evaluate_stage(raw, args.adapter, progress=not args.no_progress)
    write_evaluation(table, args.output, raw, args.config, adapter=str(args.adapter))
    summary = table.groupby(["N", "budget_s", "method"])[["utility", "valid", "first_incumbent_s"]].mean()
    print(summary.round(3).to_string())
    return 0
