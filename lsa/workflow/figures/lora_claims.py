"""The claims on the real pretrained chat model trained with LoRA-GRPO (the `lora_grpo` stage):

- GRPO improves the real model: its R_perf over the last steps minus over the first steps of the
  run, with a 95 % Welch interval over those steps (one run: the steps are the sample);
- the adapter beats greedy at T = 30 s, N = 200: U(lsa-code with the adapter) / U(greedy), paired per
  instance (same instance, seed and budget, the same evaluation call), 95 % t interval.

Both can fail (a tie is never a gain or a win); too few steps or instances for an interval is "not
shown". Where the stage's tables are absent (a profile without it, or a reference made before it
existed) nothing is shown and the detail says which table is missing: the verdict is the registry's
"not measurable" (None), so that the report calls the claim "new" in the first run that has the
tables, not "NOT reproduced". `lora_claims(Claim, Estimate)` builds the registry entries (`claims.CLAIMS`).
"""
from __future__ import annotations

import math
from typing import Callable

import pandas as pd

from lsa.policy.lora_grpo import LORA_RUN
from lsa.workflow.figures.data import MissingResults, Results, at_budget
from lsa.workflow.figures.evaluations import relative_to
from lsa.workflow.stats import NOT_SHOWN, t_interval, verdict

#: steps in each window of the R_perf gain (fewer when the run is shorter: half of it each)
WINDOW_STEPS = 10
#: the cell of the adapter-vs-greedy claim
CLAIM_N, CLAIM_BUDGET_S = 200, 30.0


def welch_difference(early, late, level: float = 0.95) -> tuple[float, float, float]:
    """(mean(late) - mean(early), low, high): Welch's t interval of a difference of two means."""
    from scipy import stats

    a, b = pd.Series(early, dtype=float).dropna(), pd.Series(late, dtype=float).dropna()
    diff = float(b.mean() - a.mean())
    if len(a) < 2 or len(b) < 2:
        return diff, math.nan, math.nan
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return diff, diff, diff
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = float(stats.t.ppf(0.5 + level / 2, df)) * se
    return diff, diff - half, diff + half


def _not_shown(estimate_cls, reason: str):
    return estimate_cls(verdict=NOT_SHOWN, detail=f"not shown: {reason}")


def _r_perf_gain(estimate_cls) -> Callable[[Results], object]:
    def estimate(res: Results):
        log = res.training_log(LORA_RUN)
        if log is None or "r_perf" not in log or log["r_perf"].isna().all():
            raise MissingResults(f"not shown: the LoRA-GRPO run is missing ({res.paths.lora_grpo_log} absent)")
        d = log.dropna(subset=["r_perf"]).sort_values("step")["r_perf"].astype(float)
        k = min(WINDOW_STEPS, len(d) // 2)
        if k < 2:
            return _not_shown(estimate_cls, f"the LoRA-GRPO run has {len(d)} step(s): too few for two windows")
        early, late = d.head(k), d.tail(k)
        diff, low, high = welch_difference(early, late)
        valid = log.dropna(subset=["valid_share"])["valid_share"].astype(float) if "valid_share" in log else pd.Series()
        detail = (f"{len(d)} steps; R_perf first {k} steps {early.mean():.3f}, last {k} steps {late.mean():.3f}"
                  + (f"; valid share first {valid.head(k).mean():.2f}, last {valid.tail(k).mean():.2f}"
                     if len(valid) else ""))
        return estimate_cls(diff, low, high, 2 * k, verdict(low, high, 2 * k, 0.0, True), detail)
    return estimate


def _vs_greedy(estimate_cls, n: int, budget_s: float) -> Callable[[Results], object]:
    def estimate(res: Results):
        try:
            table = res.read(res.paths.lora_evaluation, "LoRA-GRPO evaluation")
        except MissingResults as exc:
            raise MissingResults(f"not shown: the LoRA-GRPO evaluation is missing ({exc})") from None
        rows = at_budget(table[(table["N"] == n) & table["method"].isin(["lsa-code", "greedy"])], budget_s)
        ratios = relative_to(rows, "greedy")
        ratios = ratios[ratios["method"] == "lsa-code"]
        if ratios.empty:
            return _not_shown(estimate_cls, f"no paired adapter / greedy rows at N = {n}, T = {budget_s:g} s")
        values = ratios["ratio"].astype(float)
        mean, low, high = t_interval(values)
        code = rows[rows["method"] == "lsa-code"]
        fallbacks = int(code["fallback_random"].fillna(False).astype(bool).sum()) if "fallback_random" in code else 0
        detail = (f"N = {n}, T = {budget_s:g} s, {', '.join(sorted(set(ratios['regime'])))}; "
                  f"{fallbacks} of {len(code)} adapter runs fell back to random")
        return estimate_cls(mean, low, high, len(values), verdict(low, high, len(values), 1.0, True), detail)
    return estimate


def lora_claims(claim: Callable, estimate_cls: Callable) -> list:
    """The registry entries (`claim`: the Claim class, `estimate_cls`: the Estimate class)."""
    return [
        claim("real-llm-grpo-improves-r-perf", "LoRA-GRPO improves a real pretrained chat model (R_perf)", "d",
              f"R_perf of the LoRA-GRPO run: mean over its last {WINDOW_STEPS} steps minus over its first "
              f"{WINDOW_STEPS} [dimensionless]", "95 % Welch interval over those steps above 0",
              _r_perf_gain(estimate_cls), 0.0, "R_perf gain"),
        claim("real-llm-adapter-beats-greedy", "the LoRA-GRPO adapter beats greedy at T = 30 s, N = 200", "h",
              f"U(lsa-code, LoRA adapter) / U(greedy), paired per instance; N = {CLAIM_N}, T = {CLAIM_BUDGET_S:g} s, "
              "the LoRA evaluation's instances", "95 % interval of the per-instance ratio (paired, n instances) above 1",
              _vs_greedy(estimate_cls, CLAIM_N, CLAIM_BUDGET_S), 1.0),
    ]


__all__ = ["lora_claims", "welch_difference", "WINDOW_STEPS", "CLAIM_N", "CLAIM_BUDGET_S"]
