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


#: the most CPU threads any command accepts (the same bound as evaluation.threads)
MAX_THREADS = 1024

positive_int.__name__ = "positive integer"
seed.__name__ = "seed (integer >= 0)"
