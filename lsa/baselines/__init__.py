"""Registry of every solution method (SPEC §6). Each module registers `solve(net, run, rng, **params)`.

Modules are imported lazily so that `lsa methods` and classical baselines never import torch.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from ..errors import LSAError


@dataclass(frozen=True)
class MethodSpec:
    name: str
    module: str
    summary: str
    solve_name: str = "solve"
    prepare_name: str | None = None

    @property
    def solve(self) -> Callable:
        return getattr(importlib.import_module(self.module), self.solve_name)

    @property
    def prepare(self) -> Callable | None:
        if self.prepare_name is None:
            return None
        return getattr(importlib.import_module(self.module), self.prepare_name)


METHODS: dict[str, MethodSpec] = {m.name: m for m in [
    MethodSpec("random", "lsa.baselines.random", "uniformly random channel per link, resampled while time remains"),
    MethodSpec("greedy", "lsa.baselines.greedy", "sequential greedy: strongest links first, channel of best marginal sum-rate"),
    MethodSpec("local-search", "lsa.baselines.local_search", "vectorised best-response with tabu from the greedy start"),
    MethodSpec("exact", "lsa.baselines.exact", "exact optimum by branch and bound (small N only; refuses larger)"),
    MethodSpec("km", "lsa.baselines.km", "Kuhn-Munkres on channel slots, interference-blind (scipy linear_sum_assignment)"),
    MethodSpec("km-partitioned", "lsa.baselines.km", "Kuhn-Munkres per spatial cluster, neighbours' channels as costs", "solve_partitioned"),
    MethodSpec("pulp-partitioned", "lsa.baselines.pulp_partitioned", "one PuLP/CBC MILP per cluster with fixed-neighbour terms; greedy fallback"),
    MethodSpec("de", "lsa.baselines.de", "scipy differential evolution with integrality on the channel vector"),
    MethodSpec("lsa-code", "lsa.policy.inference", "LLM writes assign(net, rng) code, run in the sandbox, best-of-n under the budget", "solve_code", "prepare_code"),
    MethodSpec("lsa-direct", "lsa.policy.inference", "LLM writes the channel list directly, best-of-n under the budget", "solve_direct", "prepare_direct"),
]}


def get_method(name: str) -> MethodSpec:
    if name not in METHODS:
        raise LSAError(f"unknown method {name!r}; known: {', '.join(METHODS)}")
    return METHODS[name]
