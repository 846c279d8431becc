"""The method registry (README, Methods): every solution method is a `Method` under its name.

Classical methods register themselves when `lsa.methods` is imported; methods of the outer layers
(the LLM policy, the RL baselines) declare themselves as entry points of the group `lsa.methods`
in `pyproject.toml` and are loaded on the first look-up, so this layer never imports them by name.
A method is `solve(net, run, rng, **params) -> dict` offering assignments to `run` (an `Anytime`);
an optional `prepare(net, params) -> state` (model loading) runs outside the budget.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Callable

from lsa.errors import LSAError

ENTRY_POINT_GROUP = "lsa.methods"


@dataclass(frozen=True)
class Method:
    """A solution method: its name, a one-line summary, `solve`, and an optional `prepare`."""

    name: str
    summary: str
    solve: Callable
    prepare: Callable | None = None
    accepts_model: bool = False
    """True when the method loads a model (`--model PATH` / params['model'])."""
    load: Callable | None = None
    """Optional `load(params)`: starts loading what does not depend on the instance (the model) in
    the background, so that it overlaps reading the instance; `prepare` then waits for it."""


_METHODS: dict[str, Method] = {}
_plugins_loaded = False


def register(method: Method) -> Method:
    """Add `method` to the registry (a name registered twice is a programming error)."""
    if method.name in _METHODS and _METHODS[method.name] is not method:
        raise ValueError(f"method {method.name!r} is registered twice")
    _METHODS[method.name] = method
    return method


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        method = ep.load()
        if not isinstance(method, Method) or method.name != ep.name:
            raise TypeError(f"entry point {ep.name!r} of {ENTRY_POINT_GROUP!r} must name a Method called {ep.name!r}")
        register(method)


def all_methods() -> dict[str, Method]:
    """Name → Method of every registered method (classical first, then plugins)."""
    _load_plugins()
    return dict(_METHODS)


def get_method(name: str) -> Method:
    if name in _METHODS:                      # a classical method: the plugins' imports are not needed
        return _METHODS[name]
    methods = all_methods()
    if name not in methods:
        raise LSAError(f"unknown method {name!r}; known: {', '.join(methods)}")
    return methods[name]
