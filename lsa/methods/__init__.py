"""Solution methods under the time-bounded protocol (docs/protocol.md; the methods: README, Methods): the registry, the protocol
harness, `evaluate`, and one module per classical method (each registers itself on import, in
the order `lsa methods` lists them).
"""
# isort: skip_file
from lsa.methods import random, greedy, local_search, ils, exact, km, pulp_partitioned, de  # noqa: F401  (registration)
from lsa.methods.registry import Method, all_methods, get_method, register

__all__ = ["Method", "all_methods", "get_method", "register"]
