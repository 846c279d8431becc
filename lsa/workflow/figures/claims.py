"""The paper's claims as the README's claims table states them: for each, the number we quote (with
its 95 % interval) computed from a results directory, and a *shape* test saying whether it holds.

`CLAIMS` is the registry; adding a claim is one entry (most are one `paired_ratio(...)` call), e.g.
    Claim("beats-dqn", "LSA beats the RL baselines", "a", *paired_ratio("lsa-code", "dqn", "ultra-dense"))
The reproduction report (`lsa.workflow.report`) evaluates every entry on the reference and on a
fresh run. A claim whose inputs are absent from a run has no number there (NaN, `holds` None).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from lsa.workflow.figures.data import (
    MAIN_RUN,
    MissingResults,
    Results,
    at_budget,
    exact_share,
    policy_ratio,
    relative_to,
    window_mean,
)
from lsa.workflow.paths import Paths
from lsa.workflow.stats import t_interval


@dataclass(frozen=True)
class Estimate:
    """A claim's number in one run: value with its 95 % interval, how many values it rests on,
    whether the shape holds (None: not measurable in this run), and what was compared."""

    value: float = math.nan
    low: float = math.nan
    high: float = math.nan
    n: int = 0
    holds: bool | None = None
    detail: str = ""
    compared_with: float = math.nan
    """The run's own value the shape test compares with, where it is not a fixed threshold."""


@dataclass(frozen=True)
class Claim:
    id: str
    claim: str
    """The paper's claim, as the README's claims table words it."""
    figure: str
    measure: str
    """What the number is, with its unit and the cell it is read at."""
    shape: str
    """The shape test, in words."""
    estimate: Callable[[Results], Estimate]
    threshold: float | None = None
    """The value the shape test compares with, when it is a fixed number (drawn in the report)."""
    unit: str = "ratio"
    """The number's unit (axis label of the report figure)."""

    def evaluate(self, res: Results) -> Estimate:
        try:
            return self.estimate(res)
        except MissingResults as exc:
            return Estimate(detail=f"not measurable: {exc}")


def _estimate(values, holds: bool | None, detail: str = "", compared_with: float = math.nan) -> Estimate:
    values = pd.Series(values, dtype=float).dropna()
    if values.empty:
        return Estimate(detail=detail or "no values")
    mean, low, high = t_interval(values)
    return Estimate(mean, low, high, len(values), holds, detail, float(compared_with))


# ====================================================================== claim builders
def paired_ratio(method: str, other: str, regime: str | None = None, threshold: float = 1.0,
                 everywhere: bool = False) -> tuple[str, str, Callable, float]:
    """(measure, shape, estimate, threshold) of "`method` beats `other`": the paired ratio of their
    utilities per instance and seed at N = table_n and the fixed budget (in `regime`, else pooled).
    Holds when the mean ratio >= threshold — in every regime and N at the fixed budget if `everywhere`."""
    where = f"{regime}, " if regime else ""

    def estimate(res: Results) -> Estimate:
        rows = at_budget(res.method_rows, res.budget_s)
        rows = rows[rows["method"].isin([method, other])]
        ratios = relative_to(rows, other)
        ratios = ratios[ratios["method"] == method]
        cell = ratios[(ratios["N"] == res.table_n) & ((ratios["regime"] == regime) if regime else True)]
        if cell.empty:
            raise MissingResults(f"no paired {method} / {other} rows at N = {res.table_n}")
        if everywhere:
            cells = ratios.groupby(["regime", "N"])["ratio"].mean()
            failing = ", ".join(f"{r} N = {n} ({v:.3f})" for (r, n), v in cells[cells < threshold].items())
            return _estimate(cell["ratio"], bool((cells >= threshold).all()),
                             f"{int((cells >= threshold).sum())} of {len(cells)} (regime, N) cells hold"
                             + (f"; fails at {failing}" if failing else ""))
        return _estimate(cell["ratio"], bool(cell["ratio"].mean() >= threshold))

    shape = (f"ratio >= {threshold:g} in every regime and N" if everywhere else f"mean ratio >= {threshold:g}")
    return (f"U({method}) / U({other}), paired per instance; {where}N = table_n, fixed budget", shape,
            estimate, threshold)


