"""The simulator (docs/model.md, docs/format.md): the instance model, generators, file formats, physical parameters,
the utility and its metrics, and `jit` (the numba cache groups). The move engine every method shares is the next
layer, `lsa.engine`.

The names below are loaded on first use (PEP 562), so `from lsa.sim import utility` or
`from lsa.sim.network import Network` does not import the file formats, generators or config.
"""
from __future__ import annotations

import importlib

_SOURCES = {
    "load_npz": "formats", "read_dimacs": "formats", "save_npz": "formats", "write_dimacs": "formats",
    "from_edges": "generate", "generate_ppp": "generate", "truncate": "generate",
    "FORMAT": "network", "MAX_CHANNELS": "network", "MAX_LINKS": "network", "REGIMES": "network",
    "Network": "network", "NetworkConfig": "params", "network_config": "params",
    "evaluate": "utility", "sum_rate": "utility",
}

__all__ = sorted(_SOURCES)


def __getattr__(name: str):
    if name in _SOURCES:
        value = getattr(importlib.import_module(f"lsa.sim.{_SOURCES[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'lsa.sim' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
