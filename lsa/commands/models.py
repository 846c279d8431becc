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
