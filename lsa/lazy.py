"""Names of a package that load on first use (PEP 562): `lsa.sim` and `lsa.engine` map each public
name to the submodule that defines it, so importing one submodule does not import the others."""
from __future__ import annotations

import importlib
from typing import Callable


def lazy_names(package: str, sources: dict[str, str], namespace: dict) -> tuple[Callable, Callable]:
    """The module-level `__getattr__` and `__dir__` of `package` (its `globals()` is `namespace`):
    name -> `package.<sources[name]>.<name>`, imported on first use and then kept in `namespace`."""

    def __getattr__(name: str):
        if name in sources:
            value = getattr(importlib.import_module(f"{package}.{sources[name]}"), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(namespace) | set(sources))

    return __getattr__, __dir__
