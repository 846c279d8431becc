"""One results directory read once (`Results`), with pandas alone (no matplotlib): summaries with 95 % t
intervals, a policy's training seeds (mean and spread), training curves, prompt lengths.

The plots, the table and the claims all read from `Results`; the evaluation numbers are in `evaluations`.
"""
from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from lsa.config import section
from lsa.errors import LSAError
from lsa.workflow.best_known import raise_to_evaluated, with_share
from lsa.workflow.paths import Paths
from lsa.workflow.sections import FigureSettings, fixed_budget_s
from lsa.workflow.stages import BASE_POLICY, DEFAULT_GRPO_RUNS, DIRECT_RUNS, MAIN_RUN, load_stage_config
from lsa.workflow.stats import t_interval

#: the hand-written methods: the "strongest classical method" of a cell is the best of those present
CLASSICAL_METHODS = ("random", "greedy", "local-search", "ils", "exact", "km", "km-partitioned", "pulp-partitioned",
                     "de")
LEARNED_METHODS = ("lsa-code", "lsa-direct", "dqn", "ppo")
POLICY_METHODS = ("lsa-code", "lsa-direct")
REGIME_ORDER = ["sparse", "dense", "ultra-dense"]
KEY = ["instance", "seed", "budget_s"]


class MissingResults(LSAError):
    """A figure's results file is absent (or holds no usable rows): the figure is skipped."""


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
    """One results directory, each tidy file read once; figure settings stored with it (results/config/
    figures.yaml: the figures section, the GRPO runs and families, the training grid)."""

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

    def family_runs(self, family: str = MAIN_RUN) -> list[str]:
        """The GRPO runs of a policy family, one per training seed (a run of older code: the family alone)."""
        return list((self.stored.get("family_runs") or {}).get(family) or [family])

    @cached_property
    def training(self) -> dict:
        """The GRPO training grid: train_regimes (set), train_n_max (None: unknown), unseen_regimes."""
        stored = self.stored.get("training")
        if stored:
            return {"train_regimes": set(stored.get("train_regimes") or []), "train_n_max": stored.get("train_n_max"),
                    "unseen_regimes": list(stored.get("unseen_regimes") or [])}
        llm = self.llm if self.paths.llm_evaluation.is_file() else pd.DataFrame()
        n_max = llm["train_n_max"].dropna() if "train_n_max" in llm else pd.Series(dtype=float)
        trained = llm["train_regimes"].dropna() if "train_regimes" in llm else pd.Series(dtype=str)
        trained = set(str(trained.iloc[0]).split(",")) if len(trained) else set()
        evaluated = regimes(self.read(self.paths.evaluation, "baseline evaluation"))
        return {"train_regimes": trained, "train_n_max": float(n_max.iloc[0]) if len(n_max) else None,
                "unseen_regimes": [r for r in evaluated if trained and r not in trained]}

    @cached_property
    def llm(self) -> pd.DataFrame:
        """The LLM evaluation with `train_seed` and `run` on every row (a table of older code has one
        run per policy: train_seed 0, run = policy)."""
        df = self.read(self.paths.llm_evaluation, "LLM evaluation").copy()
        if "policy" not in df:
            df["policy"] = df["method"]
        if "train_seed" not in df:
            df["train_seed"] = np.where(df["method"].isin(POLICY_METHODS) & (df["policy"] != BASE_POLICY), 0, np.nan)
        if "run" not in df:
            df["run"] = df["policy"]
        return df

    @property
    def has_best_known(self) -> bool:
        return self.paths.best_known.is_file()

    @cached_property
    def limit(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(best-known utility per instance, raised to any evaluated utility above it; the evaluated
        rows that raised it): every method and policy of both evaluations counts."""
        best = self.read(self.paths.best_known, "best-known utilities")
        frames = [self.read(self.paths.evaluation, "baseline evaluation")]
        if self.paths.llm_evaluation.is_file():
            frames.append(self.llm)
        return raise_to_evaluated(best, _not_refused(pd.concat(frames, ignore_index=True, sort=False)))

    @cached_property
    def method_rows(self) -> pd.DataFrame:
        """Baseline rows + the main policy family's rows, one per training seed (when the LLM evaluation
        exists); rows where a method refused the instance (e.g. `exact` at large N) are dropped. With
        best-known utilities (best_known.csv): `best_known` and `share_of_best_known` on every row."""
        frames = [self.read(self.paths.evaluation, "baseline evaluation")]
        if self.paths.llm_evaluation.is_file():
            frames.append(self.llm[self.llm["method"].isin(POLICY_METHODS) & (self.llm["policy"] == MAIN_RUN)])
        rows = _not_refused(pd.concat(frames, ignore_index=True, sort=False))
        return with_share(rows, self.limit[0]) if self.has_best_known else rows

    @cached_property
    def classical_rows(self) -> pd.DataFrame:
        """Every row of a hand-written method (CLASSICAL_METHODS): the baseline evaluation, plus the
        reference rows an LLM evaluation of older code carried on runs the baseline evaluation lacks."""
        frames = [self.read(self.paths.evaluation, "baseline evaluation")]
        if self.paths.llm_evaluation.is_file():
            frames.append(self.llm)
        rows = _not_refused(pd.concat(frames, ignore_index=True, sort=False))
        rows = rows[rows["method"].isin(CLASSICAL_METHODS)]
        return rows.drop_duplicates([*KEY, "method"], keep="first")

    @cached_property
    def budget_s(self) -> float:
        """The fixed budget of figures a, c, g, h and the table: figures.budget_s, else the largest
        budget every method ran."""
        df = self.method_rows
        if df.empty:
            raise MissingResults("no evaluation rows to choose the figures' budget from")
        if self.settings.budget_s is not None and not _close(df["budget_s"], self.settings.budget_s).any():
            raise MissingResults(f"no rows at figures.budget_s = {self.settings.budget_s}")
        budget = fixed_budget_s(self.settings.budget_s, {m: g["budget_s"].unique() for m, g in df.groupby("method")})
        close = df["budget_s"].to_numpy(dtype=float)[np.isclose(df["budget_s"].to_numpy(dtype=float), budget)]
        return float(close[0]) if len(close) else budget

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
    def rl_logs(self) -> pd.DataFrame:
        """The per-episode training logs of the RL baselines (every rl-<algorithm>-s<seed>.csv)."""
        files = sorted((self.paths.results / "training").glob("rl-*-s*.csv"))
        frames = [pd.read_csv(f) for f in files if f.stat().st_size > 0]
        frames = [f for f in frames if not f.empty]
        if not frames:
            raise MissingResults(f"no RL training log (rl-<algorithm>-s<seed>.csv) in {self.paths.results / 'training'}")
        return pd.concat(frames, ignore_index=True, sort=False)

    @cached_property
    def prompt_length(self) -> pd.DataFrame:
        return self.read(self.paths.prompt_length, "prompt-length study")


# ====================================================================== training seeds of a policy
def seed_mean(rows: pd.DataFrame, value: str) -> pd.DataFrame:
    """One row per run of a method on an instance (instance, seed, budget, method) with `value`
    averaged over the policy's training seeds (every other method has one row there already)."""
    keys = [c for c in [*KEY, "method", "N", "K", "regime", "policy"] if c in rows]
    return rows.groupby(keys, as_index=False, dropna=False)[value].mean()


