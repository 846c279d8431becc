"""The claims the README quotes: for each, the number (with its 95 % interval and the count it rests
on) computed from a results directory, and a *shape* test saying whether it holds.

`CLAIMS` is the registry; adding a claim is one entry (most are one `paired_ratio(...)` call), e.g.
    Claim("vs-dqn", "LSA beats the RL baselines", "a", *paired_ratio("lsa-code", "dqn"))
A policy trained with several seeds enters as its mean over training seeds per instance, so the
intervals are over instances. The reproduction report (`lsa.workflow.report`) evaluates every entry
on the reference and on a fresh run; a claim whose inputs a run lacks has no number there.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from lsa.workflow.figures.data import BASE_POLICY, MAIN_RUN, MissingResults, Results, at_budget, seed_mean
from lsa.workflow.figures.evaluations import (
    exact_share,
    family_grid_ratios,
    instance_ratio,
    model_size,
    policy_ratio,
    relative_to,
)
from lsa.workflow.paths import Paths
from lsa.workflow.settings import DIRECT_RUNS, WorkflowSettings
from lsa.workflow.stats import t_interval

#: the strict budget of the anytime claims (s); a run without it uses its smallest budget
STRICT_BUDGET_S = 0.5
#: lsa-code's ratio to the strongest classical method it must reach to "beat" it (a 2 % margin)
STRONGEST_MARGIN = 1.02
FIRST_STEPS, LAST_STEPS = 10, 20


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
    """The claim, as the README's claims table words it."""
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
    return Estimate(mean, low, high, len(values), None if holds is None else bool(holds), detail, float(compared_with))


def _per_seed(rows: pd.DataFrame, value: str) -> str:
    """`value`'s mean per training seed, e.g. "per training seed 1.03, 0.99, 1.01" (one seed: empty)."""
    if "train_seed" not in rows or rows["train_seed"].nunique() < 2:
        return ""
    means = rows.groupby("train_seed")[value].mean()
    return "per training seed " + ", ".join(f"{v:.3f}" for v in means)


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


# ====================================================================== claim builders
def paired_ratio(method: str, other: str, regime: str | None = None, threshold: float = 1.0,
                 everywhere: bool = False) -> tuple[str, str, Callable, float]:
    """(measure, shape, estimate, threshold) of "`method` beats `other`": their utilities' ratio paired
    per instance at N = table_n and the fixed budget (in `regime`, else every regime pooled). Holds
    when the mean ratio >= threshold — in every regime and N at the fixed budget if `everywhere`."""
    where = f"{regime}, " if regime else "all densities, "

    def estimate(res: Results) -> Estimate:
        rows = at_budget(res.method_rows, res.budget_s)
        rows = rows[rows["method"].isin([method, other])]
        ratios = relative_to(rows, other)
        ratios = ratios[ratios["method"] == method]
        cell = ratios[(ratios["N"] == res.table_n) & ((ratios["regime"] == regime) if regime else True)]
        if cell.empty:
            raise MissingResults(f"no paired {method} / {other} rows at N = {res.table_n}, T = {res.budget_s:g} s")
        values = seed_mean(cell, "ratio")
        by_regime = "" if regime else "by density " + ", ".join(
            f"{r} {v:.3f}" for r, v in values.groupby("regime")["ratio"].mean().items())
        detail = _join(by_regime, _per_seed(cell, "ratio"))
        if everywhere:
            cells = seed_mean(ratios, "ratio").groupby(["regime", "N"])["ratio"].mean()
            failing = ", ".join(f"{r} N = {n} ({v:.3f})" for (r, n), v in cells[cells < threshold].items())
            return _estimate(values["ratio"], (cells >= threshold).all(), _join(
                f"{int((cells >= threshold).sum())} of {len(cells)} (density, N) cells hold",
                f"fails at {failing}" if failing else "", detail))
        return _estimate(values["ratio"], values["ratio"].mean() >= threshold, detail)

    shape = f"ratio >= {threshold:g} in every density and N" if everywhere else f"mean ratio >= {threshold:g}"
    return (f"U({method}) / U({other}), paired per instance; {where}N = table_n, fixed budget", shape,
            estimate, threshold)


