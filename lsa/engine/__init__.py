"""The move engine (docs/architecture.md), the layer between the instance model (`lsa.sim`) and the
methods: `MoveState` keeps an assignment's interference, rates and sum-rate exact under moves, so
one link's exact gains cost O(deg + K); the searches run on it within a deadline.

  state           `MoveState`, the link orders, `greedy_assign`, `move_gains`, `independent_movers`
  search          time-bounded searches on a `MoveState`: ILS, tabu, annealing, restarts, the hybrid
  kernels         numba kernels of moves and gains (`search_kernels`: those of the searches)
  adjacency       the engine's view of an instance: interferers and victims of every link (CSR)
  warm            `warmup()`: compile every engine kernel before a budget starts (lsa.sim.jit)

The names below are loaded on first use (PEP 562), so `from lsa.engine import kernels` does not
import the others (the function `adjacency` is `lsa.engine.adjacency.adjacency`: the name is its module's).
"""
from __future__ import annotations

from lsa.lazy import lazy_names

_SOURCES = {
    "MoveState": "state", "coupling_order": "state", "greedy_assign": "state", "independent_movers": "state",
    "move_gains": "state", "signal_order": "state",
    "coupling_strength": "adjacency",
    "KERNEL_SOURCES": "warm", "prepare": "warm", "warmup": "warm",
}

__all__ = sorted(_SOURCES)

__getattr__, __dir__ = lazy_names(__name__, _SOURCES, globals())
