"""The claims the README quotes: for each, the number (with its 95 % interval and the count it rests
on) computed from a results directory, and a *verdict* read from the interval, not from the mean:

- "holds": the 95 % interval lies on the claimed side of the threshold ("beats" / "larger": strictly
  above it, so a tie is never a win; "at least": at or above it);
- "fails": the interval lies entirely on the wrong side;
- "not shown": the interval straddles the threshold, or there are fewer than two values (one value
  has no interval).

Comparisons with another method, the base model or another model size are paired per instance
(the same instance, instance seed and budget): the interval is that of the per-instance ratio (or
difference), so it must clear 1 (or 0). A claim whose verdict the set-up fixes has no place here
(see RETIRED).

`CLAIMS` is the registry; adding a claim is one entry (most are one `paired_ratio(...)` call), e.g.
`Claim("vs-dqn", "LSA beats the RL baselines", "a", *paired_ratio("lsa-code", "dqn"))`. A policy trained with several seeds enters as its mean over training seeds per instance, so the
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
from lsa.workflow.figures.limit import limit_claims
from lsa.workflow.figures.lora_claims import lora_claims
from lsa.workflow.figures.primitives import primitives_claims
from lsa.workflow.figures.retired import RETIRED
from lsa.workflow.paths import Paths
from lsa.workflow.settings import DIRECT_RUNS, WorkflowSettings
from lsa.workflow.stats import FAILS, HOLDS, NOT_SHOWN, VERDICTS, t_interval, verdict, weakest

#: the strict budget of the anytime claims (s); a run without it uses its smallest budget
STRICT_BUDGET_S = 0.5
#: lsa-code's ratio to the strongest classical method it must reach to "beat" it (a 2 % margin)
STRONGEST_MARGIN = 1.02
FIRST_STEPS, LAST_STEPS = 10, 20


@dataclass(frozen=True)
class Estimate:
    """A claim's number in one run: value with its 95 % interval, how many values it rests on, the
    verdict (holds / not shown / fails; None: not measurable in this run), and what was compared."""

    value: float = math.nan
    low: float = math.nan
    high: float = math.nan
    n: int = 0
    verdict: str | None = None
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
    margin: float = 0.0
    """Equivalence margin of the reproduction: the two runs' intervals may lie this far apart (in the
    claim's unit) and still count as overlapping (0: they must overlap)."""

    def evaluate(self, res: Results) -> Estimate:
        try:
            return self.estimate(res)
        except MissingResults as exc:
            return Estimate(detail=f"not measurable: {exc}")


def _estimate(values, threshold: float | None = None, strict: bool = True, detail: str = "",
              compared_with: float = math.nan, verdict_: str | None = None) -> Estimate:
    """The mean of `values` with its 95 % t interval; the verdict from the interval against
    `threshold` (strict: a "beats" claim, the interval must lie above it), or `verdict_` as given."""
    values = pd.Series(values, dtype=float).dropna()
    if values.empty:
        return Estimate(detail=detail or "no values")
    mean, low, high = t_interval(values)
    if verdict_ is None and threshold is not None:
        verdict_ = verdict(low, high, len(values), threshold, strict)
    return Estimate(mean, low, high, len(values), verdict_, detail, float(compared_with))


def _per_seed(rows: pd.DataFrame, value: str) -> str:
    """`value`'s mean per training seed, e.g. "per training seed 1.03, 0.99, 1.01" (one seed: empty)."""
    if "train_seed" not in rows or rows["train_seed"].nunique() < 2:
        return ""
    means = rows.groupby("train_seed")[value].mean()
    return "per training seed " + ", ".join(f"{v:.3f}" for v in means)


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


# ====================================================================== claim builders
_PAIRED = "95 % interval of the per-instance ratio (paired, n instances)"