def _vs_strongest(regime: str) -> Callable[[Results], Estimate]:
    def estimate(res: Results) -> Estimate:
        pol = at_budget(policy_ratio(res), res.budget_s)
        pol = pol[(pol["policy"] == MAIN_RUN) & (pol["N"] == res.table_n) & (pol["regime"] == regime)]
        if pol.empty:
            raise MissingResults(f"no main-policy rows at N = {res.table_n}, {regime}, T = {res.budget_s:g} s")
        values = instance_ratio(pol)["ratio"]
        return _estimate(values, values.mean() >= STRONGEST_MARGIN,
                         _join(f"strongest classical: {pol['strongest'].iloc[0]}", _per_seed(pol, "ratio")))
    return estimate


def _strict(res: Results) -> tuple[pd.DataFrame, float]:
    """The lsa-code rows (and the others) at N = anytime_n and the strict budget (else the smallest)."""
    rows = res.method_rows[res.method_rows["N"] == res.anytime_n]
    budgets = sorted(rows.loc[rows["method"] == "lsa-code", "budget_s"].unique())
    if not budgets:
        raise MissingResults(f"no lsa-code rows at N = {res.anytime_n}")
    budget = STRICT_BUDGET_S if np.isclose(budgets, STRICT_BUDGET_S).any() else float(budgets[0])
    return at_budget(rows, budget), budget


def _strict_vs_greedy(res: Results) -> Estimate:
    rows, budget = _strict(res)
    ratios = relative_to(rows[rows["method"].isin(["lsa-code", "greedy"])], "greedy")
    ratios = ratios[ratios["method"] == "lsa-code"]
    if ratios.empty:
        raise MissingResults(f"no greedy rows at N = {res.anytime_n}, T = {budget:g} s")
    values = seed_mean(ratios, "ratio")["ratio"]
    return _estimate(values, values.mean() >= 1.0, _join(f"T = {budget:g} s", _per_seed(ratios, "ratio")))


def _strict_fallbacks(res: Results) -> Estimate:
    rows, budget = _strict(res)
    code = rows[rows["method"] == "lsa-code"]
    count = int(code["fallback_random"].fillna(False).astype(bool).sum()) if "fallback_random" in code else 0
    return Estimate(count, count, count, len(code), count == 0,
                    f"T = {budget:g} s: {count} of {len(code)} runs had no valid output and took the random assignment")


def _strict_first_incumbent(limit_s: float) -> Callable[[Results], Estimate]:
    def estimate(res: Results) -> Estimate:
        rows, budget = _strict(res)
        code = rows[rows["method"] == "lsa-code"]
        if "first_incumbent_s" not in code:
            raise MissingResults("the evaluation has no first_incumbent_s column")
        first = code["first_incumbent_s"].astype(float)
        missing = int(first.isna().sum())  # a run that never offered an incumbent fails the shape
        worst = math.inf if missing else float(first.max())
        detail = f"T = {budget:g} s; slowest {worst:.3f} s of {len(first)} runs" + (
            f"; {missing} run(s) offered no incumbent at all" if missing else "")
        if first.notna().any():
            return _estimate(first, worst <= limit_s, detail, worst)
        return Estimate(n=len(first), holds=False, detail=detail)
    return estimate


def _near_optimal(res: Results) -> Estimate:
    shares = exact_share(res.method_rows, res.settings.exact_max_n)
    shares = at_budget(shares[shares["method"] == "lsa-code"], res.budget_s)
    if shares.empty:
        raise MissingResults(f"no lsa-code rows at N <= {res.settings.exact_max_n}")
    proven = int(shares.groupby(["instance", "seed"])["reference_optimal"].first().sum())
    values = 100 * seed_mean(shares, "share")["share"]
    return _estimate(values, values.mean() >= 90.0,
                     f"optimum proven by exact on {proven} of {shares.groupby(['instance', 'seed']).ngroups} instances")


