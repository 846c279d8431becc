"""The throughput table ("aggregate throughput across network densities") as text: tidy CSV,
Markdown and LaTeX, from `evaluations.throughput_table`.
"""
from __future__ import annotations

import pandas as pd

import lsa.workflow.figures.data as data
import lsa.workflow.figures.evaluations as evaluations
from lsa.workflow.figures.data import Results


def _cell(row) -> str:
    half = (row.ci_high_mbps - row.ci_low_mbps) / 2
    text = f"{row.throughput_mbps:.1f} ± {half:.1f}" if row.runs > 1 else f"{row.throughput_mbps:.1f}"
    if pd.notna(row.share_of_best_known_pct):
        text += f" ({row.share_of_best_known_pct:.1f} %)"
    return text + (" †" if row.random_fallbacks else "")


def _tex(text: str) -> str:
    return text.replace("%", "\\%").replace("±", "$\\pm$").replace("–", "--").replace("†", "$^\\dagger$")


def throughput_texts(res: Results) -> dict[str, str]:
    """ext -> text of the table: csv (tidy), md, tex."""
    tidy = evaluations.throughput_table(res)
    regimes = data.regimes(tidy)
    budget, n = float(tidy["budget_s"].iloc[0]), int(tidy["N"].iloc[0])
    cells = {(r.method, r.regime): _cell(r) for r in tidy.itertuples()}
    best = tidy.loc[tidy.groupby("regime")["throughput_mbps"].idxmax()].set_index("regime")["method"].to_dict()
    seeds = int(tidy["training_seeds"].max())
    caption = (f"Aggregate throughput [Mbit/s] across network densities, N = {n} links, budget T = {budget:g} s "
               "(mean ± half-width of the 95 % t interval over instances"
               + (f"; lsa-code: per instance the mean over its {seeds} training seeds" if seeds > 1 else "")
               + "; best per density in bold"
               + ("; in brackets: mean share of the best-known utility of each instance [%]"
                  if tidy["share_of_best_known_pct"].notna().any() else "")
               + ("; † some runs had no valid output by the budget and took the random assignment"
                  if tidy["random_fallbacks"].any() else "") + ").")
    md = [f"*{caption}*", "", "| method | " + " | ".join(regimes) + " |", "|---|" + "---:|" * len(regimes)]
    tex = ["\\begin{table}[t]", "\\centering", "\\caption{" + _tex(caption) + "}", "\\label{tab:throughput}",
           "\\begin{tabular}{l" + "r" * len(regimes) + "}", "\\toprule",
           "method & " + " & ".join(regimes) + " \\\\", "\\midrule"]
    for method in dict.fromkeys(tidy["method"]):
        row_md, row_tex = [], []
        for regime in regimes:
            cell = cells.get((method, regime), "–")
            bold = best.get(regime) == method
            row_md.append(f"**{cell}**" if bold else cell)
            row_tex.append(f"\\textbf{{{_tex(cell)}}}" if bold else _tex(cell))
        md.append(f"| {method} | " + " | ".join(row_md) + " |")
        tex.append(f"\\texttt{{{method}}} & " + " & ".join(row_tex) + " \\\\")
    tex += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    return {"csv": tidy.to_csv(index=False), "md": "\n".join(md) + "\n", "tex": "\n".join(tex) + "\n"}


def best_known_texts(res: Results) -> dict[str, str]:
    """ext -> text of the best-known table: csv (tidy, per regime and N), md (with the evaluated rows
    that raised a best-known)."""
    summary, updates = evaluations.best_known_summary(res)
    caption = ("Best-known utility per density and N (mean over instances): the best of long runs of the strongest "
               "methods, exact optima where proven (best_run_budget_s: the longest budget among the runs that reached "
               "a best-known, in s); an evaluated run above it raised it (listed below). Budgets "
               "are wall-clock and load_1min is the machine's load while the long runs ran: a best-known is a lower "
               "bound on what a quiet machine reaches.")
    shown = summary.assign(best_known=summary["best_known"].round(2), load_1min=summary["load_1min"].round(2))
    md = [f"*{caption}*", "", *markdown_table(shown), ""]
    if updates.empty:
        md.append("No evaluated run exceeded its best-known utility.")
    else:
        md += [f"{len(updates)} evaluated run(s) exceeded the long runs' best-known utility "
               f"({updates['instance'].nunique()} instance(s)); the best of them is the best-known:", ""]
        md += markdown_table(updates.assign(utility=updates["utility"].round(3),
                                            best_known_long_run=updates["best_known_long_run"].round(3),
                                            gain=(100 * updates["gain"]).map(lambda g: f"+{g:.2f} %")))
    return {"csv": summary.to_csv(index=False), "md": "\n".join(md) + "\n"}


def markdown_table(df: pd.DataFrame) -> list[str]:
    """A DataFrame as Markdown table lines (cells as given; `|` escaped)."""
    def esc(v) -> str:
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(map(esc, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(esc(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return lines