def paired_ratio(method: str, other: str, regime: str | None = None, threshold: float = 1.0,
                 everywhere: bool = False) -> tuple[str, str, Callable, float]:
    """(measure, shape, estimate, threshold) of "`method` beats `other`": their utilities' ratio paired
    per instance at N = table_n and the fixed budget (in `regime`, else every regime pooled). Holds
    when the ratio's 95 % interval lies above `threshold` — in every (density, N) cell at the fixed
    budget if `everywhere` (then it fails when one cell's interval lies at or below it)."""
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
        if not everywhere:
            return _estimate(values["ratio"], threshold, True, detail)
        cells = {key: (verdict(*t_interval(g)[1:], len(g), threshold), g.mean())
                 for key, g in seed_mean(ratios, "ratio").groupby(["regime", "N"])["ratio"]}
        verdicts = [v for v, _ in cells.values()]
        listed = {name: ", ".join(f"{r} N = {n} ({m:.3f})" for (r, n), (v, m) in cells.items() if v == name)
                  for name in (NOT_SHOWN, FAILS)}
        return _estimate(values["ratio"], detail=_join(
            f"{verdicts.count(HOLDS)} of {len(cells)} (density, N) cells hold",
            *(f"{name} at {where_}" for name, where_ in listed.items() if where_), detail), verdict_=weakest(verdicts))

    shape = (f"{_PAIRED} above {threshold:g} in every density and N" if everywhere
             else f"{_PAIRED} above {threshold:g}")
    return (f"U({method}) / U({other}), paired per instance; {where}N = table_n, fixed budget", shape,
            estimate, threshold)


