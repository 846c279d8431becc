"""One drawing function per figure: each takes a `Results` (and its settings), asks `data` for the
numbers and returns a matplotlib figure; saving is the registry's job (`lsa.workflow.figures`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

import lsa.workflow.figures.data as data
from lsa.workflow.figures.data import DIRECT_RUNS, MAIN_RUN, Results
from lsa.workflow.figures.style import (
    METHOD_ORDER,
    N_LABEL,
    SHORT_NAMES,
    UTILITY_LABEL,
    errorbar_line,
    legend_below,
    log_axis,
    method_style,
    style_of,
)

#: legend labels of the GRPO runs in figures d and e
RUN_LABELS = {"main": "G=8, λ=(1,1,1) (baseline)", "G4": "G=4", "lambda-struct2": "λ1=2 (R_struct)",
              "lambda-perf2": "λ2=2 (R_perf)", "lambda-depth2": "λ3=2 (R_depth)"}
COLD_START_LABELS = {MAIN_RUN: "code (GRPO)", "direct-cold": "direct (GRPO, no SFT)",
                     "direct-sft": "direct (SFT + GRPO)"}
RATIO_LABEL = "U / U(strongest classical) [ratio]"


def _subplots(rows: int, cols: int, width: float, height: float, **kw):
    import matplotlib.pyplot as plt

    return plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False, **kw)


def _method_panels(axes_row, summary: pd.DataFrame, x: str, log_y: bool = False) -> None:
    """One panel per regime, one line per method (mean ± 95 % CI against `x`). The y range follows
    the means: an interval wider than that (few seeds) runs off the panel instead of flattening it."""
    for ax, regime in zip(axes_row, data.regimes(summary)):
        sub = summary[summary["regime"] == regime]
        for method in data.ordered(sub["method"], METHOD_ORDER):
            errorbar_line(ax, sub[sub["method"] == method], x, method, method_style(method))
        low, high = float(sub["mean"].min()), float(sub["mean"].max())
        if log_y:
            ax.set_yscale("log")
            ax.set_ylim(low / 1.5, high * 1.5)
        else:
            pad = 0.15 * (high - low) or 0.1 * abs(high) or 1.0
            ax.set_ylim(low - pad, high + pad)


def fig_a_utility_vs_n(res: Results):
    """Spectral utility vs N per method at the fixed budget; bottom row: relative to greedy [%]."""
    utility, relative, budget = data.utility_vs_n(res)
    regimes = data.regimes(utility)
    fig, axes = _subplots(2 if relative is not None else 1, len(regimes), 3.6, 3.0, sharex=True)
    _method_panels(axes[0], utility, "N", log_y=True)
    if relative is not None:
        _method_panels(axes[1], relative, "N")
        for ax in axes[1]:
            ax.axhline(100, color="0.4", linewidth=0.8)
        axes[1, 0].set_ylabel("utility relative to greedy [%]")
    for j, regime in enumerate(regimes):
        axes[0, j].set_title(regime)
        for ax in axes[:, j]:
            log_axis(ax, "x", utility["N"].unique())
        log_axis(axes[0, j], "y")
        axes[-1, j].set_xlabel(N_LABEL)
    axes[0, 0].set_ylabel("spectral utility U\n[bit/s/Hz] (log scale)")
    fig.align_ylabels(axes[:, 0])
    fig.suptitle(f"(a) Spectral utility vs network size at a {budget:g} s budget (mean ± 95 % CI)", y=1.0)
    legend_below(fig, axes)
    return fig


def fig_b_anytime(res: Results):
    """Anytime curves: utility vs wall-clock budget at one N, one panel per density regime."""
    summary, n = data.anytime(res)
    regimes = data.regimes(summary)
    fig, axes = _subplots(1, len(regimes), 3.6, 3.4)
    _method_panels(axes[0], summary, "budget_s")
    for ax, regime in zip(axes[0], regimes):
        log_axis(ax, "x", summary["budget_s"].unique())
        ax.set_title(regime)
        ax.set_xlabel("time budget T [s] (log scale)")
    axes[0, 0].set_ylabel(UTILITY_LABEL)
    budgets = ", ".join(f"{b:g}" for b in sorted(summary["budget_s"].unique()))
    fig.suptitle(f"(b) Anytime behaviour at N = {n} links (budgets {budgets} s; mean ± 95 % CI)", y=1.0)
    legend_below(fig, axes)
    return fig


def fig_c_exact_share(res: Results):
    """Share of the best known utility per method at N <= exact_max_n, one bar per budget."""
    summary, proven, instances = data.exact_share_summary(res)
    methods = data.ordered(summary["method"], METHOD_ORDER)
    budgets = sorted(summary["budget_s"].unique())
    fig, axes = _subplots(1, 1, max(5.0, 0.75 * len(methods) * max(1, len(budgets)) + 1.5), 3.8)
    ax = axes[0, 0]
    width = 0.8 / len(budgets)
    greys = [str(g) for g in np.linspace(0.25, 0.85, len(budgets))]
    hatches = ["", "//", "..", "xx", "\\\\", "--"]
    for b, budget in enumerate(budgets):
        d = summary[np.isclose(summary["budget_s"], budget)].set_index("method").reindex(methods)
        x = np.arange(len(methods)) + (b - (len(budgets) - 1) / 2) * width
        err = np.nan_to_num(np.vstack([d["mean"] - d["low"], d["high"] - d["mean"]]))
        ax.bar(x, d["mean"], width, yerr=err, capsize=2, label=f"T = {budget:g} s", color=greys[b],
               edgecolor="black", hatch=hatches[b % len(hatches)])
    ax.axhline(100, color="black", linewidth=0.8, linestyle="--")
    ax.set_xticks(np.arange(len(methods)), methods, rotation=30, ha="right")
    ax.set_ylabel("share of best known utility [%]")
    ax.set_xlabel("method")
    low = float(np.nanmin(summary["low"])) if len(summary) else 0.0
    ax.set_ylim(max(0.0, min(90.0, low - 5)), 104)
    # the legend sits above the axes, never over a bar
    ax.legend(title="budget", loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(budgets), frameon=False)
    fig.suptitle(f"(c) Share of the best known utility at N ≤ {res.settings.exact_max_n} (mean ± 95 % CI; "
                 f"exact optimum proven on {proven} of {instances} instances)", y=1.0, fontsize=10)
    fig.tight_layout()
    return fig


def _training_panels(res: Results, runs: list[str], labels: dict, panels: list[tuple[str, str]], title: str):
    logs = res.training_logs(runs)
    fig, axes = _subplots(1, len(panels), 3.5, 3.4)
    fig.suptitle(title, y=1.0)
    window = res.settings.smoothing_steps
    for ax, (column, ylabel) in zip(axes[0], panels):
        for run in runs:
            log = logs[logs["run"] == run]
            if log.empty or column not in log or log[column].isna().all():
                continue
            curve, style = data.smoothed(log, column, window), style_of(run, runs)
            ax.plot(curve["step"], curve["raw"], color=style["color"], alpha=0.18, linewidth=0.8)
            ax.plot(curve["step"], curve["smooth"], label=labels.get(run, run),
                    markevery=max(1, len(curve) // 8), **style)
        ax.set_xlabel("GRPO step")
        ax.set_ylabel(ylabel)
    legend_below(fig, axes)
    return fig, axes


def fig_d_grpo_dynamics(res: Results):
    """Total reward and its three components over GRPO steps for main + the Fig. 2 ablations."""
    panels = [("reward", "total reward R [dimensionless]"), ("r_struct", "R_struct [0–1]"),
              ("r_perf", "R_perf [dimensionless]"), ("r_depth", "R_depth [−1–0]")]
    fig, _ = _training_panels(res, res.dynamics_runs, RUN_LABELS, panels,
                              f"(d) GRPO training dynamics (rolling mean over {res.settings.smoothing_steps} steps; "
                              "raw values faint)")
    return fig


def fig_e_cold_start(res: Results):
    """Valid-output share, R_perf and reward over GRPO steps: code vs direct vs SFT + direct."""
    panels = [("valid_share", "valid outputs [share of completions]"), ("r_perf", "R_perf [dimensionless]"),
              ("reward", "total reward R [dimensionless]")]
    fig, axes = _training_panels(res, [MAIN_RUN, *DIRECT_RUNS], COLD_START_LABELS, panels,
                                 "(e) Cold start: code-driven vs direct paradigm, with and without SFT")
    axes[0, 0].set_ylim(-0.03, 1.03)
    return fig


def fig_f_prompt_tokens(res: Results):
    """Prompt length vs N: hierarchical (token budget) vs naive full serialization."""
    summary, budget, tokenizer = data.prompt_tokens(res)
    fig, axes = _subplots(1, 1, 5.2, 3.6)
    ax = axes[0, 0]
    order = ["hierarchical", "naive"]
    for name in data.ordered(summary["serializer"], order):
        errorbar_line(ax, summary[summary["serializer"] == name], "N", name, style_of(name, order))
    ax.axhline(budget, color="black", linestyle=":", linewidth=1.0, label=f"token budget ({budget:g})")
    log_axis(ax, "x", summary["N"].unique())
    log_axis(ax, "y")
    ax.set_xlabel(N_LABEL)
    ax.set_ylabel("prompt length [tokens] (log scale)")
    ax.set_title("(f) Prompt length vs network size")
    ax.legend(title=f"tokenizer: {tokenizer}", fontsize=8, title_fontsize=8)
    fig.tight_layout()
    return fig


def fig_g_generalisation(res: Results):
    """Base vs GRPO policy: utility relative to the strongest classical method of each cell vs N per
    density; the training range of N is shaded, trained / held-out densities are named in the titles,
    and each N's tick names its strongest classical method."""
    summary, strongest, train = data.generalisation(res)
    regimes = data.regimes(summary)
    labels = {"base": "base model (before GRPO)", MAIN_RUN: "GRPO policy"}
    fig, axes = _subplots(1, len(regimes), 4.0, 3.6, sharey=True)
    for ax, regime in zip(axes[0], regimes):
        sub = summary[summary["regime"] == regime]
        for name in ["base", MAIN_RUN]:
            errorbar_line(ax, sub[sub["policy"] == name], "N", labels[name], style_of(name, ["base", MAIN_RUN]))
        if train["train_n_max"]:
            ax.axvspan(min(float(summary["N"].min()), train["train_n_max"]) * 0.8, train["train_n_max"], color="0.88",
                       zorder=0, label=f"training sizes (N ≤ {train['train_n_max']:g})")
        ax.axhline(1.0, color="black", linestyle=":", linewidth=0.9, label="strongest classical method (= 1)")
        ticks = strongest[strongest["regime"] == regime].sort_values("N")
        log_axis(ax, "x", ticks["N"], [f"{n:g}\n{SHORT_NAMES.get(m, m)}" for n, m in zip(ticks["N"], ticks["strongest"])])
        ax.tick_params(axis="x", labelsize=8)
        ax.set_xlabel(N_LABEL + "\nand the strongest classical method there")
        kind = "" if not train["train_regimes"] else " (trained)" if regime in train["train_regimes"] else " (held out)"
        ax.set_title(regime + kind)
    axes[0, 0].set_ylabel(RATIO_LABEL)
    fig.suptitle(f"(g) Generalisation to larger networks and other densities, T = {res.budget_s:g} s "
                 "(mean ± 95 % CI)", y=1.0)
    legend_below(fig, axes, ncol=4)
    return fig


