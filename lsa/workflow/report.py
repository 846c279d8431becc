"""The reproduction report: every claim of `figures.claims.CLAIMS` evaluated on the committed
reference and on a fresh run — number, 95 % CI, verdict (holds / not shown / fails) — as CSV,
Markdown, figure.

A claim is *reproduced* when both runs give the same verdict AND their 95 % intervals overlap (or lie
no further apart than the claim's stated equivalence margin): the same verdict from numbers that
moved apart is not a reproduction. GRPO training is not bit-reproducible, so the numbers differ a
little; a point value (a count, an exact share) is an interval of width zero.
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from lsa.errors import LSAError
from lsa.io import write_text
from lsa.workflow.figures.claims import CLAIMS, RETIRED, Claim, claims_table
from lsa.workflow.figures.data import Results
from lsa.workflow.figures.plots import fig_report
from lsa.workflow.figures.style import apply_style, save_figure
from lsa.workflow.figures.tables import markdown_table
from lsa.workflow.paths import Paths
from lsa.workflow.provenance import write_table

SIDES = ("reference", "reproduced")


#: every status a claim can have, in the order the summary line counts them ("new": the reference
#: cannot measure it, e.g. it was made by older code without that data)
STATUSES = ("reproduced", "NOT reproduced", "new", "not in this run", "not measurable")


def _status(ref_verdict, rep_verdict, agree) -> str:
    if ref_verdict is None and rep_verdict is None:
        return "not measurable"
    if ref_verdict is None:
        return "new"
    if rep_verdict is None:
        return "not in this run"
    return "reproduced" if ref_verdict == rep_verdict and agree is True else "NOT reproduced"


def _finite(x) -> bool:
    return x is not None and not pd.isna(x) and math.isfinite(float(x))


def _agree(row) -> bool | None:
    """Whether the two runs' 95 % intervals overlap, allowing the claim's margin between them; a side
    with one value (or a count) is the interval [value, value]. None: a side has no number."""
    sides = []
    for s in SIDES:
        value, low, high = (row[f"{s}_{k}"] for k in ("value", "low", "high"))
        if not _finite(value):
            return None
        sides.append((float(low), float(high)) if _finite(low) and _finite(high) else (float(value), float(value)))
    gap = max(lo for lo, _ in sides) - min(hi for _, hi in sides)
    return bool(gap <= (row["margin"] if _finite(row["margin"]) else 0.0) + 1e-12)


def compare(reference_dir: str | Path, results_dir: str | Path, claims: list[Claim] | None = None) -> pd.DataFrame:
    """One row per claim: what it measures, reference_* and reproduced_* (value, low, high, n, verdict,
    detail), `same_verdict`, `intervals_overlap` (within the claim's margin) and `status` (STATUSES)."""
    for d in (reference_dir, results_dir):
        if not Path(d).is_dir():
            raise LSAError(f"results directory not found: {d}")
    tables = [claims_table(Results(d), claims) for d in (reference_dir, results_dir)]
    keys = ["id", "claim", "figure", "measure", "unit", "shape", "threshold", "margin"]
    sides = [t.drop(columns=keys[1:]).add_prefix(f"{side}_").rename(columns={f"{side}_id": "id"})
             for side, t in zip(SIDES, tables)]
    table = tables[0][keys].merge(sides[0], on="id").merge(sides[1], on="id")
    for side in SIDES:  # pandas turns an all-None column into NaN
        table[f"{side}_verdict"] = table[f"{side}_verdict"].astype(object).where(table[f"{side}_verdict"].notna(), None)
    table["same_verdict"] = [None if a is None or b is None else a == b
                             for a, b in zip(table["reference_verdict"], table["reproduced_verdict"])]
    table["intervals_overlap"] = table.apply(_agree, axis=1)
    table["status"] = [_status(a, b, c) for a, b, c in
                       zip(table["reference_verdict"], table["reproduced_verdict"], table["intervals_overlap"])]
    return table


def summary(table: pd.DataFrame) -> str:
    """The count line: e.g. "12 reproduced, 4 NOT reproduced (2 with a changed verdict), 8 new, ..."."""
    counts = table["status"].value_counts()
    changed = int(((table["status"] == "NOT reproduced") & (table["same_verdict"] == False)).sum())  # noqa: E712
    parts = [f"{counts.get(s, 0)} {s}" + (f" ({changed} with a changed verdict)" if s == "NOT reproduced" else "")
             for s in STATUSES]
    return ", ".join(parts) + f" (of {len(table)} claims)"


def _number(row, side: str) -> str:
    value, low, high = (row[f"{side}_{k}"] for k in ("value", "low", "high"))
    if not math.isfinite(value):
        return "n/a"
    digits = 0 if abs(value) >= 100 else 3
    if math.isfinite(low) and (high - low) > 1e-12:
        return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}] (n={row[f'{side}_n']})"
    return f"{value:.{digits}f} (n={row[f'{side}_n']})"


def _yes_no(x) -> str:
    return "yes" if x is True else "no" if x is False else "–"


