"""Every number a figure, the table or the README quotes, computed from one results directory with
pandas alone (no matplotlib): summaries with 95 % t intervals, ratios, shares, training curves.

`Results(dir)` reads each tidy file once; the plots, the table and the claims all read from it.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from lsa.config import Section, option, section
from lsa.errors import LSAError
from lsa.workflow.figures.style import METHOD_ORDER
from lsa.workflow.paths import Paths
from lsa.workflow.stages import DEFAULT_GRPO_RUNS, DIRECT_RUNS, MAIN_RUN, load_stage_config
from lsa.workflow.stats import t_interval

#: learned methods (everything else in a results table is a classical method)
LEARNED_METHODS = ("lsa-code", "lsa-direct", "dqn", "ppo")
POLICY_METHODS = ("lsa-code", "lsa-direct")
REGIME_ORDER = ["sparse", "dense", "ultra-dense"]
KEY = ["instance", "seed", "budget_s"]


class MissingResults(LSAError):
    """A figure's results file is absent (or holds no usable rows): the figure is skipped."""


@dataclass(frozen=True)
class FigureSettings(Section):
    """The `figures:` section of a profile (stored with the results in results/config/figures.yaml)."""

    SECTION = "figures"

    budget_s: float | None = option(None, "Fixed budget of figures a, c, g, h and the table (null: the largest "
                                          "budget every method ran).")
    anytime_n: int | None = option(None, "N of the anytime figure b (null: the largest N evaluated at several budgets).")
    exact_max_n: int = option(20, "Figure c uses instances with N <= this (where `exact` runs).")
    table_n: int | None = option(None, "N of the throughput table and the headline claims (null: the largest N).")
    smoothing_steps: int = option(10, "Rolling-mean window (steps) of the training curves d and e.")
    dpi: int = option(200, "Resolution of the PNG files.")

    def check(self) -> None:
        if self.exact_max_n < 1 or self.smoothing_steps < 1 or not 50 <= self.dpi <= 1200:
            self.fail("need exact_max_n >= 1, smoothing_steps >= 1 and dpi in [50, 1200]")


def summarise(df: pd.DataFrame, by: list[str], value: str) -> pd.DataFrame:
    """Mean and 95 % t interval of `value` per group: columns by..., mean, low, high, n."""
    rows = []
    for keys, g in df.groupby(by, sort=True):
        mean, low, high = t_interval(g[value])
        rows.append({**dict(zip(by, keys if isinstance(keys, tuple) else (keys,))),
                     "mean": mean, "low": low, "high": high, "n": int(g[value].notna().sum())})
    return pd.DataFrame(rows, columns=[*by, "mean", "low", "high", "n"])


def ordered(values, order: list[str]) -> list[str]:
    present = list(dict.fromkeys(values))
    return [v for v in order if v in present] + [v for v in present if v not in order]


def regimes(df: pd.DataFrame) -> list[str]:
    return ordered(df["regime"], REGIME_ORDER)


def _not_refused(df: pd.DataFrame) -> pd.DataFrame:
    if "refused" not in df:
        return df
    refused = df["refused"].notna() & (df["refused"].astype(str).str.strip() != "")
    return df[~refused]


def _close(values: pd.Series, x: float) -> pd.Series:
    return pd.Series(np.isclose(values.to_numpy(dtype=float), float(x)), index=values.index)


