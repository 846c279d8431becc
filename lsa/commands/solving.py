"""`lsa solve`, `lsa methods` and `lsa exec`: solve instances with a method under a budget, list
the methods, run one generated program in the sandbox."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from lsa.commands.arguments import MAX_THREADS, key_values, positive_int, seed
from lsa.errors import LSAError
from lsa.io import atomic_path, check_writable


# ------------------------------------------------------------------------- solve
def solve_arguments(p):
    p.add_argument("instance", type=Path, nargs="+",
                   help="instance .npz (lsa-network-v1); several are solved one after the other in this "
                        "process (set-up such as model loading is paid once), one result line each")
    p.add_argument("--method", required=True, help="method name (see `lsa methods`)")
    p.add_argument("--budget", type=float, required=True, help="wall-clock budget in seconds")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--model", help="HF model id, local path or named offline model (`lsa model list`), for methods that load a model")
    p.add_argument("--threads", type=positive_int, default=1, help="CPU threads every method may use")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="an inference: setting of a method that loads a model (lsa-code, lsa-direct), e.g. "
                        "--set allocation=relay --set temperature=0.9 (the inference: section of config/default.yaml lists them)")
    p.add_argument("--json", action="store_true", help="print one JSON object (one line) per instance")
    p.add_argument("--save-assignment", type=Path, help="write the assignment (.npy, int64); one instance only")


def solve(args) -> int:
    from lsa.methods.protocol import check_run, run_method, setup_phase, start_loading
    from lsa.sim import load_npz

    method = check_run(args.method, args.budget, "--budget")  # unknown method, bad budget: fail before reading anything
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
    if args.set:
        if not method.accepts_model:
            raise LSAError(f"--set is for the inference: settings of methods that load a model; {args.method!r} has none")
        from lsa.policy.config import InferenceConfig

        params["inference"] = key_values(args.set)
        InferenceConfig.from_mapping(params["inference"])     # unknown keys, types and ranges: fail before reading
    for index, path in enumerate(args.instance):   # each instance is solved independently: same method state at its start
        with setup_phase():
            net = load_npz(path)
            if index == 0:       # the model loads in the background while the first instance is indexed (after
                start_loading(args.method, params)   # the read: the imports would slow the read as much as they overlap)
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
def methods(args) -> int:
    from lsa.methods import all_methods

    known = all_methods()
    width = max(len(name) for name in known)
    for name, spec in known.items():
        print(f"{name:<{width}}  {spec.summary}")
    return 0


# ------------------------------------------------------------------------- exec
def exec_arguments(p):
    p.add_argument("program", type=Path, nargs="?", help="Python file defining `def assign(net, rng)`")
    p.add_argument("instance", nargs="?", help="instance file (.npz, lsa-network-v1)")
    p.add_argument("--explain", action="store_true",
                   help="print which sandbox layers are active on this machine and what each blocks")
    p.add_argument("--timeout", type=float, default=2.0, help="wall-clock limit in seconds (default 2)")
    p.add_argument("--seed", type=seed, default=0, help="seed of the `rng` the program receives")
    p.add_argument("--memory-mb", type=int, default=1024, help="memory cap of the program (MiB)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--assignment", action="store_true", help="include the assignment in --json output")


def exec_program(args) -> int:
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
