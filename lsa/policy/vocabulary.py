"""The program vocabulary of a policy: `full` (every `net` method, the complete searches included)
or `primitives` (gains, moves, swaps, kicks, clusters: no complete search). Under `primitives` the
pretraining grammar never writes a complete search, the API documentation in the prompt leaves them
out, and a program that calls one earns the allow-list's rejection reward in GRPO: the policy must
compose the search itself (the ablation of issue 19: can the code paradigm discover search logic,
rather than pick among searches we wrote?).
"""
from __future__ import annotations

import ast

from lsa.programs.primitives import API_DOC

VOCABULARIES = ("full", "primitives")
#: the `net` methods that run a whole search by themselves (absent from the primitives vocabulary)
COMPLETE_SEARCHES = ("local_search", "ils", "anneal", "tabu_search", "restarts")


def complete_searches_in(source: str) -> list[str]:
    """The complete searches `source` calls as `net.<name>` (or names in any other way, e.g.
    `getattr(net, "ils")` is refused by the sandbox anyway), in order of first use; a program that
    does not parse uses none."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    used = [node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute) and node.attr in COMPLETE_SEARCHES]
    return list(dict.fromkeys(used))


def net_calls(source: str) -> list[str]:
    """The `net` methods `source` calls (`net.<name>(...)`), each once (in the order `ast.walk` meets
    them); a program that does not parse calls none."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    used = [node.func.attr for node in ast.walk(tree) if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "net"]
    return list(dict.fromkeys(used))


def allowed(source: str, vocabulary: str) -> bool:
    """Whether `source` stays within `vocabulary`."""
    return vocabulary == "full" or not complete_searches_in(source)


def api_doc(vocabulary: str = "full") -> str:
    """The program API documentation of `vocabulary` (primitives: without the complete searches)."""
    if vocabulary == "full":
        return API_DOC
    return "\n".join(line for line in API_DOC.splitlines()
                     if not any(line.startswith(f"  net.{name}(") for name in COMPLETE_SEARCHES))


__all__ = ["VOCABULARIES", "COMPLETE_SEARCHES", "complete_searches_in", "net_calls", "allowed", "api_doc"]
