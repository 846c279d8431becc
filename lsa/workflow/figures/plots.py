"""One drawing function per figure: each takes a `Results` (and its settings), asks `data` for the
numbers and returns a matplotlib figure; saving is the registry's job (`lsa.workflow.figures`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

import lsa.workflow.figures.data as data
import lsa.workflow.figures.evaluations as evaluations
import lsa.workflow.figures.real_llm as real_llm
from lsa.workflow.figures.data import BASE_POLICY, DIRECT_RUNS, MAIN_RUN, Results
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
SHARE_LABEL = "share of best-known U [%]"
#: the share panels show shares from this [%] up: a method further below runs off the panel (named in the caption)
SHARE_FLOOR_PCT = 80.0


def _subplots(rows: int, cols: int, width: float, height: float, **kw):
    import matplotlib.pyplot as plt

    return plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False, **kw)


def _seed_band(ax, spread: pd.DataFrame | None, x: str, seeds: int) -> None:
    """The policy's spread over its training seeds (lowest to highest per-seed mean) as a grey band."""
    if spread is None or spread.empty:
        return
    d = spread.sort_values(x)
    ax.fill_between(d[x].to_numpy(dtype=float), d["low"].to_numpy(dtype=float), d["high"].to_numpy(dtype=float),
                    color="black", alpha=0.2, linewidth=0, zorder=0,
                    label=f"lsa-code: range of its {seeds} training seeds' means")


def _method_panels(axes_row, summary: pd.DataFrame, x: str, log_y: bool = False, spread: pd.DataFrame | None = None,
                   seeds: int = 1, floor: float | None = None) -> None:
    """One panel per regime, one line per method (mean ± 95 % CI against `x`; the policy's spread over
    training seeds as a band). The y range follows the means: an interval wider than that (few seeds)
    runs off the panel instead of flattening it."""
    for ax, regime in zip(axes_row, data.regimes(summary)):
        sub = summary[summary["regime"] == regime]
        for method in data.ordered(sub["method"], METHOD_ORDER):
            errorbar_line(ax, sub[sub["method"] == method], x, method, method_style(method))
        band = None if spread is None else spread[spread["regime"] == regime]
        _seed_band(ax, band, x, seeds)
        values = [sub["mean"]] + ([] if band is None or band.empty else [band["low"], band["high"]])
        low, high = float(min(v.min() for v in values)), float(max(v.max() for v in values))
        if log_y:
            ax.set_yscale("log")
            ax.set_ylim(low / 1.5, high * 1.5)
        else:
            low = low if floor is None else max(low, floor)
            pad = 0.15 * (high - low) or 0.1 * abs(high) or 1.0
            ax.set_ylim(low - pad, high + pad)


def _share_row(axes_row, share: pd.DataFrame, spread, x: str, seeds: int) -> str:
    """The share-of-best-known panels (a line at 100 %); returns the caption's note on the methods
    whose share runs below the panel."""
    _method_panels(axes_row, share, x, spread=spread, seeds=seeds, floor=SHARE_FLOOR_PCT)
    for ax in axes_row:
        ax.axhline(100, color="black", linewidth=0.8, linestyle="--")
    below = data.ordered(share.loc[share["mean"] < SHARE_FLOOR_PCT, "method"], METHOD_ORDER)
    return (f"\nshare panels: below {SHARE_FLOOR_PCT:g} % of best-known somewhere (off the panel there): {', '.join(below)}"
            if below else "")


def _seeds_note(seeds: int) -> str:
    return f"; lsa-code: mean over {seeds} training seeds, band: their range" if seeds > 1 else ""


def fig_a_utility_vs_n(res: Results):
    """Spectral utility vs N per method at the fixed budget; bottom row: relative to greedy [%]."""
    a = evaluations.utility_vs_n(res)
    utility, relative, share = a["utility"], a["relative"], a["share"]
    regimes = data.regimes(utility)
    fig, axes = _subplots(1 + (relative is not None) + (share is not None), len(regimes), 3.6, 3.0, sharex=True)
    _method_panels(axes[0], utility, "N", log_y=True, spread=a["spread"], seeds=a["seeds"])
    if relative is not None:
        _method_panels(axes[1], relative, "N", spread=a["relative_spread"], seeds=a["seeds"])
        for ax in axes[1]:
            ax.axhline(100, color="0.4", linewidth=0.8)
        axes[1, 0].set_ylabel("utility relative to greedy [%]")
    below = ""
    if share is not None:
        below = _share_row(axes[-1], share, a["share_spread"], "N", a["seeds"])
        axes[-1, 0].set_ylabel(SHARE_LABEL)
    for j, regime in enumerate(regimes):
        axes[0, j].set_title(regime)
        for ax in axes[:, j]:
            log_axis(ax, "x", utility["N"].unique())
        log_axis(axes[0, j], "y")
        axes[-1, j].set_xlabel(N_LABEL)
    axes[0, 0].set_ylabel("spectral utility U\n[bit/s/Hz] (log scale)")
    fig.align_ylabels(axes[:, 0])
    fig.suptitle(f"(a) Spectral utility vs network size at a {a['budget_s']:g} s budget\n(mean ± 95 % CI over "
                 f"instances{_seeds_note(a['seeds'])}){below}", y=1.02)
    legend_below(fig, axes)
    return fig


