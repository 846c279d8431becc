"""The numbers of the evaluation figures (a, b, c, g, h) and the throughput table, from the baseline
and LLM evaluations of one results directory (pandas only): utilities, paired ratios, shares.

A policy trained with several seeds enters every number as its mean over the training seeds per
instance (so a 95 % interval is over instances), and its spread over seeds is given beside it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from lsa.workflow.figures.data import (
    BASE_POLICY,
    KEY,
    MAIN_RUN,
    POLICY_METHODS,
    MissingResults,
    Results,
    _not_refused,
    at_budget,
    ordered,
    regimes,
    seed_mean,
    seed_spread,
    summarise,
    training_seeds,
)
from lsa.workflow.figures.style import METHOD_ORDER


def relative_to(rows: pd.DataFrame, reference_method: str, value: str = "utility") -> pd.DataFrame:
    """Rows with `ratio` = value / the reference method's value on the same instance, seed, budget."""
    ref = rows[rows["method"] == reference_method].set_index(KEY)[value]
    ref = ref[~ref.index.duplicated()]
    out = rows.copy()
    out["ratio"] = out[value].to_numpy(dtype=float) / ref.reindex(pd.MultiIndex.from_frame(out[KEY])).to_numpy()
    return out.dropna(subset=["ratio"])