def _anytime_vs_random(res: Results) -> Estimate:
    rows = res.method_rows[res.method_rows["N"] == res.anytime_n]
    budgets = sorted(rows.loc[rows["method"] == "lsa-code", "budget_s"].unique())
    if not budgets:
        raise MissingResults(f"no lsa-code rows at N = {res.anytime_n}")
    rows = at_budget(rows[rows["method"].isin(["lsa-code", "random"])], budgets[0])
    ratios = relative_to(rows, "random")
    ratios = ratios[ratios["method"] == "lsa-code"]["ratio"]
    fallback = rows.loc[rows["method"] == "lsa-code", "fallback_random"].fillna(False).astype(bool)
    return _estimate(ratios, bool(ratios.mean() > 1.0) if len(ratios) else None,
                     f"T = {budgets[0]:g} s; {int(fallback.sum())} of {len(fallback)} runs fell back to random")


def _near_optimal(res: Results) -> Estimate:
    shares = exact_share(res.method_rows, res.settings.exact_max_n)
    shares = at_budget(shares[shares["method"] == "lsa-code"], res.budget_s)
    if shares.empty:
        raise MissingResults(f"no lsa-code rows at N <= {res.settings.exact_max_n}")
    proven = int(shares.groupby(["instance", "seed"])["reference_optimal"].first().sum())
    return _estimate(100 * shares["share"], bool(shares["share"].mean() >= 0.9),
                     f"optimum proven on {proven} of {shares.groupby(['instance', 'seed']).ngroups} instances")


def _training_gain(res: Results) -> Estimate:
    late, early = window_mean(res, MAIN_RUN, "r_perf", last=20), window_mean(res, MAIN_RUN, "r_perf", first=10)
    if late is None or early is None:
        raise MissingResults("no R_perf in the main run's training log")
    log = res.training_log(MAIN_RUN)
    return _estimate(log.dropna(subset=["r_perf"]).sort_values("step")["r_perf"].tail(20), late[0] > early[0],
                     f"first 10 steps: {early[0]:.2f}", early[0])


def _no_cold_start(res: Results) -> Estimate:
    code, direct = window_mean(res, MAIN_RUN, "valid_share", first=10), window_mean(res, "direct-cold",
                                                                                     "valid_share", first=10)
    if code is None:
        raise MissingResults("no valid_share in the main run's training log")
    log = res.training_log(MAIN_RUN).dropna(subset=["valid_share"]).sort_values("step")
    holds = None if direct is None else code[0] > direct[0]
    return _estimate(log["valid_share"].head(10), holds,
                     "direct (no SFT): " + ("absent" if direct is None else f"{direct[0]:.2f}"),
                     math.nan if direct is None else direct[0])


def _prompt_bounded(res: Results) -> Estimate:
    df = res.prompt_length
    hier, naive = df[df["serializer"] == "hierarchical"], df[df["serializer"] == "naive"]
    budget = float(df["max_tokens"].max())
    top = float(hier["tokens"].max())
    holds = bool(top <= budget and (naive.empty or naive["tokens"].max() > budget))
    return Estimate(top, top, top, len(hier), holds,
                    f"budget {budget:g}; naive up to {naive['tokens'].max():g} tokens at N = {df['N'].max():g}",
                    budget)


def _policy_at_largest_n(res: Results, regimes: str = "all") -> tuple[pd.DataFrame, int]:
    pol = at_budget(policy_ratio(res), res.budget_s)
    trained = set(str(pol["train_regimes"].dropna().iloc[0]).split(",")) if pol["train_regimes"].notna().any() else set()
    if regimes == "held-out":
        pol = pol[~pol["regime"].isin(trained)]
        if pol.empty:
            raise MissingResults("every evaluated density was a training density")
    n = int(pol["N"].max())
    return pol[pol["N"] == n], n


def _generalises(regimes: str) -> Callable[[Results], Estimate]:
    def estimate(res: Results) -> Estimate:
        pol, n = _policy_at_largest_n(res, regimes)
        main, base = pol[pol["policy"] == MAIN_RUN]["ratio"], pol[pol["policy"] == "base"]["ratio"]
        if main.empty:
            raise MissingResults(f"no main-policy rows at N = {n}")
        holds = None if base.empty else bool(main.mean() >= base.mean())
        return _estimate(main, holds, f"N = {n}; base model: {base.mean():.3f}", base.mean())
    return estimate


