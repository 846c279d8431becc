"""`lsa model`: the named offline models (list them, convert one ahead of time, print its folder)."""
from __future__ import annotations

import sys

from lsa.errors import LSAError


def model_arguments(p):
    p.add_argument("action", choices=["list", "fetch", "path"],
                   help="list: the named models; fetch: convert NAME into the cache now (set-up); "
                        "path: print NAME's converted folder")
    p.add_argument("name", nargs="?", help="a named model, e.g. smollm2-135m")


def model(args) -> int:
    from lsa.policy.named_models import NAMED_MODELS, install_hint, model_cache_dir, resolve_named

    if args.action == "list":
        for m in NAMED_MODELS.values():
            print(f"{m.name}\t{m.description}\tinstall: {install_hint(m)}")
        print(f"cache: {model_cache_dir()}", file=sys.stderr)
        return 0
    if args.name not in NAMED_MODELS:
        raise LSAError(f"unknown named model {args.name!r}; known: {', '.join(NAMED_MODELS)}")
    path = resolve_named(args.name, convert=args.action == "fetch",
                         progress=lambda msg: print(msg, file=sys.stderr))
    print(path)
    return 0


def cold_start_arguments(p):
    from pathlib import Path

    p.add_argument("--config", required=True, type=Path, help="YAML profile with a cold_start: section (and network:)")
    p.add_argument("--output", required=True, type=Path, help="per-completion CSV (paradigm, N, valid, utility, text)")
    p.add_argument("--summary", required=True, type=Path, help="summary CSV: valid share per paradigm and N, 95 %% Wilson interval")
    p.add_argument("--model", default=None, help="override cold_start.model")
    p.add_argument("--samples", type=int, default=None, help="override cold_start.samples")
    p.add_argument("--n-links", type=int, nargs="+", default=None, help="override cold_start.n_links")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def cold_start(args) -> int:
    import dataclasses

    import pandas as pd

    from lsa.config import load_yaml
    from lsa.io import check_writable, write_text
    from lsa.policy.cold_start import SUMMARY_COLUMNS, cold_start_config, run_cold_start, summarize
    from lsa.sim import network_config

    raw = load_yaml(args.config)
    cfg = cold_start_config(raw)
    overrides = {k: v for k, v in {"model": args.model, "samples": args.samples, "n_links": args.n_links}.items()
                 if v is not None}
    if overrides:
        cfg = type(cfg).from_mapping({**cfg.to_dict(), **overrides})
    check_writable(args.output)
    check_writable(args.summary)
    rows = run_cold_start(cfg, network_config(raw), progress=not args.no_progress)
    summary = pd.DataFrame(summarize(rows), columns=SUMMARY_COLUMNS)
    write_text(args.output, pd.DataFrame(rows).to_csv(index=False))
    write_text(args.summary, summary.to_csv(index=False, float_format="%.4g"))
    print(summary.drop(columns=["model"]).to_string(index=False, float_format=lambda x: f"{x:.3g}"))
    print(f"config: {dataclasses.asdict(cfg)}", file=sys.stderr)
    return 0
