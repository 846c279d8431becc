"""Confidence intervals shared by the studies, the figures and the reproduction report, and the
verdict of a claim read from its interval."""
from __future__ import annotations

import math

import numpy as np


def t_interval(values, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): Student-t interval of the mean (a single value: a zero-width interval)."""
    from scipy import stats

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return math.nan, math.nan, math.nan
    m = float(v.mean())
    if len(v) < 2:
        return m, m, m
    half = float(stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))
    return m, m - half, m + half


#: the verdicts of a claim, read from its interval (see `verdict`)
HOLDS, NOT_SHOWN, FAILS = "holds", "not shown", "fails"
VERDICTS = (HOLDS, NOT_SHOWN, FAILS)


def verdict(low: float, high: float, n: int, threshold: float, strict: bool = True, above: bool = True) -> str:
    """A claim that a quantity is above `threshold` (below it if not `above`), from its 95 % interval
    [low, high] over `n` values: "holds" when the interval lies on the claimed side (strict: a
    "beats" claim, the interval must not touch the threshold, so a tie is never a win), "fails" when
    it lies entirely on the other side, "not shown" otherwise and always when n < 2 (one value has no
    interval)."""
    if n < 2 or not (math.isfinite(low) and math.isfinite(high)):
        return NOT_SHOWN
    if not above:
        low, high, threshold = -high, -low, -threshold
    if low > threshold or (not strict and low >= threshold):
        return HOLDS
    if high < threshold or (strict and high <= threshold):
        return FAILS
    return NOT_SHOWN


def weakest(verdicts) -> str:
    """A claim over several cells or steps: fails if one fails, holds if every one holds."""
    verdicts = list(verdicts)
    return FAILS if FAILS in verdicts else HOLDS if verdicts and all(v == HOLDS for v in verdicts) else NOT_SHOWN
