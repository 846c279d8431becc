"""The `lsa` command: the parser and the error boundary. Each subcommand's arguments and handler live in
`lsa.commands`; bad input gives one line on stderr naming the problem and exit status 2; output paths
are checked before any long work starts.
"""
from __future__ import annotations

import argparse
import sys

from lsa.commands import evaluation, instances, kernels, limit, models, reports, solving, training
from lsa.errors import LSAError

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


#: each command's (argument builder or None, handler), all in lsa.commands
_HANDLERS = {
    "generate": (instances.generate_arguments, instances.generate),
    "solve": (solving.solve_arguments, solving.solve), "methods": (None, solving.methods),
    "evaluate": (evaluation.evaluate_arguments, evaluation.evaluate),
    "best-known": (limit.best_known_arguments, limit.best_known),
    "serialize": (instances.serialize_arguments, instances.serialize),
    "exec": (solving.exec_arguments, solving.exec_program),
    "pretrain": (training.pretrain_arguments, training.pretrain), "train": (training.train_arguments, training.train),
    "rl-train": (training.rl_train_arguments, training.rl_train),
    "figures": (reports.figures_arguments, reports.figures), "report": (reports.report_arguments, reports.report),
    "warmup": (None, kernels.warmup),
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
