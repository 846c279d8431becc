"""`lsa best-known`: the best-known utility of every evaluation instance (long runs of the strongest
methods, exact optima where `exact` proves them), the limit every method's share is read against."""
from __future__ import annotations

from pathlib import Path

from lsa.config import load_yaml
from lsa.io import check_writable


def best_known_arguments(p):
    p.add_argument("--config", required=True, type=Path,
                   help="YAML profile with 'network', 'evaluation' (its instances) and 'best_known' sections")
    p.add_argument("--output", required=True, type=Path, help="tidy CSV to write (plus a provenance sidecar)")
    p.add_argument("--cache", type=Path, default=None,
                   help="directory of per-instance results (default: <output dir>/runs/best_known); a rerun "
                        "reads the instances already solved with the same settings")
    p.add_argument("--reference", type=Path, default=None,
                   help="the committed table read where best_known.from_reference is set "
                        "(default: reference/results/best_known.csv)")
    p.add_argument("--fresh", action="store_true",
                   help="solve every instance, ignoring best_known.from_reference (the committed table)")


def best_known(args) -> int:
    from lsa.methods.evaluate import evaluation_config
    from lsa.workflow.best_known import best_known_config, compute_best_known
    from lsa.workflow.paths import Paths
    from lsa.workflow.provenance import write_table

    config = load_yaml(args.config)
    if args.fresh and isinstance(config.get("best_known"), dict):
        config["best_known"] = {**config["best_known"], "from_reference": False}
    evaluation_config(config)   # validate first
    best_known_config(config)
    check_writable(args.output)
    cache = args.cache if args.cache is not None else args.output.parent / "runs" / "best_known"
    reference = args.reference if args.reference is not None else Paths.reference().best_known
    df = compute_best_known(config, cache, reference=reference)
    write_table(df, args.output, config, args.config)
    summary = df.groupby(["regime", "N"]).agg(best_known=("best_known", "mean"), proven=("proven_optimal", "sum"),
                                               instances=("instance", "count"), load_1min=("load_1min", "mean"))
    print(summary.round(2).to_string())
    print(f"\nwrote {args.output} ({len(df)} instances)")
    return 0
