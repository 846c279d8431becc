"""Every figure and table of the paper artifact, rendered from the tidy files in results/ alone.

One shared style (seaborn, readable in greyscale: each method/run has its own marker and line
style; units on axes). `lsa figures --results DIR --figures DIR` re-renders everything, skipping
figures whose results file is missing.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from lsa.workflow.paths import (
    DIRECT_RUNS,
    FIGURES,
    MAIN_RUN,
    RUN_LABELS,
    TABLE,
    Paths,
    load_stage_config,
)


class MissingResults(Exception):
    """A figure's results file is absent (or holds no usable rows): the figure is skipped."""


# ====================================================================== settings
@dataclass(frozen=True)
class FigureSettings:
    """The `figures:` section of a profile (copied to results/config/figures.yaml by the workflow)."""

    budget_s: float | None = None
    """Fixed budget of figure a, c and the table (None: the largest budget every method ran)."""
    anytime_n: int | None = None
    """N of the anytime figure b (None: the largest N evaluated at several budgets; paper: 2000)."""
    exact_max_n: int = 20
    """Figure c uses instances with N <= this (where `exact` runs)."""
    table_n: int | None = None
    """N of the throughput table (None: the largest N evaluated)."""
    smoothing_steps: int = 10
    """Rolling-mean window (steps) of the training curves d and e (raw values drawn faintly)."""
    dpi: int = 200
    """Resolution of the PNG files."""


def load_settings(results_dir: str | Path) -> tuple[FigureSettings, dict]:
    """Figure settings and workflow facts (GRPO run list) stored with the results, else defaults."""
    path = Paths(Path(results_dir), Path(".")).stage_config("figures")
    stored = load_stage_config(path) if path.is_file() else {}
    values = {k: v for k, v in (stored.get("figures") or {}).items() if k in {f.name for f in fields(FigureSettings)}}
    return FigureSettings(**values), stored


# ====================================================================== shared style
METHOD_ORDER = ["random", "greedy", "local-search", "exact", "km", "km-partitioned", "pulp-partitioned", "de",
                "lsa-direct", "lsa-code"]