def fig_b_anytime(res: Results):
    """Anytime curves: utility vs wall-clock budget at one N, one panel per density regime."""
    b = evaluations.anytime(res)
    summary, share = b["utility"], b["share"]
    regimes = data.regimes(summary)
    fig, axes = _subplots(1 if share is None else 2, len(regimes), 3.6, 3.4, sharex=True)
    _method_panels(axes[0], summary, "budget_s", spread=b["spread"], seeds=b["seeds"])
    below = ""
    if share is not None:
        below = _share_row(axes[1], share, b["share_spread"], "budget_s", b["seeds"])
        axes[1, 0].set_ylabel(SHARE_LABEL)
    for j, regime in enumerate(regimes):
        for ax in axes[:, j]:
            log_axis(ax, "x", summary["budget_s"].unique())
        axes[0, j].set_title(regime)
        axes[-1, j].set_xlabel("time budget T [s] (log scale)")
    axes[0, 0].set_ylabel(UTILITY_LABEL)
    fig.align_ylabels(axes[:, 0])
    fig.suptitle(f"(b) Anytime behaviour at N = {b['N']} links\n(mean ± 95 % CI over instances"
                 f"{_seeds_note(b['seeds'])}){below}", y=1.04 if share is None else 1.03)
    legend_below(fig, axes)
    return fig


def fig_c_exact_share(res: Results):
    """Share of the best known utility per method at N <= exact_max_n, one bar per budget."""
    summary, proven, instances = evaluations.exact_share_summary(res)
    methods = data.ordered(summary["method"], METHOD_ORDER)
    budgets = sorted(summary["budget_s"].unique())
    fig, axes = _subplots(1, 1, min(12.0, max(5.0, 0.4 * len(methods) * max(1, len(budgets)) + 2.0)), 3.8)
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
    seeds = data.training_seeds(res.method_rows)
    fig.suptitle(f"(c) Share of the best known utility at N ≤ {res.settings.exact_max_n} (mean ± 95 % CI over "
                 f"instances{f'; lsa-code: mean over {seeds} training seeds' if seeds > 1 else ''}; exact optimum "
                 f"proven on {proven} of {instances} instances)", y=1.0, fontsize=10)
    fig.tight_layout()
    return fig


