"""`lsa evaluate`: methods x instances x budgets x seeds from a profile, one tidy CSV (or one shard of it)."""
from __future__ import annotations

from pathlib import Path

from lsa.config import load_yaml
from lsa.errors import LSAError
from lsa.io import check_writable


def evaluate_arguments(p):
    p.add_argument("--config", required=True, type=Path, help="YAML profile with an 'evaluation' section")
    p.add_argument("--output", required=True, type=Path, help="tidy CSV to write (plus a provenance sidecar)")
    p.add_argument("--methods", nargs="+", help="override evaluation.methods")
    p.add_argument("--shard", type=_shard, metavar="I/N",
                   help="run only shard I of N (0-based; lsa.workflow.shards): a shard table with a 'cell' column")
    p.add_argument("--model", action="append", default=[], metavar="METHOD=PATH",
                   help="the trained model a method runs with (the RL baselines), repeatable")


def _shard(text: str) -> tuple[int, int]:
    index, _, count = text.partition("/")
    shard, shards = int(index), int(count)
    if not 0 <= shard < shards:
        raise ValueError
    return shard, shards


_shard.__name__ = "shard I/N with 0 <= I < N"


def evaluate(args) -> int:
    from lsa.methods.evaluate import check_evaluation
    from lsa.methods.evaluate import evaluate as run_evaluation
    from lsa.workflow.provenance import write_table
    from lsa.workflow.settings import check_profile

    config = load_yaml(args.config)
    check_profile(config)                      # validate before anything runs: every section ...
    models = dict(m.partition("=")[::2] for m in args.model)
    if any(not k or not v for k, v in models.items()):
        raise LSAError(f"--model must be METHOD=PATH, got {args.model}")
    if models:
        from lsa.workflow.studies import with_models

        config = with_models(config, models)
    check_evaluation(config, args.methods)     # ... and the evaluation with --methods (and --model)
    check_writable(args.output)
    if args.shard is not None:
        from lsa.workflow.shards import evaluate_shard

        if args.methods:
            raise LSAError("--shard runs the config's methods: leave out --methods")
        df = evaluate_shard(config, *args.shard)
        write_table(df, args.output, config, args.config, shard=list(args.shard))
        print(f"wrote {args.output} (shard {args.shard[0]} of {args.shard[1]}, {len(df)} rows)")
        return 0
    df = run_evaluation(config, args.methods)
    write_table(df, args.output, config, args.config)
    summary = df.groupby(["regime", "N", "budget_s", "method"])["utility"].mean().unstack("method")
    print(summary.round(2).to_string())
    print(f"\nwrote {args.output} ({len(df)} rows)")
    if df["overrun"].any():
        print(f"warning: {int(df['overrun'].sum())} run(s) overran their budget (see column 'overrun')")
    return 0