class Results:
    """One results directory, each tidy file read once; figure settings stored with it."""

    def __init__(self, results_dir: str | Path):
        self.paths = Paths(Path(results_dir), Path(results_dir))
        stored_path = self.paths.stage_config("figures")
        self.stored = load_stage_config(stored_path) if stored_path.is_file() else {}
        self.settings = section(self.stored, FigureSettings)
        self._tables: dict[Path, pd.DataFrame] = {}

    def read(self, path: Path, what: str) -> pd.DataFrame:
        if path not in self._tables:
            if not path.is_file():
                raise MissingResults(f"{what} not found: {path}")
            df = pd.read_csv(path)
            if df.empty:
                raise MissingResults(f"{what} is empty: {path}")
            self._tables[path] = df
        return self._tables[path]

    @property
    def dynamics_runs(self) -> list[str]:
        return list(self.stored.get("dynamics_runs") or DEFAULT_GRPO_RUNS)

    @cached_property
    def llm(self) -> pd.DataFrame:
        return self.read(self.paths.llm_evaluation, "LLM evaluation")

    @cached_property
    def method_rows(self) -> pd.DataFrame:
        """Baseline rows + the main trained policy's rows (when the LLM evaluation exists); rows
        where a method refused the instance (e.g. `exact` at large N) are dropped."""
        frames = [self.read(self.paths.evaluation, "baseline evaluation")]
        if self.paths.llm_evaluation.is_file() and "policy" in self.llm:
            frames.append(self.llm[self.llm["method"].isin(POLICY_METHODS) & (self.llm["policy"] == MAIN_RUN)])
        return _not_refused(pd.concat(frames, ignore_index=True, sort=False))

    @cached_property
    def classical_rows(self) -> pd.DataFrame:
        """Every classical row: the baseline evaluation, plus the LLM evaluation's reference rows on
        runs the baseline evaluation does not have (same instance, seed, budget and method)."""
        frames = [self.read(self.paths.evaluation, "baseline evaluation")]
        if self.paths.llm_evaluation.is_file():
            frames.append(self.llm)
        rows = _not_refused(pd.concat(frames, ignore_index=True, sort=False))
        rows = rows[~rows["method"].isin(LEARNED_METHODS)]
        return rows.drop_duplicates([*KEY, "method"], keep="first")

    @cached_property
    def budget_s(self) -> float:
        """The fixed budget of figures a, c, g, h and the table: figures.budget_s, else the largest
        budget every method ran."""
        df = self.method_rows
        if self.settings.budget_s is not None:
            if not _close(df["budget_s"], self.settings.budget_s).any():
                raise MissingResults(f"no rows at figures.budget_s = {self.settings.budget_s}")
            return float(self.settings.budget_s)
        common = set(df["budget_s"].unique())
        for _, g in df.groupby("method"):
            common &= set(g["budget_s"].unique())
        return float(max(common) if common else df["budget_s"].max())

    @property
    def table_n(self) -> int:
        return int(self.settings.table_n) if self.settings.table_n is not None else int(self.method_rows["N"].max())

    @property
    def anytime_n(self) -> int:
        if self.settings.anytime_n is not None:
            return int(self.settings.anytime_n)
        multi = self.method_rows.groupby("N")["budget_s"].nunique()
        return int(multi[multi > 1].index.max() if (multi > 1).any() else self.method_rows["N"].max())

    def training_log(self, run: str) -> pd.DataFrame | None:
        path = self.paths.grpo_log(run)
        if not path.is_file() or path.stat().st_size == 0:
            return None
        df = pd.read_csv(path)
        return None if df.empty else df.assign(run=run)

    def training_logs(self, runs: list[str]) -> pd.DataFrame:
        """The per-step GRPO logs of `runs` with a `run` column (missing runs are left out; none at all
        is MissingResults)."""
        frames = [df for df in map(self.training_log, runs) if df is not None]
        if not frames:
            raise MissingResults(f"no GRPO training log of {', '.join(runs)} in {self.paths.results / 'training'}")
        return pd.concat(frames, ignore_index=True, sort=False)

    @cached_property
    def prompt_length(self) -> pd.DataFrame:
        return self.read(self.paths.prompt_length, "prompt-length study")


# ====================================================================== a, b: utility curves
def at_budget(rows: pd.DataFrame, budget_s: float) -> pd.DataFrame:
    return rows[_close(rows["budget_s"], budget_s)]


def relative_to(rows: pd.DataFrame, reference_method: str, value: str = "utility") -> pd.DataFrame:
    """Rows with `ratio` = value / the reference method's value on the same instance, seed, budget."""
    ref = rows[rows["method"] == reference_method].set_index(KEY)[value]
    ref = ref[~ref.index.duplicated()]
    out = rows.copy()
    out["ratio"] = out[value].to_numpy(dtype=float) / ref.reindex(pd.MultiIndex.from_frame(out[KEY])).to_numpy()
    return out.dropna(subset=["ratio"])


def utility_vs_n(res: Results) -> tuple[pd.DataFrame, pd.DataFrame | None, float]:
    """Figure a: utility per regime, method and N at the fixed budget; and (when greedy ran) the
    paired ratio to greedy [%]."""
    rows = at_budget(res.method_rows, res.budget_s)
    utility = summarise(rows, ["regime", "method", "N"], "utility")
    if "greedy" not in set(rows["method"]):
        return utility, None, res.budget_s
    rel = relative_to(rows, "greedy").assign(percent=lambda d: 100 * d["ratio"])
    return utility, summarise(rel, ["regime", "method", "N"], "percent"), res.budget_s