# ---------------------------------------------------------------------- training logs
def _windows(res: Results, runs: list[str], column: str, first: int | None = None, last: int | None = None):
    """Per run with a log holding `column`: its values over the first or last steps."""
    out = {}
    for run in runs:
        log = res.training_log(run)
        if log is not None and column in log and log[column].notna().any():
            d = log.dropna(subset=[column]).sort_values("step")[column].astype(float)
            out[run] = d.head(first) if first else d.tail(last)
    return out


def _training_gain(res: Results) -> Estimate:
    runs = res.family_runs(MAIN_RUN)
    late, early = _windows(res, runs, "r_perf", last=LAST_STEPS), _windows(res, runs, "r_perf", first=FIRST_STEPS)
    if not late:
        raise MissingResults("no R_perf in the main family's training logs")
    gains = {run: (early[run].mean(), late[run].mean()) for run in late}
    early_all = pd.concat(list(early.values()))
    return _estimate(pd.concat(list(late.values())), all(b > a for a, b in gains.values()),
                     "first -> last steps: " + ", ".join(f"{run} {a:.2f} -> {b:.2f}" for run, (a, b) in gains.items()),
                     early_all.mean())


def _no_cold_start(res: Results) -> Estimate:
    code = _windows(res, res.family_runs(MAIN_RUN), "valid_share", first=FIRST_STEPS)
    if not code:
        raise MissingResults("no valid_share in the main family's training logs")
    direct = _windows(res, list(DIRECT_RUNS), "valid_share", first=FIRST_STEPS)
    cold = direct.get("direct-cold")
    values = pd.concat(list(code.values()))
    detail = ", ".join(f"{run} {v.mean():.2f}" for run, v in direct.items())
    return _estimate(values, None if cold is None else values.mean() > cold.mean(),
                     f"first steps: {detail}" if detail else "direct runs: absent",
                     math.nan if cold is None else cold.mean())


def _sft_stays_valid(threshold: float) -> Callable[[Results], Estimate]:
    def estimate(res: Results) -> Estimate:
        last = _windows(res, ["direct-sft"], "valid_share", last=LAST_STEPS).get("direct-sft")
        if last is None:
            raise MissingResults("no valid_share in the direct-sft training log")
        cold = _windows(res, ["direct-cold"], "valid_share", last=LAST_STEPS).get("direct-cold")
        return _estimate(last, last.mean() >= threshold,
                         f"direct-cold over its last steps: {'absent' if cold is None else f'{cold.mean():.2f}'}")
    return estimate


def _prompt_bounded(res: Results) -> Estimate:
    df = res.prompt_length
    hier, naive = df[df["serializer"] == "hierarchical"], df[df["serializer"] == "naive"]
    budget = float(df["max_tokens"].max())
    top = float(hier["tokens"].max())
    holds = bool(top <= budget and (naive.empty or naive["tokens"].max() > budget))
    return Estimate(top, top, top, len(hier), holds,
                    f"budget {budget:g}; hierarchical up to N = {hier['N'].max():g}; naive up to "
                    f"{naive['tokens'].max():g} tokens at N = {naive['N'].max():g}",
                    budget)


