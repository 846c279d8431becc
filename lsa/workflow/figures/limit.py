"""The claims read against the limit: the policy's share of the best-known utility of each instance
(long runs of the strongest methods, exact optima; `lsa.workflow.best_known`), per instance (a
policy: its mean over training seeds), with a 95 % interval over instances and the verdict "at least
the target" read from it. The strongest classical methods' shares on the same instances are given
beside it. `limit_claims(Claim, estimate)` builds the registry entries (`claims.CLAIMS` holds them).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from lsa.workflow.figures.data import MissingResults, Results
from lsa.workflow.figures.evaluations import share_of_best_known

#: the policy's targets: (claim id, regime or None = every density pooled, N ("table" = table_n,
#: "largest" = the largest N evaluated), budget [s] (None = the fixed budget), share it must reach)
TARGETS = [
    *((f"limit-{regime}", regime, "table", None, 0.99) for regime in ("sparse", "dense", "ultra-dense")),
    ("limit-strict-budget", None, "table", 0.5, 0.95),
    ("limit-largest-dense", "dense", "largest", 5.0, 0.98),
]
#: the classical methods whose share is given beside the policy's
COMPARED = ("local-search", "ils")


def _cell(res: Results, n: str, budget_s: float | None, regime: str | None) -> tuple[int, float, str]:
    """(N, budget, note): the N and budget a target is read at in this run; a budget the run did not
    evaluate at that N falls back to the fixed budget (said in the note)."""
    rows = res.method_rows
    size = res.table_n if n == "table" else int(rows["N"].max())
    code = rows[(rows["method"] == "lsa-code") & (rows["N"] == size) & ((rows["regime"] == regime) if regime else True)]
    budget = res.budget_s if budget_s is None else float(budget_s)
    if code.empty or np.isclose(code["budget_s"].to_numpy(dtype=float), budget).any():
        return size, budget, ""
    return size, res.budget_s, f"T = {budget:g} s not evaluated at N = {size}: read at the fixed budget"


def share_values(res: Results, method: str, regime: str | None, n: str, budget_s: float | None) -> tuple[pd.Series, str]:
    """`method`'s share of the best-known per instance at the target's cell, and the detail: the cell,
    the compared methods' shares on the same instances, the policy's per-seed means and which
    best-knowns evaluated runs raised."""
    size, budget, note = _cell(res, n, budget_s, regime)
    values = share_of_best_known(res, method, budget, size, regime)
    same = set(values["instance"])
    compared = []
    for other in COMPARED:
        try:
            share = share_of_best_known(res, other, budget, size, regime)
        except MissingResults:
            continue
        compared.append(f"{other} {share[share['instance'].isin(same)]['share_of_best_known'].mean():.3f}")
    rows = res.method_rows
    code = rows[(rows["method"] == method) & (rows["N"] == size) & np.isclose(rows["budget_s"], budget)
                & ((rows["regime"] == regime) if regime else True)]
    per_seed = (code.groupby("train_seed")["share_of_best_known"].mean()
                if "train_seed" in code and code["train_seed"].nunique() > 1 else pd.Series(dtype=float))
    raised = res.limit[0]
    raised = int(((raised["updated_by"] != "") & raised["instance"].isin(same)).sum())
    by_regime = "" if regime else "by density " + ", ".join(
        f"{r} {v:.3f}" for r, v in values.groupby("regime")["share_of_best_known"].mean().items())
    parts = [f"N = {size}, T = {budget:g} s", note, by_regime,
             ("same instances: " + ", ".join(compared)) if compared else "",
             ("per training seed " + ", ".join(f"{v:.3f}" for v in per_seed)) if len(per_seed) else "",
             f"{raised} of {len(same)} best-knowns raised by an evaluated run" if raised else ""]
    return values["share_of_best_known"], "; ".join(p for p in parts if p)


def limit_claims(claim: Callable, estimate: Callable) -> list:
    """The registry entries of TARGETS (`claim`: the Claim class, `estimate(values, threshold,
    strict, detail)`: the claims' interval and verdict)."""
    def measure_of(claim_id, regime, n, budget_s, threshold):
        def measure(res: Results):
            values, detail = share_values(res, "lsa-code", regime, n, budget_s)
            return estimate(values, threshold, False, detail)
        return measure

    out = []
    for claim_id, regime, n, budget_s, threshold in TARGETS:
        where = (regime or "every density") + ", " + ("N = table_n" if n == "table" else "the largest N") + ", " + (
            "fixed budget" if budget_s is None else f"T = {budget_s:g} s where evaluated there, else the fixed budget")
        said = ", ".join(p for p in (regime, "the largest N" if n == "largest" else "",
                                     f"T = {budget_s:g} s" if budget_s is not None and n == "table" else "") if p)
        out.append(claim(
            claim_id, f"LSA reaches at least {threshold:g} of the best-known utility ({said})", "a, b, table",
            f"U(lsa-code) / best-known U of the instance, per instance, mean over training seeds; {where}",
            f"95 % interval over instances (n instances) at or above {threshold:g}",
            measure_of(claim_id, regime, n, budget_s, threshold), threshold, "share of best-known"))
    return out


__all__ = ["TARGETS", "COMPARED", "share_values", "limit_claims"]
