"""The `lsa` command: one subcommand per job; bad input gives one line on stderr and exit 2.

Heavy subcommands live in their own modules (imported only when called) and expose
`add_arguments(parser)` and `run(args) -> int`.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

import numpy as np

from .errors import LSAError

#: subcommand -> (module, one-line help); the module provides add_arguments(parser) and run(args)
COMMANDS = {
    "generate": ("lsa.cli", "generate a PPP instance or convert a DIMACS .col graph to .npz"),
    "solve": ("lsa.cli", "solve one instance with one method under a wall-clock budget"),
    "methods": ("lsa.cli", "list the available methods"),
    "evaluate": ("lsa.evaluate", "run methods x instances x budgets x seeds from a config; tidy CSV"),
    "serialize": ("lsa.serialize", "print the hierarchical (or naive) prompt of an instance"),
    "exec": ("lsa.sandbox", "run one generated program file on an instance in the sandbox"),
    "pretrain": ("lsa.policy.pretrain", "build and pretrain the embedded base model"),
    "train": ("lsa.policy.train", "GRPO (or SFT + GRPO) training of a policy from a config"),
    "figures": ("lsa.figures", "render every figure and table from results/ alone"),
}


# ------------------------------------------------------------------------- generate
def _generate_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--n", type=int, help="number of links N (PPP generator)")
    src.add_argument("--dimacs", type=Path, help="DIMACS .col graph to convert (protocol model)")
    p.add_argument("--k", type=int, required=True, help="number of channels K")
    p.add_argument("--regime", default="dense", help="density regime: sparse, dense, ultra-dense")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--config", type=Path, help="YAML profile whose 'network' section overrides the defaults")
    p.add_argument("-o", "--output", type=Path, required=True, help="output .npz path")


def _generate_run(args) -> int:
    from .config import load_yaml, network_params
    from .network import generate_ppp, read_dimacs, save_npz

    if args.k < 1:
        raise LSAError(f"--k must be >= 1, got {args.k}")
    if args.dimacs is not None:
        net = read_dimacs(args.dimacs, args.k)
    else:
        if args.n < 1:
            raise LSAError(f"--n must be >= 1, got {args.n}")
        params = network_params(load_yaml(args.config) if args.config else None)
        net = generate_ppp(args.n, args.k, args.regime, args.seed, params)
    save_npz(net, args.output)
    print(f"wrote {args.output}: N={net.N} K={net.K} M={net.M} regime={net.regime}", file=sys.stderr)
    return 0


# ------------------------------------------------------------------------- solve
def _solve_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("instance", type=Path, help="instance .npz (lsa-network-v1)")
    p.add_argument("--method", required=True, help="method name (see `lsa methods`)")
    p.add_argument("--budget", type=float, required=True, help="wall-clock budget in seconds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", help="HF model id or local path for lsa-code / lsa-direct")
    p.add_argument("--threads", type=int, default=1, help="CPU threads every method may use")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--save-assignment", type=Path, help="write the assignment (.npy, int64)")


def _solve_run(args) -> int:
    from .baselines import get_method
    from .network import atomic_path, load_npz
    from .protocol import run_method

    get_method(args.method)  # unknown method: fail before reading anything
    if not args.budget > 0:
        raise LSAError(f"--budget must be a positive number of seconds, got {args.budget}")
    net = load_npz(args.instance)
    params = {"model": args.model} if args.model else {}
    row, assignment = run_method(net, args.method, args.budget, args.seed, params,
                                 instance=args.instance.name, threads=args.threads)
    if args.save_assignment:
        with atomic_path(args.save_assignment) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, assignment.astype(np.int64))
    out = dict(row, method=args.method, n=net.N, k=net.K, throughput_bps=row["throughput"])
    if args.json:
        print(json.dumps(out, default=_json_default))
    else:
        print(f"{args.method}: utility {row['utility']:.3f} bit/s/Hz, throughput {row['throughput'] / 1e6:.2f} Mbit/s, "
              f"conflicts {row['conflicts']}, runtime {row['runtime_s']:.3f} s"
              + (" [no incumbent: random fallback]" if row["fallback_random"] else ""))
    return 0


def _json_default(obj):
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return str(obj)


# ------------------------------------------------------------------------- methods
def _methods_arguments(p: argparse.ArgumentParser) -> None:
    pass


def _methods_run(args) -> int:
    from .baselines import METHODS

    width = max(len(name) for name in METHODS)
    for name, spec in METHODS.items():
        print(f"{name:<{width}}  {spec.summary}")
    return 0


_LOCAL = {"generate": (_generate_arguments, _generate_run), "solve": (_solve_arguments, _solve_run),
          "methods": (_methods_arguments, _methods_run)}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lsa", description="LLM-driven large-scale spectrum access")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name != command:
            continue
        if name in _LOCAL:
            _LOCAL[name][0](p)
        else:
            importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    try:
        parser = build_parser(command if command in COMMANDS else None)
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        if args.command in _LOCAL:
            return _LOCAL[args.command][1](args)
        return importlib.import_module(COMMANDS[args.command][0]).run(args)
    except LSAError as exc:
        print(f"lsa {command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lsa: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `lsa serialize ... | head`
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