def _training_panels(res: Results, runs: list[str], labels: dict, panels: list[tuple[str, str]], title: str):
    """The embedded runs' curves (top row) and, below, the real chat model's LoRA-GRPO run
    (`real_llm.lora_training_row`: its panels say so when the run is missing)."""
    logs = res.training_logs(runs)
    fig, axes = _subplots(2, len(panels), 3.5, 3.0)
    window = res.settings.smoothing_steps
    trained = real_llm.lora_training_row(axes[1], res, panels, window)
    fig.suptitle(f"{title}\ntop: embedded policy; bottom: real pretrained chat model "
                 f"({real_llm.model_name(res)}), LoRA-GRPO{'' if trained else ' — run missing'}", y=1.0)
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
    panels = [("valid_share", "valid outputs [share]"), ("r_perf", "R_perf [dimensionless]"),
              ("reward", "total reward R [dimensionless]")]
    fig, axes = _training_panels(res, [MAIN_RUN, *DIRECT_RUNS], COLD_START_LABELS, panels,
                                 "(e) Cold start: code-driven vs direct paradigm, with and without SFT")
    for ax in axes[:, 0]:
        ax.set_ylim(-0.03, 1.03)
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
    """The main policy's utility relative to the strongest classical method of each cell vs N, one
    panel per density: mean over training seeds (95 % CI over instances) with the seeds' range, the
    base model before GRPO, the training sizes shaded and the densities unseen in training named."""
    g = evaluations.generalisation(res)
    summary, train = g["summary"], g["training"]
    regimes = data.regimes(summary)
    fig, axes = _subplots(1, len(regimes), 4.0, 3.6, sharey=True)
    unseen = set(train["unseen_regimes"])
    sizes = [*summary["N"], *([train["train_n_max"]] if train["train_n_max"] else [])]
    xlim = (min(sizes) / 1.5, max(sizes) * 1.5)  # the same N range in every panel
    for ax, regime in zip(axes[0], regimes):
        sub = summary[summary["regime"] == regime]
        label = "lsa-code, GRPO policy" + (f" (mean of {g['seeds']} training seeds)" if g["seeds"] > 1 else "")
        errorbar_line(ax, sub[sub["policy"] == MAIN_RUN], "N", label, method_style("lsa-code"))
        _seed_band(ax, g["spread"][g["spread"]["regime"] == regime], "N", g["seeds"])
        base = sub[sub["policy"] == BASE_POLICY]
        if len(base):
            errorbar_line(ax, base, "N", "base model (before GRPO)",
                          {"color": "0.45", "marker": "x", "linestyle": "none", "markersize": 8})
        if train["train_n_max"]:  # light cream: apart from the grey band of the seeds, also in greyscale
            ax.axvspan(xlim[0], train["train_n_max"], color="#f6efd6", zorder=-1,
                       label=f"training sizes (N ≤ {train['train_n_max']:g})")
            ax.axvline(train["train_n_max"], color="0.3", linestyle="--", linewidth=0.9,
                       label="largest training N: larger N to its right")
        ax.axhline(1.0, color="black", linestyle=":", linewidth=0.9, label="strongest classical method (= 1)")
        ticks = g["strongest"][g["strongest"]["regime"] == regime].sort_values("N")
        log_axis(ax, "x", ticks["N"], [f"{n:g}\n{SHORT_NAMES.get(m, m)}" for n, m in zip(ticks["N"], ticks["strongest"])])
        ax.set_xlim(*xlim)
        ax.tick_params(axis="x", labelsize=8)
        ax.set_xlabel(N_LABEL + "\nand the strongest classical method there")
        kind = "" if not train["train_regimes"] else " (unseen in training)" if regime in unseen else " (trained)"
        ax.set_title(regime + kind, color="#882255" if regime in unseen else "black")
    axes[0, 0].set_ylabel(RATIO_LABEL)
    fig.suptitle(f"(g) Generalisation to larger networks and unseen densities, T = {res.budget_s:g} s "
                 "(mean ± 95 % CI over instances)", y=1.0)
    legend_below(fig, axes, ncol=3)
    return fig


def fig_h_model_size(res: Results):
    """Utility relative to the strongest classical method vs parameter count, one panel per N of the
    family grid: every training seed (hollow), their mean (95 % CI over instances), the base model."""
    summary, per_seed = evaluations.model_size(res)
    ns = sorted(summary["N"].unique())
    fig, axes = _subplots(1, len(ns), 4.2, 3.8, sharey=True)
    sizes = summary.drop_duplicates("n_params").sort_values("n_params")
    real = real_llm.real_llm_parameters(res)  # the real chat model (trained point or zero-shot note)
    extent = [*sizes["n_params"], *([real] if np.isfinite(real) else [])]
    span = np.log10(max(extent) / min(extent)) if len(extent) > 1 else 1.0
    for ax, n in zip(axes[0], ns):
        at_n = summary[summary["N"] == n]
        trained = at_n[at_n["policy"] != BASE_POLICY]
        seeds = per_seed[per_seed["N"] == n]
        for r in trained.sort_values("n_params").itertuples():
            values = seeds[seeds["policy"] == r.policy]["ratio"].to_numpy()
            if len(values) > 1:  # beside the mean, never under it
                offset = 10 ** (0.04 * span * (1 + np.arange(len(values)) / max(1, len(values) - 1)))
                ax.plot(r.n_params * offset, values, linestyle="none", marker="o", markerfacecolor="white",
                        markeredgecolor="0.3", markersize=5, label="one training seed (beside the mean)")
        errorbar_line(ax, trained, "n_params", "GRPO policy: mean over training seeds", method_style("lsa-code"))
        base = at_n[at_n["policy"] == BASE_POLICY]
        if len(base):
            errorbar_line(ax, base, "n_params", "base model (before GRPO)",
                          {"color": "0.45", "marker": "x", "linestyle": "none", "markersize": 8})
        real_llm.draw_real_llm_point(ax, res, n, res.budget_s)
        ax.axhline(1.0, color="black", linestyle=":", linewidth=0.9, label="strongest classical method (= 1)")
        ticks = [*sizes["n_params"], *([real] if np.isfinite(real) else [])]
        names = [*sizes["model_size"], *([real_llm.model_name(res)] if np.isfinite(real) else [])]
        log_axis(ax, "x", ticks, [f"{m}\n{p / 1e6:.0f}M" if p >= 1e7 else f"{m}\n{p / 1e6:.2f}M" for m, p in zip(names, ticks)])
        ax.tick_params(axis="x", labelsize=7)   # nano, micro and tiny lie within a decade: no overlap in print
        ax.set_xlim(min(extent) / 10 ** (0.15 * span), max(extent) * 10 ** (0.15 * span))
        ax.set_xlabel("model size, parameters [count] (log scale)")
        ax.set_title(f"N = {n:g}")
    axes[0, 0].set_ylabel(RATIO_LABEL)
    fig.suptitle(f"(h) Model-size scaling, every embedded size trained alike, T = {res.budget_s:g} s\n"
                 "(all densities; mean ± 95 % CI over instances; the real chat model: LoRA-GRPO, its own "
                 "settings and densities)", y=1.04, fontsize=10)
    legend_below(fig, axes, ncol=2)
    return fig


