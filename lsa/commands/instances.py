"""`lsa generate` and `lsa serialize`: make an instance file, print an instance's prompt."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from lsa.commands.arguments import positive_int, seed
from lsa.config import load_yaml
from lsa.errors import LSAError
from lsa.io import check_writable


# ------------------------------------------------------------------------- generate
def generate_arguments(p):
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--n", type=positive_int, help="number of links N (PPP generator)")
    src.add_argument("--dimacs", type=Path, help="DIMACS .col graph to convert (protocol model)")
    p.add_argument("--k", type=positive_int, required=True, help="number of channels K")
    p.add_argument("--regime", default="dense", help="density regime: sparse, dense, ultra-dense")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--config", type=Path, help="YAML profile whose 'network' section overrides the defaults")
    p.add_argument("-o", "--output", type=Path, required=True, help="output .npz path")


def generate(args) -> int:
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


# ------------------------------------------------------------------------- serialize
def serialize_arguments(p):
    p.add_argument("instance", help="instance file (.npz, lsa-network-v1)")
    p.add_argument("--max-tokens", type=int, default=1024, help="token budget (default 1024)")
    p.add_argument("--naive", action="store_true", help="the full serialization (ignores the budget)")
    p.add_argument("--json", action="store_true", help="print one JSON object with tokens, text, levels")
    p.add_argument("--tokenizer", default=None,
                   help="count with this Hugging Face tokenizer (a local directory); default: regex counter")


def serialize(args) -> int:
    from lsa.policy.serializer import load_tokenizer, serialize_naive
    from lsa.policy.serializer import serialize as serialize_prompt
    from lsa.sim import load_npz

    if not 0 <= args.max_tokens <= 1_000_000:
        raise LSAError(f"--max-tokens must be an integer in [0, 1000000], got {args.max_tokens}")
    if args.tokenizer is not None and not any((Path(args.tokenizer) / name).is_file()
                                              for name in ("tokenizer.json", "tokenizer_config.json")):
        raise LSAError(f"--tokenizer {args.tokenizer}: not a directory with tokenizer.json or tokenizer_config.json")
    net = load_npz(args.instance)
    tokenizer = load_tokenizer(args.tokenizer)
    state = serialize_naive(net, tokenizer) if args.naive else serialize_prompt(net, args.max_tokens, tokenizer)
    if args.json:
        print(json.dumps({"tokens": state.tokens, "text": state.text, "levels": state.levels,
                          "max_tokens": state.max_tokens, "naive": bool(args.naive), "N": net.N, "K": net.K}))
    else:
        print(state.text)
    return 0