_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p"]
_DASHES = ["-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)), (0, (1, 1)), (0, (5, 3, 1, 3))]
UTILITY_LABEL = "spectral utility U [bit/s/Hz]"


def apply_style():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import seaborn as sns

    sns.set_theme(context="paper", style="whitegrid", palette="colorblind", font_scale=1.05,
                  rc={"lines.linewidth": 1.6, "lines.markersize": 6, "legend.frameon": True,
                      "pdf.fonttype": 42, "savefig.bbox": "tight", "axes.titleweight": "bold"})


def style_of(name: str, order: list[str]) -> dict:
    """Color, marker and line style of a series: markers and dashes make it readable in greyscale."""
    import seaborn as sns

    i = order.index(name) if name in order else len(order) + abs(hash(name)) % 7
    palette = sns.color_palette("colorblind", 10)
    return {"color": palette[i % 10], "marker": _MARKERS[i % len(_MARKERS)], "linestyle": _DASHES[i % len(_DASHES)]}


def _methods_in(df: pd.DataFrame) -> list[str]:
    present = list(dict.fromkeys(df["method"]))
    return [m for m in METHOD_ORDER if m in present] + [m for m in present if m not in METHOD_ORDER]


def _save(fig, paths: Paths, name: str, settings: FigureSettings) -> list[Path]:
    import matplotlib.pyplot as plt

    paths.figures.mkdir(parents=True, exist_ok=True)
    out = []
    for ext in ("pdf", "png"):
        target = paths.figure(name, ext)
        tmp = target.with_name(f".{target.stem}.tmp.{ext}")
        fig.savefig(tmp, dpi=settings.dpi, metadata=None if ext == "png" else {"CreationDate": None})
        tmp.replace(target)
        out.append(target)
    plt.close(fig)
    return out


def _read(path: Path, what: str) -> pd.DataFrame:
    if not Path(path).is_file():
        raise MissingResults(f"{what} not found: {path}")
    df = pd.read_csv(path)
    if df.empty:
        raise MissingResults(f"{what} is empty: {path}")
    return df


def _mean_ci(series: pd.Series) -> tuple[float, float]:
    """Mean and 95 % normal-approximation half-width (0 for a single value)."""
    x = series.dropna().to_numpy(dtype=float)
    if len(x) == 0:
        return np.nan, np.nan
    half = 1.96 * x.std(ddof=1) / np.sqrt(len(x)) if len(x) > 1 else 0.0
    return float(x.mean()), float(half)


def _line(ax, x, y, err, label, style):
    ax.errorbar(x, y, yerr=err, label=label, capsize=2, **style)


def _method_curve(ax, rows: pd.DataFrame, x: str, method: str):
    """Mean utility ± 95 % CI of one method's rows against column `x`."""
    stats = rows.groupby(x)["utility"].apply(_mean_ci)
    _line(ax, stats.index.to_numpy(), [s[0] for s in stats], [s[1] for s in stats], method,
          style_of(method, METHOD_ORDER))


def _log_axis(ax, axis: str, ticks=None):
    """Log scale with plain-number labels: major ticks at the data values (e.g. the N evaluated)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    getattr(ax, f"set_{axis}scale")("log")
    target = ax.xaxis if axis == "x" else ax.yaxis
    if ticks is not None and len(ticks):
        getattr(ax, f"set_{axis}ticks")(sorted(set(float(t) for t in ticks)))
    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    target.set_minor_formatter(NullFormatter())


# ====================================================================== evaluation data
def load_method_rows(paths: Paths) -> pd.DataFrame:
    """Baseline rows + the main trained policy's lsa-code rows (when the LLM evaluation exists);
    rows where a method refused the instance (e.g. `exact` at large N) are dropped."""
    df = _read(paths.evaluation, "baseline evaluation")
    frames = [df]
    if paths.llm_evaluation.is_file():
        llm = pd.read_csv(paths.llm_evaluation)
        if "policy" in llm:
            frames.append(llm[(llm["method"].isin(["lsa-code", "lsa-direct"])) & (llm["policy"] == MAIN_RUN)])
    rows = pd.concat(frames, ignore_index=True, sort=False)
    if "refused" in rows:
        rows = rows[rows["refused"].isna() | (rows["refused"].astype(str).str.len() == 0)]
    return rows


def _fixed_budget(df: pd.DataFrame, settings: FigureSettings) -> float:
    if settings.budget_s is not None:
        if not np.isclose(df["budget_s"], settings.budget_s).any():
            raise MissingResults(f"no rows at figures.budget_s = {settings.budget_s}")
        return float(settings.budget_s)
    common = set(df["budget_s"].unique())
    for _, g in df.groupby("method"):
        common &= set(g["budget_s"].unique())
    return float(max(common) if common else df["budget_s"].max())


def _regimes(df: pd.DataFrame) -> list[str]:
    order = ["sparse", "dense", "ultra-dense"]
    present = list(dict.fromkeys(df["regime"]))
    return [r for r in order if r in present] + [r for r in present if r not in order]


def _legend_below(fig, axes):
    handles = {}
    for ax in np.atleast_1d(axes).ravel():
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=min(5, len(handles)),
               bbox_to_anchor=(0.5, -0.02), frameon=True)
    fig.tight_layout(rect=(0, 0.1 if len(handles) > 5 else 0.07, 1, 1))


# ====================================================================== figure a
def fig_a_utility_vs_n(paths: Paths, settings: FigureSettings) -> list[Path]:
    """Spectral utility vs N per method at a fixed budget; bottom row: relative to greedy."""
    import matplotlib.pyplot as plt

    df = load_method_rows(paths)
    budget = _fixed_budget(df, settings)
    df = df[np.isclose(df["budget_s"], budget)]
    regimes, methods = _regimes(df), _methods_in(df)
    has_ref = "greedy" in methods
    fig, axes = plt.subplots(2 if has_ref else 1, len(regimes), figsize=(3.6 * len(regimes), 5.6 if has_ref else 3.2),
                             squeeze=False, sharex=True)
    ref = df[df["method"] == "greedy"].set_index(["instance", "seed"])["utility"] if has_ref else None
    for j, regime in enumerate(regimes):
        sub = df[df["regime"] == regime]
        for method in methods:
            m = sub[sub["method"] == method]
            if m.empty:
                continue
            _method_curve(axes[0, j], m, "N", method)
            if has_ref:
                ratio = m.set_index(["instance", "seed"])["utility"] / ref.reindex(m.set_index(["instance", "seed"]).index)
                rs = pd.Series(ratio.to_numpy(), index=m["N"].to_numpy()).groupby(level=0).apply(_mean_ci)
                _line(axes[1, j], rs.index.to_numpy(), [100 * s[0] for s in rs], [100 * s[1] for s in rs], method,
                      style_of(method, METHOD_ORDER))
        axes[0, j].set_title(f"{regime}")
        for ax in axes[:, j]:
            _log_axis(ax, "x", sub["N"].unique())
        _log_axis(axes[0, j], "y")
        axes[0, 0].set_ylabel(UTILITY_LABEL)
        axes[-1, j].set_xlabel("number of links N [links] (log scale)")
        if has_ref:
            axes[1, j].axhline(100, color="0.4", linewidth=0.8)
            axes[1, 0].set_ylabel("utility relative to greedy [%]")
    fig.suptitle(f"(a) Spectral utility vs network size at a {budget:g} s budget", y=1.0)
    _legend_below(fig, axes)
    return _save(fig, paths, "fig_a_utility_vs_n", settings)


# ====================================================================== figure b
def fig_b_anytime(paths: Paths, settings: FigureSettings) -> list[Path]:
    """Utility vs wall-clock budget at one N (anytime curves), one panel per density regime."""
    import matplotlib.pyplot as plt

    df = load_method_rows(paths)
    if settings.anytime_n is not None:
        n = int(settings.anytime_n)
    else:
        multi = df.groupby("N")["budget_s"].nunique()
        n = int(multi[multi > 1].index.max() if (multi > 1).any() else df["N"].max())
    df = df[df["N"] == n]
    if df.empty:
        raise MissingResults(f"no evaluation rows at N = {n} (figures.anytime_n)")
    regimes, methods = _regimes(df), _methods_in(df)
    fig, axes = plt.subplots(1, len(regimes), figsize=(3.6 * len(regimes), 3.4), squeeze=False)
    for j, regime in enumerate(regimes):
        sub = df[df["regime"] == regime]
        for method in methods:
            m = sub[sub["method"] == method]
            if m.empty:
                continue
            _method_curve(axes[0, j], m, "budget_s", method)
        _log_axis(axes[0, j], "x", sub["budget_s"].unique())
        axes[0, j].set_title(regime)
        axes[0, j].set_xlabel("time budget T [s] (log scale)")
    axes[0, 0].set_ylabel(UTILITY_LABEL)
    fig.suptitle(f"(b) Anytime behaviour at N = {n} links", y=1.0)
    _legend_below(fig, axes)
    return _save(fig, paths, "fig_b_anytime", settings)


# ====================================================================== figure c
def exact_share(df: pd.DataFrame, max_n: int) -> pd.DataFrame:
    """Per instance, seed and budget: each method's utility as a share of the reference (N <= max_n).

    The reference of an instance is the best utility any method reached on it at any budget;
    `exact` is among them, and where it proved optimality (`optimal` column) the reference is the
    optimum (`reference_optimal` True). Under a short budget `exact` may stop before proving it,
    so a bare `exact` row is not assumed optimal."""
    small = df[df["N"] <= max_n].copy()
    if small[small["method"] == "exact"].empty:
        raise MissingResults(f"no `exact` rows at N <= {max_n}")
    key = ["instance", "seed"]
    reference = small.groupby(key)["utility"].max().rename("reference")
    exact = small[small["method"] == "exact"]
    proven = (exact.groupby(key)["optimal"].apply(lambda s: bool(s.fillna(False).astype(bool).any()))
              if "optimal" in exact else exact.groupby(key)["utility"].apply(lambda s: False))
    other = small[small["method"] != "exact"].join(reference, on=key)
    other["reference_optimal"] = proven.reindex(pd.MultiIndex.from_frame(other[key])).fillna(False).to_numpy()
    other["share"] = other["utility"] / other["reference"]
    return other.dropna(subset=["share"])


def fig_c_exact_share(paths: Paths, settings: FigureSettings) -> list[Path]:
    """Share of the exact optimum per method at N <= exact_max_n, one bar group per budget."""
    import matplotlib.pyplot as plt

    shares = exact_share(load_method_rows(paths), settings.exact_max_n)
    methods = _methods_in(shares)
    budgets = sorted(shares["budget_s"].unique())
    fig, ax = plt.subplots(figsize=(max(5.0, 0.75 * len(methods) * max(1, len(budgets)) + 1.5), 3.6))
    width = 0.8 / len(budgets)
    greys = [str(g) for g in np.linspace(0.25, 0.8, len(budgets))]
    hatches = ["", "//", "..", "xx", "\\\\", "--"]
    for b, budget in enumerate(budgets):
        stats = [_mean_ci(shares[(shares["method"] == m) & (shares["budget_s"] == budget)]["share"] * 100) for m in methods]
        x = np.arange(len(methods)) + (b - (len(budgets) - 1) / 2) * width
        ax.bar(x, [s[0] for s in stats], width, yerr=[s[1] for s in stats], capsize=2, label=f"T = {budget:g} s",
               color=greys[b], edgecolor="black", hatch=hatches[b % len(hatches)])
    ax.axhline(100, color="black", linewidth=0.8, linestyle="--")
    ax.set_xticks(np.arange(len(methods)), methods, rotation=30, ha="right")
    ax.set_ylabel("share of best known utility [%]")
    ax.set_xlabel("method")
    lo = np.nanmin(shares["share"]) * 100 if len(shares) else 0
    ax.set_ylim(max(0.0, min(90.0, lo - 5)), 102)
    ax.legend(title="budget", loc="lower right")
    n_inst = shares.groupby(["instance", "seed"])["reference_optimal"].first()
    ax.set_title(f"(c) Share of the best known utility at N ≤ {settings.exact_max_n}\n"
                 f"(exact optimum proven on {int(n_inst.sum())} of {len(n_inst)} instances)", fontsize=9)
    fig.tight_layout()
    return _save(fig, paths, "fig_c_exact_share", settings)


# ====================================================================== training logs
def load_training_logs(paths: Paths, runs: list[str]) -> pd.DataFrame:
    """The tidy per-step GRPO logs of `runs` with a `run` column; missing runs are reported, and
    the figure is skipped only when none exists."""
    frames, missing = [], []
    for run in runs:
        path = paths.grpo_log(run)
        if path.is_file() and path.stat().st_size > 0:
            df = pd.read_csv(path)
            if not df.empty:
                frames.append(df.assign(run=run))
                continue
        missing.append(str(path))
    if not frames:
        raise MissingResults("no GRPO training log found: " + ", ".join(missing))
    if missing:
        print(f"  note: missing GRPO logs (drawn without them): {', '.join(missing)}", file=sys.stderr)
    return pd.concat(frames, ignore_index=True, sort=False)


def _smooth_plot(ax, df: pd.DataFrame, column: str, label: str, style: dict, window: int):
    d = df.dropna(subset=[column]).sort_values("step")
    if d.empty:
        return
    y = d[column].astype(float)
    w = max(1, min(window, len(d) // 3 or 1))
    smooth = y.rolling(w, min_periods=1, center=True).mean()
    ax.plot(d["step"], y, color=style["color"], alpha=0.18, linewidth=0.8)
    every = max(1, len(d) // 8)
    ax.plot(d["step"], smooth, label=label, markevery=every, **style)


def fig_d_grpo_dynamics(paths: Paths, settings: FigureSettings, runs: list[str] | None = None,
                        labels: dict | None = None) -> list[Path]:
    """Total reward and its three components over GRPO steps for main + the Fig. 2 ablations."""
    import matplotlib.pyplot as plt

    runs = list(runs or RUN_LABELS)
    labels = {**RUN_LABELS, **(labels or {})}
    logs = load_training_logs(paths, runs)
    panels = [("reward", "total reward R"), ("r_struct", "R_struct"), ("r_perf", "R_perf"), ("r_depth", "R_depth")]
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.4), squeeze=False)
    for j, (column, title) in enumerate(panels):
        ax = axes[0, j]
        for run in runs:
            d = logs[logs["run"] == run]
            if d.empty or column not in d:
                continue
            _smooth_plot(ax, d, column, labels.get(run, run), style_of(run, runs), settings.smoothing_steps)
        ax.set_title(title)
        ax.set_xlabel("GRPO step")
        ax.set_ylabel("reward [dimensionless]" if j == 0 else "component reward [0–1]")
    fig.suptitle(f"(d) GRPO training dynamics (rolling mean over {settings.smoothing_steps} steps; raw values faint)", y=1.0)
    _legend_below(fig, axes)
    return _save(fig, paths, "fig_d_grpo_dynamics", settings)


# ====================================================================== figure e
COLD_START_LABELS = {MAIN_RUN: "code (GRPO)", "direct-cold": "direct (GRPO, no SFT)",
                     "direct-sft": "direct (SFT + GRPO)"}


def fig_e_cold_start(paths: Paths, settings: FigureSettings) -> list[Path]:
    """Valid-output share and R_perf over GRPO steps: code vs direct vs SFT + direct."""
    import matplotlib.pyplot as plt

    runs = [MAIN_RUN, *DIRECT_RUNS]
    logs = load_training_logs(paths, runs)
    panels = [("valid_share", "valid outputs [share of completions]"), ("r_perf", "R_perf [0–1]"),
              ("reward", "total reward R [dimensionless]")]
    fig, axes = plt.subplots(1, len(panels), figsize=(11, 3.4), squeeze=False)
    for j, (column, ylabel) in enumerate(panels):
        ax = axes[0, j]
        for run in runs:
            d = logs[logs["run"] == run]
            if d.empty or column not in d:
                continue
            _smooth_plot(ax, d, column, COLD_START_LABELS[run], style_of(run, runs), settings.smoothing_steps)
        ax.set_xlabel("GRPO step")
        ax.set_ylabel(ylabel)
    axes[0, 0].set_ylim(-0.03, 1.03)
    fig.suptitle("(e) Cold start: code-driven vs direct paradigm, with and without SFT", y=1.0)
    _legend_below(fig, axes)
    return _save(fig, paths, "fig_e_cold_start", settings)


# ====================================================================== figure f
def fig_f_prompt_tokens(paths: Paths, settings: FigureSettings) -> list[Path]:
    """Prompt length vs N: hierarchical (token budget) vs naive full serialization."""
    import matplotlib.pyplot as plt

    df = _read(paths.prompt_length, "prompt-length study")
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    order = ["hierarchical", "naive"]
    for name in [s for s in order if s in set(df["serializer"])]:
        stats = df[df["serializer"] == name].groupby("N")["tokens"].apply(_mean_ci)
        _line(ax, stats.index.to_numpy(), [s[0] for s in stats], [s[1] for s in stats], name, style_of(name, order))
    budget = df["max_tokens"].max()
    ax.axhline(budget, color="black", linestyle=":", linewidth=1.0, label=f"token budget ({budget:g})")
    _log_axis(ax, "x", df["N"].unique())
    _log_axis(ax, "y")
    ax.set_xlabel("number of links N [links] (log scale)")
    tok = str(df["tokenizer"].iloc[0]) if "tokenizer" in df else "default"
    ax.set_ylabel("prompt length [tokens] (log scale)")
    ax.set_title("(f) Prompt length vs network size")
    ax.legend(title=f"tokenizer: {Path(tok).name}", fontsize=8, title_fontsize=8)
    fig.tight_layout()
    return _save(fig, paths, "fig_f_prompt_tokens", settings)


# ====================================================================== LLM evaluation (g, h)
def normalised_utility(llm: pd.DataFrame) -> pd.DataFrame:
    """Policy rows with `score` = (U − U_random) / (U_greedy − U_random) on the same instance, seed
    and budget (the R_perf scale: 0 = random, 1 = greedy)."""
    key = ["instance", "seed", "budget_s"]
    refs = {m: llm[llm["method"] == m].set_index(key)["utility"] for m in ("random", "greedy")}
    if any(r.empty for r in refs.values()):
        raise MissingResults("LLM evaluation has no random/greedy reference rows")
    pol = llm[llm["method"].isin(["lsa-code", "lsa-direct"])].copy()
    if pol.empty:
        raise MissingResults("LLM evaluation has no policy rows")
    idx = pd.MultiIndex.from_frame(pol[key])
    lo, hi = refs["random"].reindex(idx).to_numpy(), refs["greedy"].reindex(idx).to_numpy()
    span = np.where(np.abs(hi - lo) > 1e-9, hi - lo, np.nan)
    pol["score"] = (pol["utility"].to_numpy() - lo) / span
    return pol.dropna(subset=["score"])


def fig_g_generalisation(paths: Paths, settings: FigureSettings) -> list[Path]:
    """Base vs GRPO policy on held-out instances: normalised utility vs N per density; the training
    range of N is shaded and the trained densities are marked in the panel titles."""
    import matplotlib.pyplot as plt

    llm = _read(paths.llm_evaluation, "LLM evaluation")
    pol = normalised_utility(llm)
    pol = pol[pol["policy"].isin(["base", MAIN_RUN])]
    if pol.empty:
        raise MissingResults("LLM evaluation has no rows of the base or main policy")
    regimes = _regimes(pol)
    trained_regimes = set(str(llm["train_regimes"].dropna().iloc[0]).split(",")) if llm["train_regimes"].notna().any() else set()
    train_n_max = float(llm["train_n_max"].dropna().iloc[0]) if llm["train_n_max"].notna().any() else None
    labels = {"base": "base model (before GRPO)", MAIN_RUN: "GRPO policy"}
    fig, axes = plt.subplots(1, len(regimes), figsize=(3.6 * len(regimes), 3.4), squeeze=False, sharey=True)
    for j, regime in enumerate(regimes):
        ax = axes[0, j]
        sub = pol[pol["regime"] == regime]
        for name in ["base", MAIN_RUN]:
            d = sub[sub["policy"] == name]
            if d.empty:
                continue
            stats = d.groupby("N")["score"].apply(_mean_ci)
            _line(ax, stats.index.to_numpy(), [s[0] for s in stats], [s[1] for s in stats], labels[name],
                  style_of(name, ["base", MAIN_RUN]))
        if train_n_max:
            ax.axvspan(min(float(pol["N"].min()), train_n_max) * 0.8, train_n_max, color="0.85", zorder=0,
                       label=f"training N ≤ {train_n_max:g}")
        ax.axhline(1.0, color="black", linestyle=":", linewidth=0.8)
        ax.axhline(0.0, color="0.5", linestyle=":", linewidth=0.8)
        _log_axis(ax, "x", sub["N"].unique())
        ax.set_xlabel("number of links N [links] (log scale)")
        ax.set_title(f"{regime}" + (" (trained)" if regime in trained_regimes else " (held out)" if trained_regimes else ""))
    axes[0, 0].set_ylabel("normalised utility [0 = random, 1 = greedy]")
    fig.suptitle("(g) Generalisation to larger networks and other densities", y=1.0)
    _legend_below(fig, axes)
    return _save(fig, paths, "fig_g_generalisation", settings)


def fig_h_model_size(paths: Paths, settings: FigureSettings) -> list[Path]:
    """Normalised utility of the GRPO-trained policy vs its parameter count (one point per size)."""
    import matplotlib.pyplot as plt

    pol = normalised_utility(_read(paths.llm_evaluation, "LLM evaluation"))
    pol = pol.dropna(subset=["n_params"])
    if pol.empty:
        raise MissingResults("LLM evaluation has no policy rows with a parameter count")
    pol["kind"] = np.where(pol["policy"] == "base", "base model (before GRPO)", "GRPO policy")
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    kinds = ["base model (before GRPO)", "GRPO policy"]
    for kind in kinds:
        d = pol[pol["kind"] == kind]
        if d.empty:
            continue
        stats = d.groupby("n_params")["score"].apply(_mean_ci)
        _line(ax, stats.index.to_numpy(), [s[0] for s in stats], [s[1] for s in stats], kind, style_of(kind, kinds))
        for n_params, (mean, _) in stats.items():
            size = d[d["n_params"] == n_params]["model_size"].dropna()
            if len(size):
                ax.annotate(str(size.iloc[0]), (n_params, mean), textcoords="offset points", xytext=(5, 5), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("model parameters [count] (log scale)")
    ax.set_ylabel("normalised utility [0 = random, 1 = greedy]")
    ax.set_title("(h) Model-size scaling of the policy")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, paths, "fig_h_model_size", settings)


# ====================================================================== the table
def throughput_table(paths: Paths, settings: FigureSettings) -> tuple[pd.DataFrame, float, int]:
    """Mean aggregate throughput [Mbit/s] per method (rows) and density regime (columns) at one N
    and budget, with the 95 % half-width over seeds."""
    df = load_method_rows(paths)
    budget = _fixed_budget(df, settings)
    n = int(settings.table_n) if settings.table_n is not None else int(df["N"].max())
    df = df[np.isclose(df["budget_s"], budget) & (df["N"] == n)]
    if df.empty:
        raise MissingResults(f"no rows at N = {n}, budget {budget:g} s for the throughput table")
    rows = []
    for method in _methods_in(df):
        for regime in _regimes(df):
            d = df[(df["method"] == method) & (df["regime"] == regime)]["throughput"] / 1e6
            if d.empty:
                continue
            mean, half = _mean_ci(d)
            sel = df[(df["method"] == method) & (df["regime"] == regime)]
            fallback = int(sel["fallback_random"].astype(bool).sum()) if "fallback_random" in sel else 0
            rows.append({"method": method, "regime": regime, "N": n, "budget_s": budget,
                         "throughput_mbps": mean, "ci95_mbps": half, "runs": len(d), "random_fallbacks": fallback})
    return pd.DataFrame(rows), budget, n


def table_throughput(paths: Paths, settings: FigureSettings) -> list[Path]:
    """The table 'aggregate throughput across network densities' as CSV (tidy), Markdown and LaTeX."""
    tidy, budget, n = throughput_table(paths, settings)
    regimes = _regimes(tidy)
    # † marks cells where some runs had no incumbent by the budget and took the random assignment
    cell = {(r.method, r.regime): (f"{r.throughput_mbps:.1f} ± {r.ci95_mbps:.1f}" if r.runs > 1 else f"{r.throughput_mbps:.1f}")
            + (" †" if r.random_fallbacks else "") for r in tidy.itertuples()}
    methods = list(dict.fromkeys(tidy["method"]))
    best = tidy.loc[tidy.groupby("regime")["throughput_mbps"].idxmax()].set_index("regime")["method"].to_dict()
    caption = (f"Aggregate throughput [Mbit/s] across network densities, N = {n} links, budget T = {budget:g} s "
               f"(mean ± 95 % CI over seeds; best per density in bold"
               + ("; † some runs had no valid output by the budget and took the random assignment" if tidy["random_fallbacks"].any() else "")
               + ").")
    md = [f"*{caption}*", "", "| method | " + " | ".join(regimes) + " |", "|---|" + "---:|" * len(regimes)]
    tex = ["\\begin{table}[t]", "\\centering",
           "\\caption{" + caption.replace("%", "\\%").replace("±", "$\\pm$").replace("†", "$^\\dagger$") + "}",
           "\\label{tab:throughput}", "\\begin{tabular}{l" + "r" * len(regimes) + "}", "\\toprule",
           "method & " + " & ".join(regimes) + " \\\\", "\\midrule"]
    for m in methods:
        cells_md, cells_tex = [], []
        for r in regimes:
            c = cell.get((m, r), "–")
            bold = best.get(r) == m
            cells_md.append(f"**{c}**" if bold else c)
            ct = c.replace("±", "$\\pm$").replace("–", "--").replace("†", "$^\\dagger$")
            cells_tex.append(f"\\textbf{{{ct}}}" if bold else ct)
        md.append(f"| {m} | " + " | ".join(cells_md) + " |")
        tex.append(f"\\texttt{{{m}}} & " + " & ".join(cells_tex) + " \\\\")
    tex += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    paths.figures.mkdir(parents=True, exist_ok=True)
    out = []
    for ext, text in (("csv", None), ("md", "\n".join(md) + "\n"), ("tex", "\n".join(tex) + "\n")):
        target = paths.figure(TABLE, ext)
        tmp = target.with_name(f".{target.stem}.tmp.{ext}")
        if text is None:
            tidy.to_csv(tmp, index=False)
        else:
            tmp.write_text(text)
        tmp.replace(target)
        out.append(target)
    return out


# ====================================================================== render everything
RENDERERS = {
    "fig_a_utility_vs_n": fig_a_utility_vs_n,
    "fig_b_anytime": fig_b_anytime,
    "fig_c_exact_share": fig_c_exact_share,
    "fig_d_grpo_dynamics": fig_d_grpo_dynamics,
    "fig_e_cold_start": fig_e_cold_start,
    "fig_f_prompt_tokens": fig_f_prompt_tokens,
    "fig_g_generalisation": fig_g_generalisation,
    "fig_h_model_size": fig_h_model_size,
    TABLE: table_throughput,
}
assert set(RENDERERS) == {*FIGURES, TABLE}


def render(name: str, paths: Paths, settings: FigureSettings | None = None, stored: dict | None = None) -> list[Path]:
    """Render one figure (or the table); raises MissingResults when its inputs are absent."""
    apply_style()
    if settings is None:
        settings, stored = load_settings(paths.results)
    if name == "fig_d_grpo_dynamics":
        stored = stored or {}
        return fig_d_grpo_dynamics(paths, settings, stored.get("dynamics_runs"), stored.get("run_labels"))
    return RENDERERS[name](paths, settings)


def render_all(results_dir: str | Path = "results", figures_dir: str | Path = "figures",
               only: list[str] | None = None, strict: bool = False, log=print) -> dict[str, list[Path]]:
    """Render every figure from `results_dir` into `figures_dir`; a figure whose results are missing
    is skipped with a message (or raises when `strict`). Returns name → files written."""
    paths = Paths(Path(results_dir), Path(figures_dir))
    settings, stored = load_settings(paths.results)
    names = list(only or RENDERERS)
    unknown = [n for n in names if n not in RENDERERS]
    if unknown:
        from lsa.errors import LSAError
        raise LSAError(f"unknown figure(s) {unknown}; known: {', '.join(RENDERERS)}")
    done: dict[str, list[Path]] = {}
    for name in names:
        t0 = time.perf_counter()
        try:
            files = render(name, paths, settings, stored)
        except MissingResults as exc:
            if strict:
                raise
            log(f"skip {name}: {exc}")
            continue
        done[name] = files
        log(f"wrote {name} ({time.perf_counter() - t0:.1f} s): {', '.join(str(f) for f in files)}")
    return done


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", type=Path, default=Path("results"),
                        help="results directory of one profile (default: results, the default profile)")
    parser.add_argument("--figures", type=Path, default=Path("figures"), help="where PDF/PNG and the table go")
    parser.add_argument("--only", nargs="+", metavar="NAME", help=f"render only these ({', '.join(RENDERERS)})")
    parser.add_argument("--strict", action="store_true", help="fail (exit 1) when a figure's results are missing")


def run(args) -> int:
    from lsa.errors import LSAError

    if not args.results.is_dir():
        raise LSAError(f"results directory not found: {args.results}")
    t0 = time.perf_counter()
    try:
        done = render_all(args.results, args.figures, args.only, args.strict)
    except MissingResults as exc:
        print(f"lsa figures: {exc}", file=sys.stderr)
        return 1
    wanted = len(args.only or RENDERERS)
    print(f"rendered {len(done)}/{wanted} figures/tables into {args.figures} in {time.perf_counter() - t0:.1f} s")
    return 0