def anytime(res: Results) -> tuple[pd.DataFrame, int]:
    """Figure b: utility per regime, method and budget at N = anytime_n (every budget present)."""
    n = res.anytime_n
    rows = res.method_rows[res.method_rows["N"] == n]
    if rows.empty:
        raise MissingResults(f"no evaluation rows at N = {n} (figures.anytime_n)")
    return summarise(rows, ["regime", "method", "budget_s"], "utility"), n


# ====================================================================== c: share of the best known
def exact_share(rows: pd.DataFrame, max_n: int) -> pd.DataFrame:
    """Per instance, seed and budget: each method's utility as a share of the best known (N <= max_n).

    The best known utility of an instance is the best any method reached on it at any budget;
    `exact` is among them, and where it proved optimality (`optimal` column) that is the optimum
    (`reference_optimal` True). Under a short budget `exact` may stop before proving it, so a bare
    `exact` row is not assumed optimal."""
    small = rows[rows["N"] <= max_n].copy()
    if small[small["method"] == "exact"].empty:
        raise MissingResults(f"no `exact` rows at N <= {max_n}")
    key = ["instance", "seed"]
    best = small.groupby(key)["utility"].max().rename("reference")
    exact = small[small["method"] == "exact"]
    optimal = exact["optimal"].fillna(False).astype(bool) if "optimal" in exact else pd.Series(False, index=exact.index)
    proven = optimal.groupby([exact["instance"], exact["seed"]]).any()
    other = small[small["method"] != "exact"].join(best, on=key)
    other["reference_optimal"] = proven.reindex(pd.MultiIndex.from_frame(other[key])).fillna(False).to_numpy(dtype=bool)
    other["share"] = other["utility"] / other["reference"]
    return other.dropna(subset=["share"])


def exact_share_summary(res: Results) -> tuple[pd.DataFrame, int, int]:
    """Figure c: mean share [%] per method and budget; (instances with a proven optimum, instances)."""
    shares = exact_share(res.method_rows, res.settings.exact_max_n).assign(percent=lambda d: 100 * d["share"])
    per_instance = shares.groupby(["instance", "seed"])["reference_optimal"].first()
    return summarise(shares, ["method", "budget_s"], "percent"), int(per_instance.sum()), len(per_instance)


