"""Argument types shared by the `lsa` subcommands (argparse shows their names in errors)."""
from __future__ import annotations


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError
    return value


def seed(text: str) -> int:
    value = int(text)
    if not 0 <= value < 2 ** 63:
        raise ValueError
    return value


def key_values(items: list[str], option: str = "--set") -> dict:
    """`KEY=VALUE` items (repeatable `--set`) as a mapping; each VALUE is read as YAML (numbers,
    booleans, lists), so the config section that takes them checks types and ranges."""
    from lsa.config import parse_yaml
    from lsa.errors import ConfigError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{option} expects KEY=VALUE, got {item!r}")
        out[key.strip()] = parse_yaml(value, f"{option} {key.strip()}")
    return out


#: the most CPU threads any command accepts (the same bound as evaluation.threads)
MAX_THREADS = 1024

positive_int.__name__ = "positive integer"
seed.__name__ = "seed (integer >= 0)"
