"""The `lsa` command: one subcommand per job. Bad input gives one line on stderr naming the
problem and exit status 2; output paths are checked before any long work starts.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from lsa.commands import limit, models, reports, training
from lsa.commands.arguments import MAX_THREADS, positive_int, seed
from lsa.config import load_yaml
from lsa.errors import LSAError
from lsa.io import atomic_path, check_writable

COMMANDS: dict[str, str] = {
    "generate": "generate a PPP instance or convert a DIMACS .col graph to .npz",
    "solve": "solve one or more instances with one method under a wall-clock budget (model loaded once)",
    "methods": "list the available methods",
    "evaluate": "run methods x instances x budgets x seeds from a config; tidy CSV",
    "best-known": "best-known utility of every evaluation instance (long runs, exact optima); tidy CSV",
    "serialize": "print the hierarchical (or naive) prompt of an instance",
    "exec": "run one generated program file on an instance in the sandbox",
    "pretrain": "build and pretrain the embedded base model",
    "train": "GRPO (or SFT + GRPO) training of a policy from a config",
    "rl-train": "train the DQN or PPO baseline (stable-baselines3) from a config's rl: section",
    "figures": "render every figure and table from a results directory alone",
    "report": "compare a run's results with the committed reference, claim by claim",
    "warmup": "compile every numba kernel into this machine's cache (once, after installing)",
    "plan": "the cost plan of a profile on a cluster: jobs, core-hours, GPU-hours",
    "model": "named offline models: list, fetch (convert once into the cache), path",
    "cold-start": "zero-shot valid share of a pretrained chat model, code vs direct paradigm",
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (exit 2) instead of usage + message."""

    def error(self, message):
        raise LSAError(message)




# ------------------------------------------------------------------------- generate
def _generate_arguments(p):
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--n", type=positive_int, help="number of links N (PPP generator)")
    src.add_argument("--dimacs", type=Path, help="DIMACS .col graph to convert (protocol model)")
    p.add_argument("--k", type=positive_int, required=True, help="number of channels K")
    p.add_argument("--regime", default="dense", help="density regime: sparse, dense, ultra-dense")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--config", type=Path, help="YAML profile whose 'network' section overrides the defaults")
    p.add_argument("-o", "--output", type=Path, required=True, help="output .npz path")


def _generate(args) -> int:
    from lsa.sim import (
        MAX_CHANNELS,
        MAX_LINKS,
        generate_ppp,
        network_config,
        read_dimacs,
        save_npz,
    )
    from lsa.sim.generate import check_generation_size

    if args.k > MAX_CHANNELS:
        raise LSAError(f"--k must be at most {MAX_CHANNELS}, got {args.k}")
    if args.n is not None and args.n > MAX_LINKS:
        raise LSAError(f"--n must be at most {MAX_LINKS}, got {args.n}")
    params = network_config(load_yaml(args.config) if args.config else None)
    if args.n is not None:
        check_generation_size(args.n, args.k, params, "--n/--k")
    check_writable(args.output)
    if args.dimacs is not None:
        net = read_dimacs(args.dimacs, args.k)
    else:
        net = generate_ppp(args.n, args.k, args.regime, args.seed, params)
    save_npz(net, args.output)
    print(f"wrote {args.output}: N={net.N} K={net.K} M={net.M} regime={net.regime}", file=sys.stderr)
    return 0


# ------------------------------------------------------------------------- solve
def _solve_arguments(p):
    p.add_argument("instance", type=Path, nargs="+",
                   help="instance .npz (lsa-network-v1); several are solved one after the other in this "
                        "process (set-up such as model loading is paid once), one result line each")
    p.add_argument("--method", required=True, help="method name (see `lsa methods`)")
    p.add_argument("--budget", type=float, required=True, help="wall-clock budget in seconds")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--model", help="HF model id, local path or named offline model (`lsa model list`), for methods that load a model")
    p.add_argument("--threads", type=positive_int, default=1, help="CPU threads every method may use")
    p.add_argument("--json", action="store_true", help="print one JSON object (one line) per instance")
    p.add_argument("--save-assignment", type=Path, help="write the assignment (.npy, int64); one instance only")