# ---------------------------------------------------------------------- generalisation, model size
def _generalises(kind: str) -> Callable[[Results], Estimate]:
    """kind "density": densities GRPO never trained on; "size": N above the largest training N. The
    main family against the base model on the same family-grid instances."""
    def estimate(res: Results) -> Estimate:
        train = res.training
        if kind == "density":
            if not train["unseen_regimes"]:
                raise MissingResults("every evaluated density was a training density")
            where, label = (lambda d: d["regime"].isin(train["unseen_regimes"])), ", ".join(train["unseen_regimes"])
        else:
            if not train["train_n_max"]:
                raise MissingResults("the largest training N is unknown")
            where, label = (lambda d: d["N"] > train["train_n_max"]), f"N > {train['train_n_max']:g}"
        pol = family_grid_ratios(res)
        pol = pol[where(pol)]
        main, base = pol[pol["policy"] == MAIN_RUN], pol[pol["policy"] == BASE_POLICY]
        if main.empty:
            raise MissingResults(f"no main-policy rows on the family grid at {label}")
        values, base_values = instance_ratio(main)["ratio"], instance_ratio(base)["ratio"]
        everywhere = at_budget(policy_ratio(res), res.budget_s)
        everywhere = everywhere[(everywhere["policy"] == MAIN_RUN) & where(everywhere)]
        by_n = instance_ratio(everywhere).groupby("N")["ratio"].mean()
        detail = _join(f"{label}; base model {base_values.mean():.3f}" if len(base_values) else f"{label}; no base model",
                       "main family over the evaluation grid there: " + ", ".join(f"N = {n:g}: {v:.3f}"
                                                                                    for n, v in by_n.items()),
                       _per_seed(main, "ratio"))
        return _estimate(values, None if base_values.empty else values.mean() >= base_values.mean(), detail,
                         base_values.mean() if len(base_values) else math.nan)
    return estimate


def _larger_is_better(res: Results) -> Estimate:
    summary, per_seed = model_size(res)
    trained = summary[summary["policy"] != BASE_POLICY]
    n = res.table_n if (trained["N"] == res.table_n).any() else int(trained["N"].max())
    at_n = trained[trained["N"] == n].sort_values("n_params")
    if len(at_n) < 2:
        raise MissingResults(f"fewer than two trained model sizes at N = {n}")
    means = at_n["mean"].to_numpy()
    largest = at_n.iloc[-1]
    pol = family_grid_ratios(res)
    values = instance_ratio(pol[(pol["policy"] == largest["policy"]) & (pol["N"] == n)])["ratio"]
    seeds = per_seed[per_seed["N"] == n]
    detail = f"N = {n}; " + "; ".join(
        f"{r.model_size} ({r.n_params / 1e6:.2f} M) {r.mean:.3f} (seeds "
        + ", ".join(f"{v:.3f}" for v in seeds[seeds["policy"] == r.policy]["ratio"]) + ")"
        for r in at_n.itertuples())
    return _estimate(values, bool(np.all(np.diff(means) >= 0)), detail, float(means[0]))


_RATIO = "U(lsa-code) / U(strongest classical method of the cell), paired per instance, mean over training seeds"
_STRICT = f"N = anytime_n, T = {STRICT_BUDGET_S:g} s, lsa-code"