def _vs_strongest(regime: str) -> Callable[[Results], Estimate]:
    def estimate(res: Results) -> Estimate:
        pol = at_budget(policy_ratio(res), res.budget_s)
        pol = pol[(pol["policy"] == MAIN_RUN) & (pol["N"] == res.table_n) & (pol["regime"] == regime)]
        if pol.empty:
            raise MissingResults(f"no main-policy rows at N = {res.table_n}, {regime}, T = {res.budget_s:g} s")
        values = instance_ratio(pol)["ratio"]
        return _estimate(values, STRONGEST_MARGIN, True,
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
    return _estimate(values, 1.0, False, _join(f"T = {budget:g} s", _per_seed(ratios, "ratio")))


def _strict_fallbacks(res: Results) -> Estimate:
    """A count over every run (no interval): holds when no run fell back to random, else fails."""
    rows, budget = _strict(res)
    code = rows[rows["method"] == "lsa-code"]
    count = int(code["fallback_random"].fillna(False).astype(bool).sum()) if "fallback_random" in code else 0
    return Estimate(count, count, count, len(code), HOLDS if count == 0 else FAILS,
                    f"T = {budget:g} s: {count} of {len(code)} runs had no valid output and took the random assignment")


def _strict_first_incumbent(limit_s: float) -> Callable[[Results], Estimate]:
    """A bound on every run (the slowest decides, no interval): holds when every run offered its first
    incumbent within `limit_s`, else fails. The number is the mean with its interval."""
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
            return _estimate(first, detail=detail, compared_with=worst, verdict_=HOLDS if worst <= limit_s else FAILS)
        return Estimate(n=len(first), verdict=FAILS, detail=detail)
    return estimate


def _near_optimal(res: Results) -> Estimate:
    shares = exact_share(res.method_rows, res.settings.exact_max_n)
    shares = at_budget(shares[shares["method"] == "lsa-code"], res.budget_s)
    if shares.empty:
        raise MissingResults(f"no lsa-code rows at N <= {res.settings.exact_max_n}")
    proven = int(shares.groupby(["instance", "seed"])["reference_optimal"].first().sum())
    values = 100 * seed_mean(shares, "share")["share"]
    return _estimate(values, 90.0, False,
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
    """One gain per training seed (last steps' mean minus first steps' mean): the interval is over
    training seeds, so one seed shows nothing."""
    runs = res.family_runs(MAIN_RUN)
    late, early = _windows(res, runs, "r_perf", last=LAST_STEPS), _windows(res, runs, "r_perf", first=FIRST_STEPS)
    if not late:
        raise MissingResults("no R_perf in the main family's training logs")
    gains = {run: (early[run].mean(), late[run].mean()) for run in late}
    return _estimate([b - a for a, b in gains.values()], 0.0, True,
                     "first -> last steps: " + ", ".join(f"{run} {a:.2f} -> {b:.2f}" for run, (a, b) in gains.items()))


def _sft_stays_valid(threshold: float) -> Callable[[Results], Estimate]:
    def estimate(res: Results) -> Estimate:
        last = _windows(res, ["direct-sft"], "valid_share", last=LAST_STEPS).get("direct-sft")
        if last is None:
            raise MissingResults("no valid_share in the direct-sft training log")
        cold = _windows(res, ["direct-cold"], "valid_share", last=LAST_STEPS).get("direct-cold")
        return _estimate(last, threshold, False,
                         f"direct-cold over its last steps: {'absent' if cold is None else f'{cold.mean():.2f}'}")
    return estimate


def _prompt_keeps(threshold: float) -> Callable[[Results], Estimate]:
    """Information kept, not length (every prompt fits its budget by construction): per prompt-study
    instance, the share of its strongest interferer pairs that the bounded prompt names."""
    def estimate(res: Results) -> Estimate:
        df = res.prompt_length
        hier = df[df["serializer"] == "hierarchical"]
        if "top_pairs_named" not in hier or hier["top_pairs_named"].isna().all():
            raise MissingResults("the prompt-length study has no top_pairs_named column (made by older code)")
        hier = hier.assign(pairs=hier["top_pairs_named"] / hier["top_pairs"],
                           links=hier["top_links_named"] / hier["top_links"])
        by_n = hier.groupby("N")[["pairs", "links"]].mean()
        return _estimate(100 * hier["pairs"], 100 * threshold, False, _join(
            f"budget {hier['max_tokens'].max():g} tokens, prompts of {hier['tokens'].min():g} to "
            f"{hier['tokens'].max():g} tokens up to N = {hier['N'].max():g}",
            "pairs / most-interfered links named by N: " + ", ".join(
                f"N = {n:g}: {100 * r.pairs:.0f} % / {100 * r.links:.0f} %" for n, r in by_n.iterrows())))
    return estimate


# ---------------------------------------------------------------------- generalisation, model size
def _paired_difference(a: pd.DataFrame, b: pd.DataFrame) -> pd.Series:
    """Per instance run (instance, seed, budget): a's ratio minus b's (each its mean over training seeds)."""
    keys = ["instance", "seed", "budget_s"]
    both = instance_ratio(a).merge(instance_ratio(b)[[*keys, "ratio"]], on=keys, suffixes=("", "_b"))
    return both["ratio"] - both["ratio_b"]


def _generalises(kind: str) -> Callable[[Results], Estimate]:
    """kind "density": densities GRPO never trained on; "size": N above the largest training N. The
    main family minus the base model, paired per family-grid instance: GRPO must add to the base."""
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
        if main.empty or base.empty:
            raise MissingResults(f"no main-policy and base-model rows to pair on the family grid at {label}")
        difference = _paired_difference(main, base)
        everywhere = at_budget(policy_ratio(res), res.budget_s)
        everywhere = everywhere[(everywhere["policy"] == MAIN_RUN) & where(everywhere)]
        by_n = instance_ratio(everywhere).groupby("N")["ratio"].mean()
        detail = _join(f"{label}; ratio: main family {instance_ratio(main)['ratio'].mean():.3f}, "
                       f"base model {instance_ratio(base)['ratio'].mean():.3f}",
                       "main family over the evaluation grid there: " + ", ".join(f"N = {n:g}: {v:.3f}"
                                                                                    for n, v in by_n.items()),
                       _per_seed(main, "ratio"))
        return _estimate(difference, 0.0, True, detail)
    return estimate


def _larger_is_better(res: Results) -> Estimate:
    """Every step up in model size, paired per family-grid instance: the larger model's ratio minus
    the smaller's. Holds when every step's interval lies above 0, fails when one lies at or below 0;
    the number is the step with the weakest evidence (lowest interval bound)."""
    summary, per_seed = model_size(res)
    trained = summary[summary["policy"] != BASE_POLICY]
    n = res.table_n if (trained["N"] == res.table_n).any() else int(trained["N"].max())
    at_n = trained[trained["N"] == n].sort_values("n_params")
    if len(at_n) < 2:
        raise MissingResults(f"fewer than two trained model sizes at N = {n}")
    pol = family_grid_ratios(res)
    pol = pol[pol["N"] == n]
    steps = []
    for small, large in zip(at_n.itertuples(), at_n.iloc[1:].itertuples()):
        diff = _paired_difference(pol[pol["policy"] == large.policy], pol[pol["policy"] == small.policy])
        steps.append((f"{small.model_size} -> {large.model_size}", diff, _estimate(diff, 0.0, True)))
    label, values, _ = min(steps, key=lambda s: s[2].low if math.isfinite(s[2].low) else -math.inf)
    seeds = per_seed[per_seed["N"] == n]
    detail = _join(f"N = {n}; weakest step {label}", "; ".join(
        f"{r.model_size} ({r.n_params / 1e6:.2f} M) {r.mean:.3f} (seeds "
        + ", ".join(f"{v:.3f}" for v in seeds[seeds["policy"] == r.policy]["ratio"]) + ")"
        for r in at_n.itertuples()), "steps: " + ", ".join(
        f"{name} {e.value:+.3f} [{e.low:+.3f}, {e.high:+.3f}] {e.verdict}" for name, _, e in steps))
    return _estimate(values, detail=detail, verdict_=weakest(e.verdict for _, _, e in steps))


_RATIO = "U(lsa-code) / U(strongest classical method of the cell), paired per instance, mean over training seeds"
_STRICT = f"N = anytime_n, T = {STRICT_BUDGET_S:g} s, lsa-code"
_MINUS_BASE = ("U(lsa-code) / U(strongest classical method of the cell), main family minus the untrained base "
               "model, paired per instance, mean over training seeds")
#: the share of its strongest interferer pairs a bounded prompt must name, on average
PROMPT_KEPT_SHARE = 0.5

# ====================================================================== the registry (README claims table)
def _real_llm_cold_start(res: Results) -> Estimate:
    """The cold-start experiment's verdict (`lsa.policy.cold_start.cold_start_verdict`)."""
    from lsa.policy.cold_start import cold_start_verdict

    v = cold_start_verdict(res.read(res.paths.cold_start_summary, "cold-start summary (real LLM)"))
    return Estimate(v["value"], v["low"], v["high"], v["n"], v["verdict"], v["detail"])


CLAIMS: list[Claim] = [
    *(Claim(f"beats-strongest-{regime}", f"LSA beats the strongest classical method ({regime})", "a, table",
            f"{_RATIO}; {regime}, N = table_n, fixed budget", f"{_PAIRED} above {STRONGEST_MARGIN:g}",
            _vs_strongest(regime), STRONGEST_MARGIN) for regime in ("sparse", "dense", "ultra-dense")),
    Claim("beats-ils", "LSA beats iterated local search", "a, table", *paired_ratio("lsa-code", "ils")),
    Claim("beats-local-search", "LSA beats local search", "a, table", *paired_ratio("lsa-code", "local-search")),
    Claim("beats-partitioned-ultra-dense", "LSA beats partition-based classical solvers in ultra-dense networks",
          "a, table", *paired_ratio("lsa-code", "pulp-partitioned", "ultra-dense")),
    Claim("beats-random", "LSA beats random heuristics", "a, table",
          *paired_ratio("lsa-code", "random", everywhere=True)),
    Claim("anytime-vs-greedy", "under a strict budget LSA is at least as good as greedy", "b",
          f"U(lsa-code) / U(greedy), paired per instance; {_STRICT}", f"{_PAIRED} at or above 1",
          _strict_vs_greedy, 1.0),
    Claim("anytime-no-fallback", "under a strict budget LSA always has a valid answer", "b",
          f"runs without a valid output by the budget (random fallback) [count]; {_STRICT}",
          "count over every run = 0 (no interval: one fallback fails it)", _strict_fallbacks, 0.0, "runs"),
    Claim("anytime-first-incumbent", "LSA offers its first answer within 0.3 s", "b",
          f"time to the first incumbent [s], mean over runs; {_STRICT}",
          "the slowest of every run <= 0.3 s (no interval: one slower run fails it)", _strict_first_incumbent(0.3),
          0.3, "s"),
    Claim("near-optimal-small", "near-optimal on small networks", "c",
          "lsa-code's share of the best known utility (any method, any budget, lsa-code included) [%], "
          "N <= exact_max_n, fixed budget, mean over training seeds",
          "95 % interval of the per-instance share (n instances) at or above 90 %", _near_optimal, 90.0, "share [%]"),
    Claim("rl-dqn-beats-random", "the DQN baseline beats random", "a", *paired_ratio("dqn", "random")),
    Claim("rl-dqn-beats-greedy", "the DQN baseline beats greedy", "a", *paired_ratio("dqn", "greedy")),
    Claim("rl-ppo-beats-random", "the PPO baseline beats random", "a", *paired_ratio("ppo", "random")),
    Claim("rl-ppo-beats-greedy", "the PPO baseline beats greedy", "a", *paired_ratio("ppo", "greedy")),
    Claim("beats-dqn", "LSA beats the DQN baseline", "a, table", *paired_ratio("lsa-code", "dqn")),
    Claim("beats-ppo", "LSA beats the PPO baseline", "a, table", *paired_ratio("lsa-code", "ppo")),
    Claim("grpo-improves-r-perf", "GRPO training improves the policy (Fig. 2 dynamics)", "d",
          f"gain in R_perf: mean over the last {LAST_STEPS} GRPO steps minus mean over the first {FIRST_STEPS}, "
          "one per main-family training seed [dimensionless]",
          "95 % interval over training seeds (n seeds) above 0", _training_gain, 0.0, "R_perf gain"),
    # The cold-start claim on a model that has seen neither output format: a real pretrained chat
    # model, zero-shot (on the embedded model its verdict is fixed by the set-up, see RETIRED).
    Claim("real-llm-code-valid-zero-shot",
          "zero-shot, a real pretrained chat model (SmolLM2-135M) writes valid programs more often than valid "
          "channel lists", "e",
          "valid share of the code paradigm at the smallest N where the direct one is testable, no repair "
          "[share]; cold-start experiment, every tested N",
          "at every testable N: 95 % Wilson interval of the code share above the direct one's",
          _real_llm_cold_start, None, "valid share"),
    Claim("sft-keeps-direct-valid", "after the SFT warm start the direct paradigm stays valid", "e",
          f"valid-output share of the direct-sft run over its last {LAST_STEPS} steps",
          "95 % interval over those steps at or above 0.9", _sft_stays_valid(0.9), 0.9, "valid share"),
    Claim("prompt-keeps-strongest-pairs", "the bounded prompt keeps the strongest interferers for any N", "f",
          "share of each prompt-study instance's 10 strongest interferer pairs that its hierarchical prompt names "
          "(pair line, or the victim's most-interfered-link line) [%], every N and density of the study",
          f"95 % interval over instances (n instances) at or above {100 * PROMPT_KEPT_SHARE:g} %",
          _prompt_keeps(PROMPT_KEPT_SHARE), 100 * PROMPT_KEPT_SHARE, "pairs named [%]"),
    Claim("generalises-unseen-density", "the policy generalises to densities it was not trained on", "g",
          _MINUS_BASE + "; densities outside grpo.train_regimes, family grid, fixed budget",
          "95 % interval of the per-instance difference (paired, n instances) above 0", _generalises("density"),
          0.0, "ratio difference"),
    Claim("generalises-larger-n", "the policy generalises to networks larger than any it was trained on", "g",
          _MINUS_BASE + "; N > max grpo.train_n, family grid, fixed budget",
          "95 % interval of the per-instance difference (paired, n instances) above 0", _generalises("size"),
          0.0, "ratio difference"),
    Claim("larger-models-better", "larger models do better", "h",
          "U(lsa-code) / U(strongest classical method of the cell), the larger model minus the next smaller one, "
          "paired per instance, mean over training seeds; N = table_n, family grid, fixed budget; the weakest step",
          "every step up in size: 95 % interval of the per-instance difference (paired, n instances) above 0",
          _larger_is_better, 0.0, "ratio difference"),
    *limit_claims(Claim, _estimate),   # the share of the best-known utility (lsa.workflow.figures.limit)
    *lora_claims(Claim, Estimate),     # the real chat model trained with LoRA-GRPO (lsa.workflow.figures.lora_claims)
    *primitives_claims(Claim, _estimate),   # the primitives-only arm (lsa.workflow.figures.primitives)
]

def claim_inputs(paths: Paths, settings: WorkflowSettings | None = None) -> list[Path]:
    """The files of a run the claims read (the report rule's inputs)."""
    main_runs = [run for run, family, _ in settings.family_runs if family == MAIN_RUN] if settings else [MAIN_RUN]
    return [paths.evaluation, paths.llm_evaluation, paths.best_known, paths.prompt_length, *map(paths.grpo_log, main_runs),
            *map(paths.grpo_log, DIRECT_RUNS), paths.stage_config("figures")]


def claims_table(res: Results, claims: list[Claim] | None = None) -> pd.DataFrame:
    """One row per claim: id, figure, measure, shape, threshold, margin, value, low, high, n, verdict
    (holds / not shown / fails; None: not measurable), detail."""
    rows = []
    for claim in claims or CLAIMS:
        est = claim.evaluate(res)
        rows.append({"id": claim.id, "claim": claim.claim, "figure": claim.figure, "measure": claim.measure,
                     "unit": claim.unit, "shape": claim.shape, "threshold": claim.threshold, "margin": claim.margin,
                     "value": est.value, "low": est.low, "high": est.high, "n": est.n,
                     "verdict": est.verdict, "compared_with": est.compared_with, "detail": est.detail})
    table = pd.DataFrame(rows)
    table["verdict"] = pd.Series([r["verdict"] for r in rows], dtype=object)  # None stays None, not NaN
    return table


__all__ = ["Claim", "Estimate", "CLAIMS", "RETIRED", "VERDICTS", "claims_table", "claim_inputs", "paired_ratio",
           "STRICT_BUDGET_S"]