def _solve(args) -> int:
    from lsa.methods import get_method
    from lsa.methods.protocol import check_budget, run_method, setup_phase, start_loading
    from lsa.sim import load_npz

    method = get_method(args.method)  # unknown method: fail before reading anything
    check_budget(args.budget, "--budget")
    if args.threads > MAX_THREADS:
        raise LSAError(f"--threads must be in [1, {MAX_THREADS}], got {args.threads}")
    if args.model and not method.accepts_model:
        raise LSAError(f"--model is for methods that load a model; {args.method!r} does not")
    if args.save_assignment and len(args.instance) > 1:
        raise LSAError(f"--save-assignment takes one instance, got {len(args.instance)}")
    for path in args.instance:           # every file is there before the first solve starts
        if not path.is_file():
            raise LSAError(f"instance file not found: {path}")
    if args.save_assignment:
        check_writable(args.save_assignment)
    params = {"model": args.model} if args.model else {}
    with setup_phase():
        start_loading(args.method, params)   # the model loads while the first instance is read and indexed
    for path in args.instance:           # each instance is solved independently: same method state at its start
        with setup_phase():
            net = load_npz(path)
        row, assignment = run_method(net, args.method, args.budget, args.seed, params,
                                     instance=path.name, threads=args.threads)
        if args.save_assignment:
            with atomic_path(args.save_assignment) as tmp, open(tmp, "wb") as fh:
                np.save(fh, assignment.astype(np.int64))
        out = dict(row, method=args.method, n=net.N, k=net.K, throughput_bps=row["throughput"])
        del net, assignment
        if args.json:
            print(json.dumps(out, default=_json_default), flush=True)
        else:
            print((f"{path.name}: " if len(args.instance) > 1 else "")
                  + f"{args.method}: utility {row['utility']:.3f} bit/s/Hz, throughput {row['throughput'] / 1e6:.2f} Mbit/s, "
                  f"conflicts {row['conflicts']}, runtime {row['runtime_s']:.3f} s"
                  + (" [no incumbent: random fallback]" if row["fallback_random"] else ""), flush=True)
    return 0


def _json_default(obj):
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return str(obj)


# ------------------------------------------------------------------------- methods
def _methods(args) -> int:
    from lsa.methods import all_methods

    methods = all_methods()
    width = max(len(name) for name in methods)
    for name, spec in methods.items():
        print(f"{name:<{width}}  {spec.summary}")
    return 0


# ------------------------------------------------------------------------- evaluate
def _evaluate_arguments(p):
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


def _evaluate(args) -> int:
    from lsa.methods.evaluate import check_evaluation, evaluate
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
    df = evaluate(config, args.methods)
    write_table(df, args.output, config, args.config)
    summary = df.groupby(["regime", "N", "budget_s", "method"])["utility"].mean().unstack("method")
    print(summary.round(2).to_string())
    print(f"\nwrote {args.output} ({len(df)} rows)")
    if df["overrun"].any():
        print(f"warning: {int(df['overrun'].sum())} run(s) overran their budget (see column 'overrun')")
    return 0


# ------------------------------------------------------------------------- serialize
def _serialize_arguments(p):
    p.add_argument("instance", help="instance file (.npz, lsa-network-v1)")
    p.add_argument("--max-tokens", type=int, default=1024, help="token budget (default 1024)")
    p.add_argument("--naive", action="store_true", help="the full serialization (ignores the budget)")
    p.add_argument("--json", action="store_true", help="print one JSON object with tokens, text, levels")
    p.add_argument("--tokenizer", default=None,
                   help="count with this Hugging Face tokenizer (a local directory); default: regex counter")


def _serialize(args) -> int:
    from lsa.policy.serializer import load_tokenizer, serialize, serialize_naive
    from lsa.sim import load_npz

    if not 0 <= args.max_tokens <= 1_000_000:
        raise LSAError(f"--max-tokens must be an integer in [0, 1000000], got {args.max_tokens}")
    if args.tokenizer is not None and not any((Path(args.tokenizer) / name).is_file()
                                              for name in ("tokenizer.json", "tokenizer_config.json")):
        raise LSAError(f"--tokenizer {args.tokenizer}: not a directory with tokenizer.json or tokenizer_config.json")
    net = load_npz(args.instance)
    tokenizer = load_tokenizer(args.tokenizer)
    state = serialize_naive(net, tokenizer) if args.naive else serialize(net, args.max_tokens, tokenizer)
    if args.json:
        print(json.dumps({"tokens": state.tokens, "text": state.text, "levels": state.levels,
                          "max_tokens": state.max_tokens, "naive": bool(args.naive), "N": net.N, "K": net.K}))
    else:
        print(state.text)
    return 0


# ------------------------------------------------------------------------- exec
def _exec_arguments(p):
    p.add_argument("program", type=Path, nargs="?", help="Python file defining `def assign(net, rng)`")
    p.add_argument("instance", nargs="?", help="instance file (.npz, lsa-network-v1)")
    p.add_argument("--explain", action="store_true",
                   help="print which sandbox layers are active on this machine and what each blocks")
    p.add_argument("--timeout", type=float, default=2.0, help="wall-clock limit in seconds (default 2)")
    p.add_argument("--seed", type=seed, default=0, help="seed of the `rng` the program receives")
    p.add_argument("--memory-mb", type=int, default=1024, help="memory cap of the program (MiB)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--assignment", action="store_true", help="include the assignment in --json output")