# ====================================================================== the registry (README claims table)
CLAIMS: list[Claim] = [
    *(Claim(f"beats-strongest-{regime}", f"LSA beats the strongest classical method ({regime})", "a, table",
            f"{_RATIO}; {regime}, N = table_n, fixed budget", f"mean ratio >= {STRONGEST_MARGIN:g}",
            _vs_strongest(regime), STRONGEST_MARGIN) for regime in ("sparse", "dense", "ultra-dense")),
    Claim("beats-ils", "LSA beats iterated local search", "a, table", *paired_ratio("lsa-code", "ils")),
    Claim("beats-local-search", "LSA beats local search", "a, table", *paired_ratio("lsa-code", "local-search")),
    Claim("beats-partitioned-ultra-dense", "LSA beats partition-based classical solvers in ultra-dense networks",
          "a, table", *paired_ratio("lsa-code", "pulp-partitioned", "ultra-dense")),
    Claim("beats-random", "LSA beats random heuristics", "a, table",
          *paired_ratio("lsa-code", "random", everywhere=True)),
    Claim("anytime-vs-greedy", "under a strict budget LSA is at least as good as greedy", "b",
          f"U(lsa-code) / U(greedy), paired per instance; {_STRICT}", "mean ratio >= 1", _strict_vs_greedy, 1.0),
    Claim("anytime-no-fallback", "under a strict budget LSA always has a valid answer", "b",
          f"runs without a valid output by the budget (random fallback) [count]; {_STRICT}", "count = 0",
          _strict_fallbacks, 0.0, "runs"),
    Claim("anytime-first-incumbent", "LSA offers its first answer within 0.3 s", "b",
          f"time to the first incumbent [s]; {_STRICT}", "every run <= 0.3 s", _strict_first_incumbent(0.3), 0.3,
          "s"),
    Claim("near-optimal-small", "near-optimal on small networks", "c",
          "lsa-code's share of the best known utility [%], N <= exact_max_n, fixed budget, mean over training seeds",
          "mean share >= 90 %", _near_optimal, 90.0, "share [%]"),
    Claim("rl-dqn-beats-random", "the DQN baseline beats random", "a", *paired_ratio("dqn", "random")),
    Claim("rl-dqn-beats-greedy", "the DQN baseline beats greedy", "a", *paired_ratio("dqn", "greedy")),
    Claim("rl-ppo-beats-random", "the PPO baseline beats random", "a", *paired_ratio("ppo", "random")),
    Claim("rl-ppo-beats-greedy", "the PPO baseline beats greedy", "a", *paired_ratio("ppo", "greedy")),
    Claim("beats-dqn", "LSA beats the DQN baseline", "a, table", *paired_ratio("lsa-code", "dqn")),
    Claim("beats-ppo", "LSA beats the PPO baseline", "a, table", *paired_ratio("lsa-code", "ppo")),
    Claim("grpo-improves-r-perf", "GRPO training improves the policy (Fig. 2 dynamics)", "d",
          f"R_perf over the last {LAST_STEPS} GRPO steps of every main-family run [dimensionless]",
          f"above the first {FIRST_STEPS} steps' mean in every training seed", _training_gain, None, "R_perf"),
    Claim("code-needs-no-cold-start", "the code paradigm needs no cold start; the direct one does", "e",
          f"valid-output share over the first {FIRST_STEPS} GRPO steps of every main-family (code) run",
          "above the direct run's without SFT", _no_cold_start, None, "valid share"),
    Claim("sft-keeps-direct-valid", "after the SFT warm start the direct paradigm stays valid", "e",
          f"valid-output share of the direct-sft run over its last {LAST_STEPS} steps", "mean >= 0.9",
          _sft_stays_valid(0.9), 0.9, "valid share"),
    Claim("prompt-bounded", "prompt length stays bounded for any N", "f",
          "largest hierarchical prompt over all N [tokens]",
          "<= the token budget, while the naive prompt exceeds it", _prompt_bounded, None, "tokens"),
    Claim("generalises-unseen-density", "the policy generalises to densities it was not trained on", "g",
          _RATIO + "; densities outside grpo.train_regimes, family grid, fixed budget",
          "at least the base model's ratio on the same instances", _generalises("density")),
    Claim("generalises-larger-n", "the policy generalises to networks larger than any it was trained on", "g",
          _RATIO + "; N > max grpo.train_n, family grid, fixed budget",
          "at least the base model's ratio on the same instances", _generalises("size")),
    Claim("larger-models-better", "larger models do better", "h",
          _RATIO + "; N = table_n, family grid, fixed budget, largest model",
          "the ratio does not decrease with model size (every size's mean)", _larger_is_better),
]


def claim_inputs(paths: Paths, settings: WorkflowSettings | None = None) -> list[Path]:
    """The files of a run the claims read (the report rule's inputs)."""
    main_runs = [run for run, family, _ in settings.family_runs if family == MAIN_RUN] if settings else [MAIN_RUN]
    return [paths.evaluation, paths.llm_evaluation, paths.prompt_length, *map(paths.grpo_log, main_runs),
            *map(paths.grpo_log, DIRECT_RUNS), paths.stage_config("figures")]


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


__all__ = ["Claim", "Estimate", "CLAIMS", "claims_table", "claim_inputs", "paired_ratio", "STRICT_BUDGET_S"]
