"""Compiling the engine's kernels before they are timed: `warmup()` calls every kernel of the move
engine and its searches once (numba's cache then holds them: the "engine" group of lsa.sim.jit),
`prepare` is the same with the signature of a method's set-up.
"""
from __future__ import annotations

import sys

import numpy as np

from lsa.engine import kernels as kn
from lsa.engine import search
from lsa.engine import search_kernels as sk
from lsa.engine.adjacency import adjacency
from lsa.engine.state import MoveState
from lsa.sim import jit, utility
from lsa.sim.generate import from_edges
from lsa.sim.network import Network

__all__ = ["KERNEL_SOURCES", "prepare", "warmup"]


def prepare(net: Network | None = None, params: dict | None = None) -> None:
    """`warmup()` with the signature of a method's `prepare` (set-up outside the budget): only
    compilation, nothing instance-specific."""
    warmup()


#: the modules whose kernels `warmup` compiles (the stamp of the "engine" group, lsa.sim.jit)
KERNEL_SOURCES = (kn.__file__, sk.__file__, sys.modules[adjacency.__module__].__file__)


def warmup() -> float:
    """Compile (or load from numba's cache) every engine kernel once per process; returns the
    seconds it took (0.0 when already done). Call it before a budget starts and before forking
    sandbox children. Where this machine's cache is stale, one process compiles while the others
    wait (lsa.sim.jit)."""
    return jit.warm("engine", KERNEL_SOURCES, _compile_all)


def _compile_all() -> None:
    """Call every engine and search kernel on a tiny instance, with the argument types of real runs."""
    net = from_edges(4, [(0, 1), (1, 2), (2, 3)], 2)
    state = MoveState(net, [0, 0, 1, -1])
    state.gains(0), state.all_gains(), state.move_delta(0, 1), state.best_move(1)
    state.move(3, 0), state.unplace(3), state.greedy(), state.sweep(), state.descend()
    state.solve_cluster([0, 1]), state.set([1, 1, 0, 0]), state.best_other(0), state.swap_gain(0, 2)
    state.swap_round(2)
    search.warmup(state)
    adjacency(net, perm=np.arange(net.N)[::-1])      # the renumbered layout of large instances
    utility.warmup()                                 # the metrics kernel (children score with it too)
