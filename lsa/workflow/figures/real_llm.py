"""The real pretrained chat model in the figures (pandas, and matplotlib only through the axes it is
given): the LoRA-GRPO run's training curves beside the embedded policy's (figures d, e), and its
adapter's point in the model-size figure (h) — or, without a LoRA-GRPO result, the zero-shot model
marked from the cold-start stage. A run whose tables are absent (e.g. a reference made before the
stage existed) is said so in the panel; no number is ever drawn that a table does not hold.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from lsa.policy.lora_grpo import LORA_RUN
from lsa.policy.named_models import NAMED_MODELS
from lsa.workflow.figures.data import CLASSICAL_METHODS, KEY, MissingResults, Results, at_budget, smoothed
from lsa.workflow.figures.evaluations import ratio_to_strongest
from lsa.workflow.stats import t_interval

#: how the LoRA-GRPO run is labelled in figures d and e
LORA_LABEL = "real chat model, LoRA-GRPO"
LORA_STYLE = {"color": "#882255", "marker": "D", "linestyle": "-"}


def lora_log(res: Results) -> pd.DataFrame | None:
    """The LoRA-GRPO run's per-step log (None: the run is missing)."""
    return res.training_log(LORA_RUN)


def lora_table(res: Results) -> pd.DataFrame | None:
    """The LoRA evaluation (the adapter as lsa-code and the classical methods beside it); None: missing."""
    try:
        return res.read(res.paths.lora_evaluation, "LoRA-GRPO evaluation")
    except MissingResults:
        return None


def model_name(res: Results) -> str:
    """The base model of the LoRA-GRPO run as its evaluation names it (else the stage's default)."""
    table = lora_table(res)
    if table is not None and "base_model" in table and table["base_model"].notna().any():
        return str(table["base_model"].dropna().iloc[0])
    return "smollm2-135m"


def missing_text(ax, what: str) -> None:
    """Say in the panel that a run is missing (and draw nothing else there)."""
    ax.text(0.5, 0.5, what, ha="center", va="center", wrap=True, fontsize=8, color="0.3",
            transform=ax.transAxes, bbox={"boxstyle": "round", "facecolor": "#f4f4f4", "edgecolor": "0.6"})
    ax.set_xticks([])
    ax.set_yticks([])