def seed_spread(rows: pd.DataFrame, by: list[str], value: str) -> pd.DataFrame:
    """The spread of a policy over its training seeds: per group `by` and method, the lowest and
    highest per-seed mean of `value` (columns by..., method, low, high, seeds); only methods with
    several training seeds."""
    if "train_seed" not in rows:
        return pd.DataFrame(columns=[*by, "method", "low", "high", "seeds"])
    pol = rows[rows["train_seed"].notna()]
    per_seed = pol.groupby([*by, "method", "train_seed"])[value].mean().reset_index()
    out = per_seed.groupby([*by, "method"])[value].agg(low="min", high="max", seeds="count").reset_index()
    return out[out["seeds"] > 1].reset_index(drop=True)


def training_seeds(rows: pd.DataFrame, method: str = "lsa-code") -> int:
    """How many training seeds `method`'s rows hold (0: none of its rows)."""
    sub = rows[rows["method"] == method]
    if sub.empty:
        return 0
    return int(sub["train_seed"].nunique()) if "train_seed" in sub and sub["train_seed"].notna().any() else 1


def at_budget(rows: pd.DataFrame, budget_s: float) -> pd.DataFrame:
    return rows[_close(rows["budget_s"], budget_s)]


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


# ====================================================================== the RL baselines' training
def rl_curves(res: Results, window: int) -> pd.DataFrame:
    """Per algorithm and training seed: the episode return relative to greedy's utility on the same
    instance, against environment steps (columns algorithm, seed, timesteps, raw, smooth)."""
    log = res.rl_logs
    frames = []
    for (algorithm, seed), g in log.groupby(["algorithm", "seed"], sort=True):
        d = g.sort_values("timesteps")
        w = max(1, min(window, len(d) // 3 or 1))
        raw = d["reward_vs_greedy"].astype(float)
        frames.append(pd.DataFrame({"algorithm": algorithm, "seed": int(seed), "timesteps": d["timesteps"].to_numpy(),
                                    "raw": raw.to_numpy(),
                                    "smooth": raw.rolling(w, min_periods=1, center=True).mean().to_numpy()}))
    return pd.concat(frames, ignore_index=True)


__all__ = ["Results", "FigureSettings", "MissingResults", "summarise", "seed_mean", "seed_spread", "training_seeds",
           "at_budget", "smoothed", "window_mean", "prompt_tokens", "rl_curves", "CLASSICAL_METHODS",
           "LEARNED_METHODS", "POLICY_METHODS", "DIRECT_RUNS", "MAIN_RUN", "BASE_POLICY"]