# ====================================================================== d, e: training curves
def smoothed(log: pd.DataFrame, column: str, window: int) -> pd.DataFrame:
    """Columns step, raw, smooth (centred rolling mean; the window shrinks for short runs)."""
    d = log.dropna(subset=[column]).sort_values("step")
    w = max(1, min(window, len(d) // 3 or 1))
    raw = d[column].astype(float)
    return pd.DataFrame({"step": d["step"].to_numpy(), "raw": raw.to_numpy(),
                         "smooth": raw.rolling(w, min_periods=1, center=True).mean().to_numpy()})


def window_mean(res: Results, run: str, column: str, first: int | None = None, last: int | None = None):
    """(mean, low, high) of a training-log column over the first or last steps of a run."""
    log = res.training_log(run)
    if log is None or column not in log:
        return None
    d = log.dropna(subset=[column]).sort_values("step")[column]
    d = d.head(first) if first else d.tail(last) if last else d
    return t_interval(d) if len(d) else None


# ====================================================================== f: prompt length
def prompt_tokens(res: Results) -> tuple[pd.DataFrame, int, str]:
    """Figure f: prompt tokens per serializer and N; the token budget; the tokenizer's name."""
    df = res.prompt_length
    tokenizer = Path(str(df["tokenizer"].iloc[0])).name if "tokenizer" in df else "default"
    return summarise(df, ["serializer", "N"], "tokens"), int(df["max_tokens"].max()), tokenizer


# ====================================================================== g, h: ratio to the strongest classical
def strongest_classical(classical: pd.DataFrame) -> pd.DataFrame:
    """Per cell (N, regime, budget): the classical method with the best mean utility. Columns N,
    regime, budget_s, strongest, strongest_mean."""
    means = classical.groupby(["N", "regime", "budget_s", "method"])["utility"].mean().reset_index()
    best = means.loc[means.groupby(["N", "regime", "budget_s"])["utility"].idxmax()]
    return best.rename(columns={"method": "strongest", "utility": "strongest_mean"}).reset_index(drop=True)


def policy_ratio(res: Results) -> pd.DataFrame:
    """Policy rows (every lsa-* row of the LLM evaluation) with `ratio` = utility / the utility of
    the cell's strongest classical method on the same instance, seed and budget, and `strongest`."""
    llm = _not_refused(res.llm)
    pol = llm[llm["method"].isin(POLICY_METHODS)]
    if pol.empty or "policy" not in pol:
        raise MissingResults("LLM evaluation has no policy rows")
    classical = res.classical_rows
    best = strongest_classical(classical)
    pol = pol.merge(best, on=["N", "regime", "budget_s"], how="inner")
    ref = classical.set_index([*KEY, "method"])["utility"]
    idx = pd.MultiIndex.from_arrays([pol["instance"], pol["seed"], pol["budget_s"], pol["strongest"]])
    pol["strongest_utility"] = ref.reindex(idx).to_numpy()
    pol["ratio"] = pol["utility"] / pol["strongest_utility"]
    out = pol.dropna(subset=["ratio"])
    if out.empty:
        raise MissingResults("no policy row shares an instance with a classical method")
    return out


def generalisation(res: Results) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Figure g: base and main policy ratio per regime and N at the fixed budget; the strongest
    classical method per (regime, N); the training grid (train_n_max, train_regimes)."""
    pol = at_budget(policy_ratio(res), res.budget_s)
    pol = pol[pol["policy"].isin(["base", MAIN_RUN])]
    if pol.empty:
        raise MissingResults("LLM evaluation has no rows of the base or main policy at the fixed budget")
    llm = res.llm
    train = {"train_n_max": float(llm["train_n_max"].dropna().iloc[0]) if llm["train_n_max"].notna().any() else None,
             "train_regimes": (set(str(llm["train_regimes"].dropna().iloc[0]).split(","))
                               if llm["train_regimes"].notna().any() else set())}
    strongest = pol[["regime", "N", "strongest"]].drop_duplicates(["regime", "N"])
    return summarise(pol, ["regime", "policy", "N"], "ratio"), strongest, train


def model_size(res: Results) -> pd.DataFrame:
    """Figure h: ratio per policy kind (base / GRPO), model size and N at the fixed budget."""
    pol = at_budget(policy_ratio(res), res.budget_s).dropna(subset=["n_params"])
    if pol.empty:
        raise MissingResults("LLM evaluation has no policy rows with a parameter count")
    pol = pol.assign(kind=np.where(pol["policy"] == "base", "base model (before GRPO)", "GRPO policy"),
                     model_size=pol["model_size"].fillna("?").astype(str))
    return summarise(pol, ["kind", "model_size", "n_params", "N"], "ratio")


# ====================================================================== the table
def throughput_table(res: Results) -> pd.DataFrame:
    """Mean aggregate throughput [Mbit/s] per method and regime at N = table_n and the fixed budget,
    with the 95 % t interval over seeds and the count of runs that fell back to random."""
    budget, n = res.budget_s, res.table_n
    df = at_budget(res.method_rows, budget)
    df = df[df["N"] == n].assign(throughput_mbps=lambda d: d["throughput"] / 1e6)
    if df.empty:
        raise MissingResults(f"no rows at N = {n}, budget {budget:g} s for the throughput table")
    fallback = df["fallback_random"].fillna(False).astype(bool) if "fallback_random" in df else False
    df = df.assign(fallback=fallback)
    table = summarise(df, ["method", "regime"], "throughput_mbps")
    table["random_fallbacks"] = df.groupby(["method", "regime"])["fallback"].sum().reindex(
        pd.MultiIndex.from_frame(table[["method", "regime"]])).to_numpy(dtype=int)
    table["method"] = pd.Categorical(table["method"], ordered(table["method"], METHOD_ORDER), ordered=True)
    table["regime"] = pd.Categorical(table["regime"], regimes(table), ordered=True)
    table = table.sort_values(["method", "regime"]).astype({"method": str, "regime": str})
    table = table.rename(columns={"mean": "throughput_mbps", "low": "ci_low_mbps", "high": "ci_high_mbps", "n": "runs"})
    columns = ["method", "regime", "N", "budget_s", "throughput_mbps", "ci_low_mbps", "ci_high_mbps", "runs",
               "random_fallbacks"]
    return table.assign(N=n, budget_s=budget)[columns].reset_index(drop=True)


__all__ = ["Results", "FigureSettings", "MissingResults", "summarise", "exact_share", "policy_ratio",
           "strongest_classical", "throughput_table", "LEARNED_METHODS", "DIRECT_RUNS", "MAIN_RUN"]
