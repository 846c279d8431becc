"""Configuration plumbing shared by every layer: YAML profile loading and `Section`, the base of
every config dataclass (one per YAML section), which type-checks and validates itself.

A section is a frozen dataclass whose fields are declared with `option(default, help)`; the help
text is written once and reused by the CLI (`Section.help_of`). `__post_init__` checks every
field's type against its annotation and then calls the section's own `check()`, so
`dataclasses.replace` cannot bypass validation (as in TRL's config classes).
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from lsa.errors import ConfigError


def option(default: Any = dataclasses.MISSING, help: str = "", **kwargs) -> Any:
    """A documented config field: `default` (a list/dict default is copied per instance) and `help`."""
    if isinstance(default, (list, dict, set)):
        value = default
        return field(default_factory=lambda: type(value)(value), metadata={"help": help}, **kwargs)
    return field(default=default, metadata={"help": help}, **kwargs)


class Section:
    """Base of the config dataclasses. Subclasses set `SECTION` (the YAML key) and may override
    `check()` to reject bad values or combinations with a message that says what to change."""

    SECTION: ClassVar[str] = ""

    def __post_init__(self):
        hints = _type_hints(type(self))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in hints and not _conforms(value, hints[f.name]):
                raise ConfigError(f"config section '{self.SECTION}': {f.name} must be "
                                  f"{_describe(hints[f.name])}, got {value!r} ({type(value).__name__})")
        self.check()

    def check(self) -> None:
        """Reject bad values; raise `ConfigError` via `self.fail(...)`."""

    def fail(self, message: str):
        raise ConfigError(f"config section '{self.SECTION}': {message}")

    @classmethod
    def from_mapping(cls, values: dict | None, section: str | None = None):
        """Build from a YAML mapping; unknown keys and wrong types are a `ConfigError`."""
        name = section or cls.SECTION
        values = check_mapping(values, name, known={f.name for f in dataclasses.fields(cls)})
        try:
            return cls(**values)
        except TypeError as exc:          # a required field is missing
            raise ConfigError(f"config section '{name}': {exc}") from None

    @classmethod
    def help_of(cls, name: str) -> str:
        """The documented help of field `name` (for CLI options)."""
        for f in dataclasses.fields(cls):
            if f.name == name:
                return f.metadata.get("help", "")
        raise KeyError(name)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def check_mapping(values, name: str, known=None) -> dict:
    """`values` of config section `name` as a dict (None: empty); not a mapping, or a key outside
    `known` (when given), is a `ConfigError` naming the section."""
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"config section '{name}' must be a mapping, got {type(values).__name__}")
    unknown = sorted(str(k) for k in set(values) - set(known)) if known is not None else []
    if unknown:
        raise ConfigError(f"unknown key(s) in config section '{name}': {', '.join(unknown)} "
                          f"(known: {', '.join(sorted(known))})")
    return values


def section(config: dict | None, cls: type, key: str | None = None):
    """The section `key` (default `cls.SECTION`) of a loaded profile as `cls`."""
    if config is not None and not isinstance(config, dict):
        raise ConfigError(f"a config must be a mapping, got {type(config).__name__}")
    key = key or cls.SECTION
    return cls.from_mapping((config or {}).get(key), key)


def load_yaml(path: str | Path) -> dict:
    """Read a YAML profile; a missing or malformed file is a `ConfigError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError, OSError) as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return data


# ---------------------------------------------------------------------------------------- types
def _type_hints(cls: type) -> dict:
    try:
        return typing.get_type_hints(cls)
    except Exception:                     # noqa: BLE001 - unresolvable hints: skip type checks
        return {}


def _conforms(value, hint) -> bool:
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if hint is str:
        return isinstance(value, str)
    if origin in (list, tuple) or hint in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False
        args = typing.get_args(hint)
        return not args or all(_conforms(v, args[0]) for v in value)
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            return False
        args = typing.get_args(hint)
        return not args or all(_conforms(k, args[0]) and _conforms(v, args[1]) for k, v in value.items())
    return True


def _describe(hint) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(h) for h in typing.get_args(hint))
    if hint is type(None):
        return "null"
    if origin in (list, tuple):
        args = typing.get_args(hint)
        return f"a list of {_describe(args[0])}" if args else "a list"
    if origin is dict:
        return "a mapping"
    names = {bool: "true or false", int: "an integer", float: "a finite number", str: "a string",
             list: "a list", dict: "a mapping"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))
