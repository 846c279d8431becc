"""The simulator (docs/model.md, docs/format.md): the instance model, generators, file formats, physical parameters,
the utility and its metrics, and `jit` (the numba cache groups). The move engine every method shares is the next
layer, `lsa.engine`.

The names below are loaded on first use (PEP 562), so `from lsa.sim import utility` or
`from lsa.sim.network import Network` does not import the file formats, generators or config.
"""
from __future__ import annotations

from lsa.lazy import lazy_names

_SOURCES = {
    "load_npz": "formats", "read_dimacs": "formats", "save_npz": "formats", "write_dimacs": "formats",
    "from_edges": "generate", "generate_ppp": "generate", "truncate": "generate",
    "FORMAT": "network", "MAX_CHANNELS": "network", "MAX_LINKS": "network", "REGIMES": "network",
    "Network": "network", "NetworkConfig": "params", "network_config": "params",
    "evaluate": "utility", "sum_rate": "utility",
}

__all__ = sorted(_SOURCES)

__getattr__, __dir__ = lazy_names(__name__, _SOURCES, globals())