def _larger_is_better(res: Results) -> Estimate:
    pol, n = _policy_at_largest_n(res)
    pol = pol[(pol["policy"] != "base") & pol["n_params"].notna()]
    if pol["n_params"].nunique() < 2:
        raise MissingResults("fewer than two model sizes")
    by_size = pol.groupby("n_params")["ratio"]
    largest, smallest = by_size.get_group(pol["n_params"].max()), by_size.get_group(pol["n_params"].min())
    sizes = pol.drop_duplicates("n_params").sort_values("n_params")
    detail = "; ".join(f"{r.model_size} ({r.n_params / 1e6:.2f} M): {by_size.get_group(r.n_params).mean():.3f}"
                       for r in sizes.itertuples())
    return _estimate(largest, bool(largest.mean() >= smallest.mean()), f"N = {n}; {detail}", smallest.mean())


_RATIO = "U(policy) / U(strongest classical method of the cell), paired; fixed budget"

# ====================================================================== the registry (README claims table)
CLAIMS: list[Claim] = [
    Claim("beats-partitioned-ultra-dense", "LSA beats partition-based classical solvers in ultra-dense networks",
          "a, table", *paired_ratio("lsa-code", "pulp-partitioned", "ultra-dense")),
    Claim("beats-local-search-ultra-dense", "LSA beats the classical solvers (our local search) in ultra-dense "
          "networks", "a, table", *paired_ratio("lsa-code", "local-search", "ultra-dense")),
    Claim("beats-random", "LSA beats random heuristics", "a, table",
          *paired_ratio("lsa-code", "random", "ultra-dense", everywhere=True)),
    Claim("anytime-strict-budget", "anytime behaviour under strict budgets", "b",
          "U(lsa-code) / U(random), paired; N = anytime_n, the smallest budget, all regimes",
          "mean ratio > 1", _anytime_vs_random, 1.0),
    Claim("near-optimal-small", "near-optimal on small networks", "c",
          "lsa-code's share of the best known utility [%], N <= exact_max_n, fixed budget",
          "mean share >= 90 %", _near_optimal, 90.0, "share [%]"),
    Claim("grpo-improves-r-perf", "GRPO training improves the policy (Fig. 2 dynamics)", "d",
          "mean R_perf of the main run over its last 20 steps [dimensionless]",
          "above the mean of its first 10 steps", _training_gain, None, "R_perf"),
    Claim("code-needs-no-cold-start", "the code paradigm needs no cold start; the direct one does", "e",
          "valid-output share of the main (code) run over its first 10 GRPO steps",
          "above the direct run's (no SFT) over its first 10 steps", _no_cold_start, None, "valid share"),
    Claim("prompt-bounded", "prompt length stays bounded for any N", "f",
          "largest hierarchical prompt over all N [tokens]",
          "<= the token budget, while the naive prompt exceeds it", _prompt_bounded, None, "tokens"),
    Claim("generalises-larger-n", "the policy generalises to larger networks", "g",
          _RATIO + "; largest N evaluated, main policy", "at least the base model's ratio",
          _generalises("all")),
    Claim("generalises-held-out-density", "the policy generalises to densities it was not trained on", "g",
          _RATIO + "; largest N, densities outside training, main policy", "at least the base model's ratio",
          _generalises("held-out")),
    Claim("larger-models-better", "larger models do better", "h",
          _RATIO + "; largest N, largest GRPO-trained model", "at least the smallest model's ratio",
          _larger_is_better),
]


def claim_inputs(paths: Paths) -> list[Path]:
    """The files of a run the claims read (the report rule's inputs)."""
    return [paths.evaluation, paths.llm_evaluation, paths.prompt_length, paths.grpo_log(MAIN_RUN),
            paths.grpo_log("direct-cold"), paths.stage_config("figures")]


def claims_table(res: Results, claims: list[Claim] | None = None) -> pd.DataFrame:
    """One row per claim: id, figure, measure, shape, value, low, high, n, holds, detail."""
    rows = []
    for claim in claims or CLAIMS:
        est = claim.evaluate(res)
        rows.append({"id": claim.id, "claim": claim.claim, "figure": claim.figure, "measure": claim.measure,
                     "unit": claim.unit, "shape": claim.shape, "threshold": claim.threshold,
                     "value": est.value, "low": est.low, "high": est.high, "n": est.n,
                     "holds": est.holds, "compared_with": est.compared_with, "detail": est.detail})
    return pd.DataFrame(rows)


__all__ = ["Claim", "Estimate", "CLAIMS", "claims_table", "claim_inputs", "paired_ratio"]
