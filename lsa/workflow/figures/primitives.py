"""The primitives-only arm read against the limit (issue 19's ablation): its table, its figure panel
and its claims, from `primitives_evaluation.csv` (and `primitives_programs.csv`, the census of what
its programs call) beside the baseline and LLM evaluations of the same results directory.

The arm's share of the best-known utility uses the same yardstick as every other method (the
best-known table raised to every evaluated utility, `Results.limit`); the main policy enters as its
mean over training seeds per instance, so paired comparisons and intervals are over instances (95 %
t). Where the arm's table is absent (a profile without the arm, or a reference made before it) its
claims are not measurable, and the table and figure are skipped.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from lsa.workflow.best_known import with_share
from lsa.workflow.figures.data import KEY, MissingResults, Results, _not_refused, at_budget, regimes, seed_mean
from lsa.workflow.figures.evaluations import relative_to
from lsa.workflow.stats import t_interval

#: the arm's `method` in the tables and figures here (in its own table it is lsa-code, policy primitives)
ARM = "lsa-code (primitives)"
MAIN = "lsa-code (main)"
#: the methods shown beside the arm (on the same instances and budgets)
BESIDE = ("greedy", "local-search", "ils")
#: the arm's share of best-known it must reach (at N = table_n, the fixed budget, every density pooled)
SHARE_TARGET = 0.95
#: non-inferiority margin to the full-vocabulary policy: arm share minus main share, per instance
MAIN_MARGIN = -0.02


def arm_rows(res: Results) -> pd.DataFrame:
    """The arm's evaluation rows (not refused), `method` = ARM, with the share of the best-known
    utility against `Results.limit` (the table's own share is recomputed on the shared yardstick)."""
    try:
        table = res.read(res.paths.primitives_evaluation, "primitives-only evaluation")
    except MissingResults as exc:
        raise MissingResults(f"not shown: the primitives-only arm was not evaluated ({exc})") from None
    rows = _not_refused(table).drop(columns=["best_known", "best_known_proven", "share_of_best_known"],
                                    errors="ignore").assign(method=ARM)
    if not res.has_best_known:
        raise MissingResults(f"no best-known utilities: {res.paths.best_known}")
    return with_share(rows, res.limit[0])


def compared_rows(res: Results) -> pd.DataFrame:
    """The arm, the main policy (mean over its training seeds per instance, `method` = MAIN) and
    BESIDE, on the arm's instances and budgets only, with `share_of_best_known` and `utility`."""
    arm = arm_rows(res)
    cells = pd.MultiIndex.from_frame(arm[KEY].drop_duplicates())
    others = res.method_rows[res.method_rows["method"].isin(["lsa-code", *BESIDE])]
    others = others[pd.MultiIndex.from_frame(others[KEY]).isin(cells)]
    keep = [c for c in [*KEY, "method", "N", "K", "regime", "utility", "share_of_best_known"] if c in others]
    main = others[others["method"] == "lsa-code"]
    main = (main.groupby([*KEY, "method", "N", "K", "regime"], as_index=False)[["utility", "share_of_best_known"]]
            .mean().assign(method=MAIN))
    rows = pd.concat([arm[keep], main[keep], others[others["method"] != "lsa-code"][keep]], ignore_index=True)
    return rows


def arm_summary(res: Results) -> pd.DataFrame:
    """Per method, density (and `all` pooled) and budget: the share of the best-known utility [%]
    (mean, 95 % t interval over instances, n); for the arm also the share of runs with a valid answer,
    the share of its programs that gave a valid assignment (an offer or the return value), of those
    that returned one before their deadline, and programs tried per run."""
    rows = compared_rows(res).dropna(subset=["share_of_best_known"])
    out = []
    pooled = rows.assign(regime="all")
    for (method, regime, budget), g in pd.concat([rows, pooled]).groupby(["method", "regime", "budget_s"], sort=False):
        mean, low, high = t_interval(100 * g["share_of_best_known"].astype(float))
        out.append({"method": method, "regime": regime, "N": int(g["N"].iloc[0]), "budget_s": float(budget),
                    "share_of_best_known_pct": mean, "ci_low_pct": low, "ci_high_pct": high, "instances": len(g)})
    table = pd.DataFrame(out)
    arm = arm_rows(res)
    pooled_arm = pd.concat([arm, arm.assign(regime="all")])
    stats = pooled_arm.groupby(["regime", "budget_s"]).agg(
        valid_answer_share=("valid", lambda v: float(pd.Series(v).astype(bool).mean())),
        programs_tried=("programs_tried", "sum"), programs_ok=("programs_ok", "sum"),
        programs_valid=("programs_valid", "sum"), programs_outside_vocabulary=("programs_outside_vocabulary", "sum"),
        runs=("instance", "count")).reset_index()
    tried = stats["programs_tried"].where(stats["programs_tried"] > 0)
    stats["valid_program_share"] = stats["programs_ok"] / tried          # offered or returned a valid assignment
    stats["completed_program_share"] = stats["programs_valid"] / tried   # ... and returned one before its deadline
    stats["programs_per_run"] = stats["programs_tried"] / stats["runs"]
    table = table.merge(stats.assign(method=ARM).drop(columns=["runs"]), on=["method", "regime", "budget_s"], how="left")
    order = [ARM, MAIN, *BESIDE]
    table["method"] = pd.Categorical(table["method"], [m for m in order if m in set(table["method"])], ordered=True)
    table["regime"] = pd.Categorical(table["regime"], [*regimes(rows), "all"], ordered=True)
    return table.sort_values(["budget_s", "method", "regime"]).astype({"method": str, "regime": str}).reset_index(drop=True)


def call_summary(res: Results) -> pd.Series:
    """How many of the arm's census programs call each net method (most called first); empty when
    the census is absent."""
    path = res.paths.primitives_programs
    if not path.is_file():
        return pd.Series(dtype=int)
    census = pd.read_csv(path)
    calls = census["calls"].fillna("").astype(str).str.split(";").explode()
    return calls[calls != ""].value_counts()


def arm_texts(res: Results) -> dict[str, str]:
    """ext -> text of the arm's table: csv (tidy, `arm_summary`), md (share of best-known [%] with its
    95 % interval per method and density, one block per budget; the census of called methods)."""
    table = arm_summary(res)
    regimes_ = list(dict.fromkeys(table["regime"]))
    n = int(table["N"].iloc[0])
    caption = (f"The primitives-only arm (no local_search, ils, anneal, tabu_search or restarts in its vocabulary; one "
               f"training seed) beside the full-vocabulary policy (mean over its training seeds per instance) and "
               f"classical methods on the same instances: share of the best-known utility [%], mean [95 % t interval "
               f"over instances], N = {n} links.")
    md = [f"*{caption}*", ""]
    for budget, g in table.groupby("budget_s", sort=True):
        md += [f"**T = {budget:g} s**", "", "| method | " + " | ".join(regimes_) + " |", "|---|" + "---:|" * len(regimes_)]
        for method, m in g.groupby("method", sort=False):
            cells = {r.regime: f"{r.share_of_best_known_pct:.1f} [{r.ci_low_pct:.1f}, {r.ci_high_pct:.1f}] ({r.instances})"
                     for r in m.itertuples()}
            md.append(f"| {method} | " + " | ".join(cells.get(r, "–") for r in regimes_) + " |")
        arm = g[(g["method"] == ARM) & (g["regime"] == "all")]
        if len(arm):
            a = arm.iloc[0]
            md += ["", f"Arm at T = {budget:g} s: valid answer in {100 * a.valid_answer_share:.0f} % of runs; "
                       f"{a.programs_per_run:.1f} programs tried per run, {100 * a.valid_program_share:.0f} % of them "
                       f"gave a valid assignment ({100 * a.completed_program_share:.0f} % returned one before their "
                       f"deadline); {int(a.programs_outside_vocabulary)} sampled programs called a complete search "
                       "(never run).", ""]
    calls = call_summary(res)
    if len(calls):
        md.append("Programs of the arm (seed programs and the census sample) calling each net method: "
                  + ", ".join(f"`{name}` {count}" for name, count in calls.items()) + ".")
    return {"csv": table.to_csv(index=False), "md": "\n".join(md) + "\n"}


def fig_primitives(res: Results):
    """Share of the best-known utility [%] per density: the arm, the main policy and the classical
    methods beside it, one panel per budget, 95 % t intervals over instances as error bars."""
    import matplotlib.pyplot as plt

    from lsa.workflow.figures.style import style_of

    table = arm_summary(res)
    table = table[table["regime"] != "all"]
    budgets = sorted(table["budget_s"].unique())
    methods = list(dict.fromkeys(table["method"]))
    regimes_ = list(dict.fromkeys(table["regime"]))
    fig, axes = plt.subplots(1, len(budgets), figsize=(4.2 * len(budgets), 3.2), squeeze=False, sharey=True)
    width = 0.8 / max(1, len(methods))
    order = [ARM, MAIN, *BESIDE]
    for ax, budget in zip(axes[0], budgets):
        g = table[np.isclose(table["budget_s"], budget)]
        for i, method in enumerate(methods):
            m = g[g["method"] == method].set_index("regime").reindex(regimes_)
            x = np.arange(len(regimes_)) + (i - (len(methods) - 1) / 2) * width
            err = [m["share_of_best_known_pct"] - m["ci_low_pct"], m["ci_high_pct"] - m["share_of_best_known_pct"]]
            style = style_of(method, order)
            ax.bar(x, m["share_of_best_known_pct"], width, yerr=err, capsize=2, label=method, color=style["color"],
                   hatch=["", "//", "..", "xx", "\\\\"][i % 5], edgecolor="black", linewidth=0.4)
        ax.set_xticks(np.arange(len(regimes_)), regimes_)
        ax.set_title(f"N = {int(g['N'].iloc[0])}, T = {budget:g} s")
        ax.set_xlabel("network density")
        low = float(np.nanmin(g["ci_low_pct"]))
        ax.set_ylim(max(0.0, min(90.0, low - 2)), 100.5)
    axes[0][0].set_ylabel("share of best-known utility [%]")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.suptitle("primitives-only vocabulary vs the full one (95 % intervals over instances)", fontsize=9)
    fig.tight_layout()
    fig.legend(handles, labels, loc="upper center", ncol=len(methods), fontsize=7, bbox_to_anchor=(0.5, 0.0))
    return fig


# ====================================================================== claims
def _arm_values(res: Results) -> tuple[pd.DataFrame, float, int]:
    arm = arm_rows(res)
    budget, n = res.budget_s, res.table_n
    rows = at_budget(arm[arm["N"] == n], budget).dropna(subset=["share_of_best_known"])
    if rows.empty:
        raise MissingResults(f"not shown: no primitives-only rows at N = {n}, T = {budget:g} s")
    return rows, budget, n


def _share(estimate: Callable, threshold: float):
    def measure(res: Results):
        rows, budget, n = _arm_values(res)
        per = seed_mean(rows, "share_of_best_known")
        by = ", ".join(f"{r} {v:.3f}" for r, v in per.groupby("regime")["share_of_best_known"].mean().items())
        strict = at_budget(arm_rows(res), 0.5)
        strict = strict[strict["N"] == n]["share_of_best_known"].dropna()
        detail = "; ".join(p for p in [f"N = {n}, T = {budget:g} s", f"by density {by}",
                                       f"T = 0.5 s: {strict.mean():.3f}" if len(strict) else "", "one training seed"] if p)
        return estimate(per["share_of_best_known"], threshold, False, detail)
    return measure


def _vs_main(estimate: Callable, margin: float):
    def measure(res: Results):
        rows, budget, n = _arm_values(res)
        both = at_budget(compared_rows(res), budget)
        both = both[(both["N"] == n) & both["method"].isin([ARM, MAIN])].dropna(subset=["share_of_best_known"])
        wide = both.pivot_table(index=KEY, columns="method", values="share_of_best_known").dropna()
        if wide.empty or MAIN not in wide:
            raise MissingResults(f"not shown: no main-policy rows on the arm's instances at N = {n}, T = {budget:g} s")
        diff = wide[ARM] - wide[MAIN]
        detail = (f"N = {n}, T = {budget:g} s; arm {wide[ARM].mean():.3f}, main {wide[MAIN].mean():.3f} "
                  f"(main: mean over its training seeds); non-inferiority margin {margin:+g}")
        return estimate(diff, margin, False, detail)
    return measure


def _vs_greedy(estimate: Callable):
    def measure(res: Results):
        rows, budget, n = _arm_values(res)
        both = at_budget(compared_rows(res), budget)
        both = both[(both["N"] == n) & both["method"].isin([ARM, "greedy"])]
        ratios = relative_to(both, "greedy")
        ratios = ratios[ratios["method"] == ARM]
        if ratios.empty:
            raise MissingResults(f"not shown: no greedy rows on the arm's instances at N = {n}, T = {budget:g} s")
        by = ", ".join(f"{r} {v:.3f}" for r, v in ratios.groupby("regime")["ratio"].mean().items())
        return estimate(ratios["ratio"], 1.0, True, f"N = {n}, T = {budget:g} s; by density {by}")
    return measure


def primitives_claims(claim: Callable, estimate: Callable) -> list:
    """The registry entries (`claim`: the Claim class, `estimate(values, threshold, strict, detail)`)."""
    return [
        claim("primitives-share-of-best-known",
              f"with primitives only (no complete search), the policy reaches at least {SHARE_TARGET:g} of the "
              "best-known utility", "table_primitives",
              "U(lsa-code, primitives-only arm) / best-known U of the instance, per instance; N = table_n, fixed "
              "budget, every density; one training seed",
              f"95 % interval over instances (n instances) at or above {SHARE_TARGET:g}",
              _share(estimate, SHARE_TARGET), SHARE_TARGET, "share of best-known"),
        claim("primitives-vs-main",
              f"with primitives only, the policy's share of the best-known utility is at most {-MAIN_MARGIN:g} below "
              "the full-vocabulary policy's", "table_primitives",
              "share of best-known of the primitives-only arm minus that of the main policy (mean over its training "
              "seeds), paired per instance; N = table_n, fixed budget, every density",
              f"95 % interval of the per-instance difference (paired, n instances) at or above {MAIN_MARGIN:g}",
              _vs_main(estimate, MAIN_MARGIN), MAIN_MARGIN, "share difference"),
        claim("primitives-beats-greedy", "with primitives only, the policy beats greedy", "table_primitives",
              "U(lsa-code, primitives-only arm) / U(greedy), paired per instance; N = table_n, fixed budget, every "
              "density", "95 % interval of the per-instance ratio (paired, n instances) above 1",
              _vs_greedy(estimate), 1.0),
    ]


__all__ = ["ARM", "MAIN", "BESIDE", "SHARE_TARGET", "MAIN_MARGIN", "arm_rows", "compared_rows", "arm_summary",
           "call_summary", "arm_texts", "fig_primitives", "primitives_claims"]