def _exec(args) -> int:
    """Exit 0 when the program ran (status ok), 1 otherwise; bad input is an `LSAError`."""
    from lsa.programs.checks import read_program
    from lsa.programs.oslayer import explain
    from lsa.programs.runner import run_program
    from lsa.sim import load_npz

    if args.explain:
        print(explain())
        return 0
    if args.program is None or args.instance is None:
        raise LSAError("exec needs a program file and an instance (or --explain)")
    source = read_program(args.program)
    if not (0 < args.timeout <= 600 and math.isfinite(args.timeout)):
        raise LSAError(f"--timeout must be seconds in (0, 600], got {args.timeout}")
    if not 16 <= args.memory_mb <= 65536:
        raise LSAError(f"--memory-mb must be in [16, 65536], got {args.memory_mb}")
    net = load_npz(args.instance)
    result = run_program(source, net, timeout_s=args.timeout, seed=args.seed, memory_mb=args.memory_mb)
    if args.json:
        print(result.to_json(include_assignment=args.assignment))
    else:
        print(result.to_text(net.N))
    return 0 if result.ok else 1


# ------------------------------------------------------------------------- warmup
def _warmup(args) -> int:
    """Fill numba's cache for every kernel group (`make setup` runs this): afterwards no command
    compiles. Idempotent; a second run only loads the cache."""
    import time

    from lsa.engine.warm import KERNEL_SOURCES
    from lsa.engine.warm import warmup as engine_warmup
    from lsa.rl.features import warmup as rl_warmup
    from lsa.sim import jit
    from lsa.sim.network import warmup as network_warmup
    from lsa.sim.utility import warmup as utility_warmup

    stale = not jit.is_current("engine", KERNEL_SOURCES)
    print(f"numba kernel cache: {jit.cache_dir()}" + (" (filling it: about a minute)" if stale else ""),
          file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    for name, warm in (("network", network_warmup), ("utility", utility_warmup), ("engine", engine_warmup),
                       ("rl", rl_warmup)):
        print(f"  {name:<8} {warm():6.2f} s", file=sys.stderr)
    print(f"kernels ready in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0


_HANDLERS = {
    "generate": (_generate_arguments, _generate), "solve": (_solve_arguments, _solve),
    "methods": (None, _methods), "evaluate": (_evaluate_arguments, _evaluate),
    "best-known": (limit.best_known_arguments, limit.best_known),
    "serialize": (_serialize_arguments, _serialize), "exec": (_exec_arguments, _exec),
    "pretrain": (training.pretrain_arguments, training.pretrain), "train": (training.train_arguments, training.train),
    "rl-train": (training.rl_train_arguments, training.rl_train),
    "figures": (reports.figures_arguments, reports.figures), "report": (reports.report_arguments, reports.report),
    "warmup": (None, _warmup),
    "plan": (reports.plan_arguments, reports.plan),
    "model": (models.model_arguments, models.model),
    "cold-start": (models.cold_start_arguments, models.cold_start),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only `command`'s arguments are built (the others may import heavy modules)."""
    parser = _Parser(prog="lsa", description="LLM-driven large-scale spectrum access")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add = _HANDLERS[name][0]
        if name == command and add is not None:
            add(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    rc = _main(argv)
    if argv is None:
        # the `lsa` command: the process ends next. Frozen objects are left out of the collections
        # of interpreter shutdown (with numba loaded, ~0.2 s of CPU otherwise)
        import gc

        gc.freeze()
        if sys.argv[1:2] == ["solve"]:
            # every result line is printed and every file written (atomically): nothing is left to
            # finalise, and tearing down torch, transformers and GiB of arrays costs the user ~1 s
            # at N = 100 000 (benchmarks/bench_solve_fresh.py)
            import logging
            import os

            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(rc)
    return rc


def _main(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    try:
        parser = build_parser(command if command in COMMANDS else None)
        if not argv or argv[0] in ("-h", "--help"):
            parser.print_help()
            return 0 if argv else 2
        args = parser.parse_args(argv)
        return _HANDLERS[args.command][1](args)
    except LSAError as exc:
        print(f"lsa {command or ''}: error: {_one_line(exc)}".replace("  ", " "), file=sys.stderr)
        return 2
    except MemoryError:
        print(f"lsa {command or ''}: error: out of memory".replace("  ", " "), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lsa: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `lsa serialize ... | head`
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # a bug, not bad input: still one line (LSA_DEBUG=1 shows the traceback)
        import os
        if os.environ.get("LSA_DEBUG"):
            raise
        print(f"lsa {command or ''}: internal error: {type(exc).__name__}: {_one_line(exc)} "
              f"(rerun with LSA_DEBUG=1 for the traceback)".replace("  ", " "), file=sys.stderr)
        return 1


def _one_line(exc: BaseException) -> str:
    """An error message as one line (messages quoting other tools can span several)."""
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