def markdown(table: pd.DataFrame, reference_dir: str | Path, results_dir: str | Path) -> str:
    lines = [
        "# Reproduction report", "",
        f"Reference: `{reference_dir}` (the committed run). Reproduction: `{results_dir}`.", "",
        "Each row is one claim of the README's claims table: the number we quote, with its 95 % t interval "
        "and the count it rests on, in both runs, and its verdict in each, read from the interval: *holds* "
        "(the interval lies on the claimed side of the threshold; for \"beats\" strictly, so a tie is no win), "
        "*fails* (it lies entirely on the other side) or *not shown* (it straddles the threshold). A claim is "
        "reproduced when both runs give the same verdict AND their intervals overlap (within the claim's "
        "equivalence margin, where one is stated); \"new\" marks a claim the reference cannot measure (it was "
        "made by older code without that data).", "",
        f"**{summary(table)}**.", "",
    ]
    view = pd.DataFrame({
        "claim": [f"{r['claim']} (`{r['id']}`)" for _, r in table.iterrows()],
        "fig.": table["figure"],
        "number": table["measure"],
        "reference": [_number(r, "reference") for _, r in table.iterrows()],
        "reproduced": [_number(r, "reproduced") for _, r in table.iterrows()],
        "shape": table["shape"],
        "verdict (ref. / repr.)": [f"{a or 'n/a'} / {b or 'n/a'}" for a, b in
                                   zip(table["reference_verdict"], table["reproduced_verdict"])],
        "same verdict": table["same_verdict"].map(_yes_no),
        "CIs overlap": [_yes_no(x) + (f" (margin {m:g})" if _finite(m) and m > 0 else "")
                        for x, m in zip(table["intervals_overlap"], table["margin"])],
        "status": table["status"],
    })
    lines += markdown_table(view)
    lines += ["", "## Details", ""]
    for _, r in table.iterrows():
        lines.append(f"- `{r['id']}`: reference: {r['reference_detail'] or '–'}; "
                     f"reproduced: {r['reproduced_detail'] or '–'}")
    lines += ["", "## Claims out of the registry", ""]
    lines += [f"- `{claim_id}`: {why}" for claim_id, why in RETIRED.items()]
    return "\n".join(lines) + "\n"


def _concrete(text: str, res: Results) -> str:
    """A measure or shape in the run's own numbers (N = table_n -> N = 2000, fixed budget -> T = 2 s)."""
    for generic, value in (("N = table_n", f"N = {res.table_n}"), ("N = anytime_n", f"N = {res.anytime_n}"),
                           ("N <= exact_max_n", f"N <= {res.settings.exact_max_n}"),
                           ("fixed budget", f"T = {res.budget_s:g} s")):
        text = text.replace(generic, value)
    return text.replace("<=", "≤").replace(">=", "≥")


def _readme_number(value, low, high, n) -> str:
    if not _finite(value):
        return "n/a"
    digits = 2 if abs(value) >= 10 else 3
    if float(value).is_integer() and low == high:
        return f"{value:.0f} (n = {n:.0f})"
    interval = f" [{low:.{digits}f}, {high:.{digits}f}]" if _finite(low) and high - low > 1e-12 else ""
    return f"{value:.{digits}f}{interval} (n = {n:.0f})"


def readme_table(report_csv: str | Path, results_dir: str | Path) -> str:
    """The README's claims table: every claim of a written report (report.csv) on its reproduced run,
    with the run's settings (`results_dir`) filled into the measure: `lsa report --markdown-table`."""
    path = Path(report_csv)
    if not path.is_file():
        raise LSAError(f"report not found: {path} (run `lsa report` first)")
    table = pd.read_csv(path)
    res = Results(results_dir)
    view = pd.DataFrame({
        "claim": table["claim"],
        "fig.": table["figure"],
        "measure": [_concrete(m, res) for m in table["measure"]],
        "this run: value [95 % CI] (n)": [_readme_number(*(r[f"reproduced_{k}"] for k in ("value", "low", "high", "n")))
                                          for _, r in table.iterrows()],
        "holds when": [_concrete(x, res) for x in table["shape"]],
        "verdict": [f"**{v}**" if isinstance(v, str) else "n/a" for v in table["reproduced_verdict"]],
        "vs the reference before": list(table["status"]),
    })
    return "\n".join(markdown_table(view)) + "\n"


def write_report(reference_dir: str | Path, results_dir: str | Path, output_dir: str | Path,
                 claims: list[Claim] | None = None) -> dict[str, Path]:
    """Compare and write report.csv (with provenance), report.md, report.pdf and report.png into
    `output_dir`; returns ext -> path."""
    table = compare(reference_dir, results_dir, claims)
    files = Paths(Path(results_dir), Path(results_dir)).report_files(Path(output_dir))
    apply_style()
    save_figure(fig_report(table), [files["pdf"], files["png"]], dpi=150)
    write_text(files["md"], markdown(table, reference_dir, results_dir))
    write_table(table, files["csv"], reference=str(reference_dir), results=str(results_dir),
                claims=[c.id for c in (claims or CLAIMS)])
    return files


__all__ = ["compare", "markdown", "summary", "readme_table", "write_report", "STATUSES"]