def curves(rows: pd.DataFrame, x: str, value: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per regime, method and `x`: the mean of `value` with its 95 % interval over instances (a
    policy: its seed mean per instance), and the policy's spread over training seeds."""
    return (summarise(seed_mean(rows, value), ["regime", "method", x], value),
            seed_spread(rows, ["regime", x], value))


# ====================================================================== a, b: utility curves
def share_curves(rows: pd.DataFrame, x: str) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Per regime, method and `x`: the share of the best-known utility [%] (mean, 95 % interval over
    instances; a policy: its seed mean per instance) and the policy's spread over training seeds;
    (None, None) when the results hold no best-known utilities."""
    if "share_of_best_known" not in rows or rows["share_of_best_known"].isna().all():
        return None, None
    share = rows.dropna(subset=["share_of_best_known"]).assign(percent=lambda d: 100 * d["share_of_best_known"])
    return curves(share, x, "percent")


def utility_vs_n(res: Results) -> dict:
    """Figure a at the fixed budget: `utility` and `spread` per regime, method and N; when greedy ran,
    `relative` and `relative_spread`: the paired ratio to greedy [%]; with best-known utilities,
    `share` and `share_spread`: the share of the best-known [%]."""
    rows = at_budget(res.method_rows, res.budget_s)
    utility, spread = curves(rows, "N", "utility")
    out = {"utility": utility, "spread": spread, "relative": None, "relative_spread": None,
           "budget_s": res.budget_s, "seeds": training_seeds(rows)}
    if "greedy" in set(rows["method"]):
        rel = relative_to(rows, "greedy").assign(percent=lambda d: 100 * d["ratio"])
        out["relative"], out["relative_spread"] = curves(rel, "N", "percent")
    out["share"], out["share_spread"] = share_curves(rows, "N")
    return out


def anytime(res: Results) -> dict:
    """Figure b: utility (and the policy's seed spread) per regime, method and budget at N = anytime_n;
    with best-known utilities, `share` and `share_spread`: the share of the best-known [%]."""
    n = res.anytime_n
    rows = res.method_rows[res.method_rows["N"] == n]
    if rows.empty:
        raise MissingResults(f"no evaluation rows at N = {n} (figures.anytime_n)")
    utility, spread = curves(rows, "budget_s", "utility")
    share, share_spread = share_curves(rows, "budget_s")
    return {"utility": utility, "spread": spread, "N": n, "seeds": training_seeds(rows), "share": share,
            "share_spread": share_spread}


def share_of_best_known(res: Results, method: str, budget_s: float, n: int, regime: str | None = None) -> pd.DataFrame:
    """`method`'s rows at N = n and `budget_s` (in `regime`, else all) with `share_of_best_known`, one
    per instance (a policy: the mean over its training seeds). MissingResults when there are none."""
    if not res.has_best_known:
        raise MissingResults(f"no best-known utilities: {res.paths.best_known}")
    rows = at_budget(res.method_rows, budget_s)
    rows = rows[(rows["method"] == method) & (rows["N"] == n) & ((rows["regime"] == regime) if regime else True)]
    rows = rows.dropna(subset=["share_of_best_known"])
    if rows.empty:
        raise MissingResults(f"no {method} rows with a best-known utility at N = {n}, T = {budget_s:g} s"
                             + (f", {regime}" if regime else ""))
    return seed_mean(rows, "share_of_best_known")


def best_known_summary(res: Results) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per regime and N: instances, mean best-known utility, how many are proven optima, how many an
    evaluated run raised, the mean load while the long runs ran; and the rows that raised one."""
    best, updates = res.limit
    best = best.assign(raised=best["updated_by"] != "")
    summary = best.groupby(["regime", "N"]).agg(
        instances=("instance", "count"), best_known=("best_known", "mean"),
        proven_optima=("proven_optimal", "sum"), raised_by_evaluation=("raised", "sum"),
        best_run_budget_s=("budget_s", "max"), load_1min=("load_1min", "mean")).reset_index()
    summary["regime"] = pd.Categorical(summary["regime"], regimes(summary), ordered=True)
    return summary.sort_values(["regime", "N"]).astype({"regime": str}).reset_index(drop=True), updates


# ====================================================================== c: share of the best known
def exact_share(rows: pd.DataFrame, max_n: int) -> pd.DataFrame:
    """Per row at N <= max_n: the method's utility as a share of the best known on that instance.

    The best known utility of an instance is the best any method (any training seed) reached on it
    at any budget, and the best-known stage's (`best_known` column, when computed); `exact` is among
    them, and where it (or the best-known stage's `exact`) proved optimality that is the optimum
    (`reference_optimal` True). Under a short budget `exact` may stop before proving it,
    so a bare `exact` row is not assumed optimal."""
    small = rows[rows["N"] <= max_n].copy()
    if small[small["method"] == "exact"].empty:
        raise MissingResults(f"no `exact` rows at N <= {max_n}")
    key = ["instance", "seed"]
    best = small.groupby(key)["utility"].max().rename("reference")
    exact = small[small["method"] == "exact"]
    optimal = exact["optimal"].fillna(False).astype(bool) if "optimal" in exact else pd.Series(False, index=exact.index)
    proven = optimal.groupby([exact["instance"], exact["seed"]]).any()
    if "best_known" in small:   # the best-known stage's long runs and proven optima count too
        best = np.fmax(best, small.groupby(key)["best_known"].max().reindex(best.index)).rename("reference")
        proven = proven.reindex(best.index, fill_value=False) | small.groupby(key)["best_known_proven"].any()
    other = small[small["method"] != "exact"].join(best, on=key)
    other["reference_optimal"] = proven.reindex(pd.MultiIndex.from_frame(other[key])).fillna(False).to_numpy(dtype=bool)
    other["share"] = other["utility"] / other["reference"]
    return other.dropna(subset=["share"])


def exact_share_summary(res: Results) -> tuple[pd.DataFrame, int, int]:
    """Figure c: mean share [%] per method and budget; (instances with a proven optimum, instances)."""
    shares = exact_share(res.method_rows, res.settings.exact_max_n).assign(percent=lambda d: 100 * d["share"])
    per_instance = shares.groupby(["instance", "seed"])["reference_optimal"].first()
    return (summarise(seed_mean(shares, "percent"), ["method", "budget_s"], "percent"), int(per_instance.sum()),
            len(per_instance))


# ====================================================================== g, h: ratio to the strongest classical
def strongest_classical(classical: pd.DataFrame) -> pd.DataFrame:
    """Per cell (N, regime, budget): the classical method with the best mean utility. Columns N,
    regime, budget_s, strongest, strongest_mean."""
    means = classical.groupby(["N", "regime", "budget_s", "method"])["utility"].mean().reset_index()
    best = means.loc[means.groupby(["N", "regime", "budget_s"])["utility"].idxmax()]
    return best.rename(columns={"method": "strongest", "utility": "strongest_mean"}).reset_index(drop=True)


def policy_ratio(res: Results) -> pd.DataFrame:
    """Every lsa-* row of the LLM evaluation (one per policy run) with `ratio` = utility / the
    utility of the cell's strongest classical method on the same instance, seed and budget."""
    llm = _not_refused(res.llm)
    pol = llm[llm["method"].isin(POLICY_METHODS)]
    if pol.empty:
        raise MissingResults("LLM evaluation has no policy rows")
    return ratio_to_strongest(pol, res.classical_rows)


def ratio_to_strongest(pol: pd.DataFrame, classical: pd.DataFrame) -> pd.DataFrame:
    """`pol`'s rows with `strongest` (the classical method with the best mean utility in the cell N,
    regime, budget) and `ratio` = utility / that method's utility on the same instance, seed, budget."""
    pol = pol.merge(strongest_classical(classical), on=["N", "regime", "budget_s"], how="inner")
    ref = classical.set_index([*KEY, "method"])["utility"]
    ref = ref[~ref.index.duplicated()]
    idx = pd.MultiIndex.from_arrays([pol["instance"], pol["seed"], pol["budget_s"], pol["strongest"]])
    pol["strongest_utility"] = ref.reindex(idx).to_numpy()
    pol["ratio"] = pol["utility"] / pol["strongest_utility"]
    out = pol.dropna(subset=["ratio"])
    if out.empty:
        raise MissingResults("no policy row shares an instance with a classical method")
    return out


def instance_ratio(pol: pd.DataFrame) -> pd.DataFrame:
    """One ratio per policy family and instance run: the mean over the family's training seeds."""
    keys = [c for c in [*KEY, "N", "regime", "policy", "strongest", "model_size", "n_params"] if c in pol]
    return pol.groupby(keys, as_index=False, dropna=False)["ratio"].mean()


def generalisation(res: Results) -> dict:
    """Figure g at the fixed budget: `summary` of the main family's (seed mean) and the base model's
    ratio per regime and N; the main family's `spread` over seeds; the `strongest` classical method
    per (regime, N); the `training` grid (train_regimes, train_n_max, unseen_regimes)."""
    pol = at_budget(policy_ratio(res), res.budget_s)
    main = pol[pol["policy"] == MAIN_RUN]
    if main.empty:
        raise MissingResults("LLM evaluation has no rows of the main policy at the fixed budget")
    shown = pol[pol["policy"].isin([MAIN_RUN, BASE_POLICY])]
    return {"summary": summarise(instance_ratio(shown), ["regime", "policy", "N"], "ratio"),
            "spread": seed_spread(main, ["regime", "N"], "ratio"), "seeds": training_seeds(main),
            "strongest": main[["regime", "N", "strongest"]].drop_duplicates(["regime", "N"]),
            "training": res.training}


def family_grid_ratios(res: Results) -> pd.DataFrame:
    """Policy rows at the fixed budget on the family grid: the instance runs where a family other
    than main (or the base model) ran; every family there (the main family is evaluated on more)."""
    pol = at_budget(policy_ratio(res), res.budget_s).dropna(subset=["n_params"])
    others = pol[pol["policy"] != MAIN_RUN]
    if others.empty:
        raise MissingResults("LLM evaluation has no other policy family and no base model at the fixed budget")
    keys = pd.MultiIndex.from_frame(others[["instance", "seed"]].drop_duplicates())
    pol = pol[pd.MultiIndex.from_frame(pol[["instance", "seed"]]).isin(keys)]
    return pol.assign(model_size=pol["model_size"].fillna("?").astype(str))


def model_size(res: Results) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Figure h: per policy family (model size) and N on the family grid, the ratio's mean over
    instances of the seed means with its 95 % interval; and every training seed's own mean."""
    pol = family_grid_ratios(res)
    summary = summarise(instance_ratio(pol), ["policy", "model_size", "n_params", "N"], "ratio")
    trained = pol[pol["policy"] != BASE_POLICY]
    per_seed = trained.groupby(["policy", "model_size", "n_params", "N", "train_seed"])["ratio"].mean().reset_index()
    return summary, per_seed


# ====================================================================== the table
def throughput_table(res: Results) -> pd.DataFrame:
    """Mean aggregate throughput [Mbit/s] per method and regime at N = table_n and the fixed budget,
    with the 95 % t interval over instances (a policy: its mean over training seeds per instance),
    the training seeds averaged, and the count of runs that fell back to random."""
    budget, n = res.budget_s, res.table_n
    df = at_budget(res.method_rows, budget)
    df = df[df["N"] == n].assign(throughput_mbps=lambda d: d["throughput"] / 1e6)
    if df.empty:
        raise MissingResults(f"no rows at N = {n}, budget {budget:g} s for the throughput table")
    fallback = df["fallback_random"].fillna(False).astype(bool) if "fallback_random" in df else False
    df = df.assign(fallback=fallback)
    table = summarise(seed_mean(df, "throughput_mbps"), ["method", "regime"], "throughput_mbps")
    index = pd.MultiIndex.from_frame(table[["method", "regime"]])
    table["random_fallbacks"] = df.groupby(["method", "regime"])["fallback"].sum().reindex(index).to_numpy(dtype=int)
    table["training_seeds"] = [max(1, training_seeds(df, m)) for m in table["method"]]
    share = share_curves(df, "N")[0]
    share = (share.set_index(["method", "regime"]).reindex(index) if share is not None
             else pd.DataFrame(index=index, columns=["mean", "low", "high"], dtype=float))
    table["share_of_best_known_pct"] = share["mean"].to_numpy(dtype=float)
    table["share_ci_low_pct"] = share["low"].to_numpy(dtype=float)
    table["share_ci_high_pct"] = share["high"].to_numpy(dtype=float)
    table["method"] = pd.Categorical(table["method"], ordered(table["method"], METHOD_ORDER), ordered=True)
    table["regime"] = pd.Categorical(table["regime"], regimes(table), ordered=True)
    table = table.sort_values(["method", "regime"]).astype({"method": str, "regime": str})
    table = table.rename(columns={"mean": "throughput_mbps", "low": "ci_low_mbps", "high": "ci_high_mbps", "n": "runs"})
    columns = ["method", "regime", "N", "budget_s", "throughput_mbps", "ci_low_mbps", "ci_high_mbps", "runs",
               "training_seeds", "random_fallbacks", "share_of_best_known_pct", "share_ci_low_pct", "share_ci_high_pct"]
    return table.assign(N=n, budget_s=budget)[columns].reset_index(drop=True)


__all__ = ["relative_to", "curves", "utility_vs_n", "anytime", "exact_share", "exact_share_summary",
           "strongest_classical", "policy_ratio", "ratio_to_strongest", "instance_ratio", "generalisation", "family_grid_ratios",
           "model_size", "throughput_table", "share_curves", "share_of_best_known", "best_known_summary"]