def fig_h_model_size(res: Results):
    """Utility relative to the strongest classical method vs parameter count, one line per N; the
    x ticks name each model size once."""
    summary = data.model_size(res)
    fig, axes = _subplots(1, 1, 5.6, 3.8)
    ax = axes[0, 0]
    grpo = summary[summary["kind"] == "GRPO policy"]
    ns = sorted(summary["N"].unique())
    order = [f"N = {n:g}" for n in ns]
    for n in ns:
        errorbar_line(ax, grpo[grpo["N"] == n], "n_params", f"N = {n:g}", style_of(f"N = {n:g}", order))
    base = summary[summary["kind"] != "GRPO policy"]
    for n in ns:
        d = base[base["N"] == n]
        if len(d):
            ax.plot(d["n_params"], d["mean"], linestyle="none", marker="x", color="0.3", markersize=7,
                    label="base model (before GRPO)")
    ax.axhline(1.0, color="black", linestyle=":", linewidth=0.9, label="strongest classical method (= 1)")
    sizes = summary.drop_duplicates("n_params").sort_values("n_params")
    log_axis(ax, "x", sizes["n_params"], [f"{s}\n{p / 1e6:.2f} M" for s, p in zip(sizes["model_size"], sizes["n_params"])])
    span = np.log10(sizes["n_params"].max() / sizes["n_params"].min()) if len(sizes) > 1 else 1.0
    ax.set_xlim(sizes["n_params"].min() / 10 ** (0.15 * span), sizes["n_params"].max() * 10 ** (0.15 * span))
    ax.set_xlabel("model size and parameters [count] (log scale)")
    ax.set_ylabel(RATIO_LABEL)
    ax.set_title(f"(h) Model-size scaling of the GRPO policy, T = {res.budget_s:g} s (mean ± 95 % CI)", fontsize=10)
    handles = dict(zip(*reversed(ax.get_legend_handles_labels())))
    ax.legend(list(handles.values()), list(handles), fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return fig


def fig_report(table: pd.DataFrame):
    """The reproduction report: per claim, the reference and the reproduced number with 95 % CIs,
    the shape threshold (dashed) where it is a fixed value, and whether the shape holds in each."""
    claims = table.reset_index(drop=True)
    cols = 4
    rows = -(-len(claims) // cols)
    fig, axes = _subplots(rows, cols, 3.0, 2.3)
    for ax, claim in zip(axes.ravel(), claims.itertuples()):
        for i, (who, marker, colour) in enumerate((("reference", "o", "0.55"), ("reproduced", "s", "black"))):
            value, low, high = (getattr(claim, f"{who}_{k}") for k in ("value", "low", "high"))
            holds = getattr(claim, f"{who}_holds")
            if not np.isfinite(value):
                ax.text(i, 0.5, "n/a", ha="center", va="center", transform=ax.get_xaxis_transform(), color=colour)
                continue
            err = [[max(0.0, value - low)], [max(0.0, high - value)]] if np.isfinite(low) else None
            ax.errorbar([i], [value], yerr=err, marker=marker, color=colour, capsize=3, markersize=6,
                        markerfacecolor="white" if holds is False else colour)
            compared = getattr(claim, f"{who}_compared_with")
            if np.isfinite(compared):  # what the shape test compares with in this run
                ax.hlines(compared, i - 0.3, i + 0.3, colors=colour, linestyles="dotted", linewidth=1.5)
        if claim.threshold is not None and np.isfinite(claim.threshold):
            ax.axhline(claim.threshold, color="black", linestyle="--", linewidth=0.8)
        ax.set_xlim(-0.6, 1.6)
        verdicts = ["holds" if h is True else "fails" if h is False else "n/a"
                    for h in (claim.reference_holds, claim.reproduced_holds)]
        ax.set_xticks([0, 1], [f"reference\n{verdicts[0]}", f"reproduced\n{verdicts[1]}"], fontsize=8)
        ax.set_title(claim.id, fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
        ax.set_ylabel(claim.unit, fontsize=7)
    for ax in axes.ravel()[len(claims):]:
        ax.set_visible(False)
    fig.suptitle("Reproduction report: each claim's number, reference vs reproduced (95 % CI; open marker: the "
                 "shape does not hold; dashed: the shape's threshold; dotted: the run's own value it is compared with)", y=1.0, fontsize=9)
    fig.tight_layout()
    return fig