def fig_d_rl_training(res: Results):
    """The RL baselines' training: per-episode return relative to greedy's utility on the same
    instance vs environment steps, one panel per algorithm, one line per training seed."""
    curves = data.rl_curves(res, max(1, 5 * res.settings.smoothing_steps))
    algorithms = list(dict.fromkeys(curves["algorithm"]))
    fig, axes = _subplots(1, len(algorithms), 4.2, 3.4, sharey=True)
    for ax, algorithm in zip(axes[0], algorithms):
        sub = curves[curves["algorithm"] == algorithm]
        seeds = sorted(sub["seed"].unique())
        for seed in seeds:
            d, style = sub[sub["seed"] == seed], style_of(f"seed {seed}", [f"seed {s}" for s in seeds])
            ax.plot(d["timesteps"], d["raw"], color=style["color"], alpha=0.15, linewidth=0.6)
            ax.plot(d["timesteps"], d["smooth"], label=f"training seed {seed}", markevery=max(1, len(d) // 8), **style)
        ax.axhline(1.0, color="black", linestyle=":", linewidth=0.9, label="greedy on the same instance (= 1)")
        ax.set_title(algorithm.upper())
        ax.set_xlabel("environment steps [links assigned]")
    axes[0, 0].set_ylabel("episode return / U(greedy) [ratio]")
    fig.suptitle("(d') RL baselines: training return relative to greedy (rolling mean; raw episodes faint)", y=1.0)
    legend_below(fig, axes, ncol=4)
    return fig


def fig_report(table: pd.DataFrame):
    """The reproduction report: per claim, the reference and the reproduced number with 95 % CIs,
    the shape threshold (dashed) where it is a fixed value, and the verdict (holds / not shown / fails) in each."""
    claims = table.reset_index(drop=True)
    cols = 4
    rows = -(-len(claims) // cols)
    fig, axes = _subplots(rows, cols, 3.0, 2.3)
    for ax, claim in zip(axes.ravel(), claims.itertuples()):
        for i, (who, marker, colour) in enumerate((("reference", "o", "0.55"), ("reproduced", "s", "black"))):
            value, low, high = (getattr(claim, f"{who}_{k}") for k in ("value", "low", "high"))
            verdict = getattr(claim, f"{who}_verdict")
            if not np.isfinite(value):
                ax.text(i, 0.5, "n/a", ha="center", va="center", transform=ax.get_xaxis_transform(), color=colour)
                continue
            err = [[max(0.0, value - low)], [max(0.0, high - value)]] if np.isfinite(low) else None
            ax.errorbar([i], [value], yerr=err, marker=marker, color=colour, capsize=3, markersize=6,
                        markerfacecolor=colour if verdict == "holds" else "white")
            compared = getattr(claim, f"{who}_compared_with")
            if np.isfinite(compared):  # what the shape test compares with in this run
                ax.hlines(compared, i - 0.3, i + 0.3, colors=colour, linestyles="dotted", linewidth=1.5)
        if claim.threshold is not None and np.isfinite(claim.threshold):
            ax.axhline(claim.threshold, color="black", linestyle="--", linewidth=0.8)
        ax.set_xlim(-0.6, 1.6)
        verdicts = [v if isinstance(v, str) else "n/a" for v in (claim.reference_verdict, claim.reproduced_verdict)]
        ax.set_xticks([0, 1], [f"reference\n{verdicts[0]}", f"reproduced\n{verdicts[1]}"], fontsize=8)
        ax.set_title(claim.id, fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
        ax.set_ylabel(claim.unit, fontsize=7)
    for ax in axes.ravel()[len(claims):]:
        ax.set_visible(False)
    fig.suptitle("Reproduction report: each claim's number, reference vs reproduced (95 % CI; open marker: the "
                 "claim does not hold (not shown or fails); dashed: the shape's threshold; dotted: the run's own value it is compared with)", y=1.0, fontsize=9)
    fig.tight_layout()
    return fig