def lora_training_row(axes_row, res: Results, panels: list[tuple[str, str]], window: int) -> bool:
    """Draw the LoRA-GRPO curves, one panel per (column, label); False (and a note in each panel)
    when its log is missing."""
    log = lora_log(res)
    where = res.paths.lora_grpo_log
    for ax, (column, ylabel) in zip(axes_row, panels):
        if log is None or column not in log or log[column].isna().all():
            missing_text(ax, f"LoRA-GRPO run missing:\n{where.name} not in this run\n(stage lora_grpo, `lsa lora-grpo`)")
            ax.set_ylabel(ylabel)
            continue
        curve = smoothed(log, column, window)
        ax.plot(curve["step"], curve["raw"], color=LORA_STYLE["color"], alpha=0.18, linewidth=0.8)
        ax.plot(curve["step"], curve["smooth"], label=f"{LORA_LABEL} ({model_name(res)}, G = {_group(log)})",
                markevery=max(1, len(curve) // 8), **LORA_STYLE)
        ax.set_xlabel("GRPO step")
        ax.set_ylabel(ylabel)
    return log is not None


def _group(log: pd.DataFrame) -> str:
    return str(int(log["G"].iloc[0])) if "G" in log and log["G"].notna().any() else "?"


# ====================================================================== h: the 135 M point
def lora_point(res: Results, n: int, budget_s: float) -> dict | None:
    """The adapter's utility relative to the strongest classical method of the cell (the baseline
    evaluation's and the LoRA evaluation's classical rows on the same instance and budget), 95 % t
    interval over instances, at N = n and `budget_s`; None when the LoRA evaluation has no such rows."""
    table = lora_table(res)
    if table is None:
        return None
    pol = at_budget(table[(table["method"] == "lsa-code") & (table["N"] == n)], budget_s)
    if pol.empty:
        return None
    own = table[table["method"].isin(CLASSICAL_METHODS)]
    classical = pd.concat([res.classical_rows, own], ignore_index=True, sort=False).drop_duplicates([*KEY, "method"])
    try:
        ratios = ratio_to_strongest(pol.drop(columns=["strongest", "ratio"], errors="ignore"), classical)
    except MissingResults:
        return None
    mean, low, high = t_interval(ratios["ratio"])
    params = ratios["n_params"].dropna()
    return {"mean": mean, "low": low, "high": high, "n": len(ratios), "regimes": sorted(set(ratios["regime"])),
            "n_params": float(params.iloc[0]) if len(params) else _named_parameters(model_name(res)),
            "strongest": ", ".join(sorted(set(ratios["strongest"]))), "model": model_name(res)}


def _named_parameters(name: str) -> float:
    model = NAMED_MODELS.get(name)
    return float(model.parameters) if model is not None and model.parameters else math.nan


def zero_shot(res: Results) -> dict | None:
    """The cold-start stage's zero-shot code valid share of the real model (pooled over N), or None."""
    try:
        summary = res.read(res.paths.cold_start_summary, "cold-start summary (real LLM)")
    except MissingResults:
        return None
    code = summary[summary["paradigm"] == "code"]
    if code.empty:
        return None
    name = str(code["model"].iloc[0]) if "model" in code else "smollm2-135m"
    return {"valid": int(code["valid"].sum()), "n": int(code["n"].sum()), "model": name,
            "N": ", ".join(str(int(v)) for v in sorted(code["N"])), "n_params": _named_parameters(name)}


def real_llm_parameters(res: Results) -> float:
    """Where the real model sits on figure h's parameter axis (NaN: neither a LoRA nor a cold-start result)."""
    table = lora_table(res)
    if table is not None and "n_params" in table and table["n_params"].notna().any():
        return float(table["n_params"].dropna().iloc[0])
    info = zero_shot(res)
    return info["n_params"] if info else _named_parameters("smollm2-135m")


def draw_real_llm_point(ax, res: Results, n: int, budget_s: float, y_text: float = 0.08) -> None:
    """The trained adapter's ratio at N = n (mean ± 95 % CI over instances) where the LoRA evaluation
    has it; otherwise a dotted line at the model's size with the reason (zero-shot from the cold-start
    stage, not evaluated at this N, or no run at all) and no number on the ratio axis."""
    point = lora_point(res, n, budget_s)
    x = real_llm_parameters(res)
    if point is not None:
        err = np.array([[point["mean"] - point["low"]], [point["high"] - point["mean"]]])
        ax.errorbar([point["n_params"]], [point["mean"]], yerr=np.nan_to_num(err), capsize=3, linestyle="none",
                    label=f"{LORA_LABEL} ({point['model']}; {', '.join(point['regimes'])}, n = {point['n']})",
                    **{k: v for k, v in LORA_STYLE.items() if k != "linestyle"})
        return
    if not math.isfinite(x):
        return
    info = zero_shot(res)
    if lora_table(res) is not None:
        text = f"{model_name(res)}: LoRA-GRPO\nnot evaluated at\nN = {n:g}, T = {budget_s:g} s"
    elif info is not None:
        text = (f"{info['model']} zero-shot\n(not trained: no\nLoRA-GRPO run);\ncold start: "
                f"{info['valid']}/{info['n']} valid\nprograms (N = {info['N']})")
    else:
        text = "135 M real model:\nno LoRA-GRPO and\nno cold-start run"
    ax.axvline(x, color=LORA_STYLE["color"], linestyle=":", linewidth=1.0,
               label="real chat model (no trained point: see the note)")
    ax.text(x, y_text, text, transform=ax.get_xaxis_transform(), ha="right", va="bottom", fontsize=6.5,
            color=LORA_STYLE["color"])


__all__ = ["lora_log", "lora_table", "lora_training_row", "lora_point", "zero_shot", "real_llm_parameters",
           "draw_real_llm_point", "missing_text", "LORA_LABEL"]
