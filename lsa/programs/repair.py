"""Deterministic repair of a program's raw output into a valid channel assignment (docs/sandbox.md).

Whatever a generated program returns becomes an (N,) int64 array with values in [0, K); every fix
is counted by kind so that rewards and result rows can report (and penalise) repair.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Iterable

import numpy as np

#: kinds of repair, in the order they are applied
REPAIR_KINDS = ("not_numeric", "shape", "length", "non_finite", "non_integer", "out_of_range")


def fill_value(index: np.ndarray | int, K: int):
    """The deterministic fill for position `index`: channel `index mod K` (a round-robin)."""
    return np.asarray(index, dtype=np.int64) % K


def repair_assignment(raw, N: int, K: int) -> tuple[np.ndarray, dict]:
    """Turn anything into a valid assignment (N,) int64 in [0, K); return it and the repairs made.

    Rules, applied in this order (counts are numbers of entries unless noted):
      - not_numeric: the value cannot be read as numbers (None, a dict, text, a ragged list) -> every
        entry is filled; inside a sequence, single unreadable entries are filled (count each).
      - shape: an array with more than one dimension is flattened (count 1); a scalar is read as a
        sequence of length 1.
      - length: longer than N -> truncated to the first N (count = entries dropped; for an iterator
        of unknown length, 1); shorter -> padded (count = entries added).
      - non_finite: NaN or +-inf -> filled.
      - non_integer: finite non-integer values -> rounded half to even (numpy `rint`).
      - out_of_range: integers outside [0, K) -> taken modulo K (Python sign rule, so -1 -> K-1).
    The fill for position i is `i mod K`. An empty dict means the input was already valid.
    Bounded work: a sequence longer than N is cut before conversion, so a huge return value costs
    O(N), and an endless iterator is read only up to N + 1 items.
    """
    if N < 0 or K < 1:
        raise ValueError(f"need N >= 0 and K >= 1, got N={N}, K={K}")
    repairs: dict[str, int] = {}

    def note(kind: str, count: int) -> None:
        if count:
            repairs[kind] = repairs.get(kind, 0) + int(count)

    idx = np.arange(N, dtype=np.int64)
    read = _to_float_vector(raw, N, note)
    if read is None:                        # nothing numeric at all
        note("not_numeric", N)
        return fill_value(idx, K), repairs
    values, unreadable, total = read

    if values.size > N:
        note("length", max(total - N, 1))
        values, unreadable = values[:N], unreadable[:N]
    elif values.size < N:
        note("length", N - values.size)
        n_read = values.size
        values = np.concatenate([values, fill_value(idx[n_read:], K).astype(np.float64)])
        unreadable = np.concatenate([unreadable, np.zeros(N - n_read, dtype=bool)])

    if unreadable.any():
        note("not_numeric", int(unreadable.sum()))
        values[unreadable] = fill_value(idx[unreadable], K)
    bad = ~np.isfinite(values)
    if bad.any():
        note("non_finite", int(bad.sum()))
        values[bad] = fill_value(idx[bad], K)
    rounded = np.rint(values)
    note("non_integer", int(np.count_nonzero(rounded != values)))
    out_of_range = (rounded < 0) | (rounded >= K)
    if out_of_range.any():
        note("out_of_range", int(out_of_range.sum()))
        rounded[out_of_range] = np.mod(rounded[out_of_range], K)
        # mod of a huge float can round to K itself; the clip keeps the result in range
        rounded = np.clip(rounded, 0, K - 1)
    return rounded.astype(np.int64), _ordered(repairs)


def _ordered(repairs: dict) -> dict:
    return {kind: repairs[kind] for kind in REPAIR_KINDS if kind in repairs}


def _to_float_vector(raw, N: int, note):
    """Read `raw` as (1-D float64 private copy, mask of unreadable entries), at most N + 1 entries;
    None when it is not a sequence of numbers at all."""
    if raw is None or isinstance(raw, (str, bytes, bytearray, dict, set, frozenset)):
        return None
    total = None                            # the true length, when it is known without reading it all
    if isinstance(raw, np.ndarray):
        arr = raw
    elif isinstance(raw, (list, tuple, range)):
        total = len(raw)
        arr = raw[:N + 1]
    elif isinstance(raw, (int, float, np.number, bool, np.bool_)):
        arr = [raw]
    elif isinstance(raw, Iterable):
        try:
            arr = list(itertools.islice(raw, N + 1))
        except Exception:
            return None
    else:
        return None
    if not isinstance(arr, np.ndarray):
        try:
            arr = np.asarray(arr)
        except Exception:          # ragged nesting and the like: read entry by entry
            return (*_entrywise(list(arr)), total if total is not None else len(arr))
    if arr.ndim == 0:
        arr = arr.reshape(1)
    elif arr.ndim > 1:
        note("shape", 1)
        arr = arr.reshape(-1)
    if total is None or arr.size != min(total, N + 1):
        total = arr.size                    # an array, or nested lists flattened: count what was read
    arr = arr[:N + 1]
    kind = arr.dtype.kind
    if kind in "biuf":
        return arr.astype(np.float64, copy=True), np.zeros(arr.size, dtype=bool), total
    if kind == "c":
        return arr.real.astype(np.float64, copy=True), arr.imag != 0, total
    return (*_entrywise(arr.tolist()), total)          # object, text, datetime ...


def _entrywise(items: list):
    values = np.empty(len(items), dtype=np.float64)
    unreadable = np.zeros(len(items), dtype=bool)
    for pos, x in enumerate(items):
        if isinstance(x, (bool, np.bool_, int, float, np.integer, np.floating)):
            try:
                values[pos] = float(x)
            except (OverflowError, ValueError):       # an int too large for a float
                values[pos] = math.inf
        else:
            values[pos] = 0.0
            unreadable[pos] = True
    return values, unreadable
