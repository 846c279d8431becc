"""The reproduction report: every claim of `figures.claims.CLAIMS` evaluated on the committed
reference and on a fresh run — number, 95 % CI, whether the shape holds — as CSV, Markdown, figure.

A claim is *reproduced* when its shape test gives the same verdict in both runs; the intervals say
how close the numbers are (GRPO training is not bit-reproducible, so the numbers differ a little).
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from lsa.errors import LSAError
from lsa.io import write_text
from lsa.workflow.figures.claims import CLAIMS, Claim, claims_table
from lsa.workflow.figures.data import Results
from lsa.workflow.figures.plots import fig_report
from lsa.workflow.figures.style import apply_style, save_figure
from lsa.workflow.figures.tables import markdown_table
from lsa.workflow.paths import Paths
from lsa.workflow.provenance import write_table

SIDES = ("reference", "reproduced")


#: every status a claim can have, in the order the summary line counts them
STATUSES = ("reproduced", "NOT reproduced", "not in reference", "not in this run", "not measurable")


def _status(ref_holds, rep_holds) -> str:
    """A claim the reference cannot measure (it was made by older code, without that data) is "not in
    reference", not a failure; one this run cannot measure is "not in this run"."""
    if ref_holds is None and rep_holds is None:
        return "not measurable"
    if ref_holds is None:
        return "not in reference"
    if rep_holds is None:
        return "not in this run"
    return "reproduced" if ref_holds == rep_holds else "NOT reproduced"


def _overlap(row) -> bool | None:
    lo = [row[f"{s}_low"] for s in SIDES]
    hi = [row[f"{s}_high"] for s in SIDES]
    if any(not math.isfinite(v) for v in (*lo, *hi)) or any(h - low <= 0 for low, h in zip(lo, hi)):
        return None  # no interval on one side (one value, or an exact count): nothing to overlap
    return bool(max(lo) <= min(hi))


def compare(reference_dir: str | Path, results_dir: str | Path, claims: list[Claim] | None = None) -> pd.DataFrame:
    """One row per claim: what it measures, reference_* and reproduced_* (value, low, high, n, holds,
    detail), `intervals_overlap` and `status` (reproduced / NOT reproduced / not measurable)."""
    for d in (reference_dir, results_dir):
        if not Path(d).is_dir():
            raise LSAError(f"results directory not found: {d}")
    tables = [claims_table(Results(d), claims) for d in (reference_dir, results_dir)]
    keys = ["id", "claim", "figure", "measure", "unit", "shape", "threshold"]
    sides = [t.drop(columns=keys[1:]).add_prefix(f"{side}_").rename(columns={f"{side}_id": "id"})
             for side, t in zip(SIDES, tables)]
    table = tables[0][keys].merge(sides[0], on="id").merge(sides[1], on="id")
    table["intervals_overlap"] = table.apply(_overlap, axis=1)
    table["status"] = [_status(a, b) for a, b in zip(table["reference_holds"], table["reproduced_holds"])]
    return table


def _number(row, side: str) -> str:
    value, low, high = (row[f"{side}_{k}"] for k in ("value", "low", "high"))
    if not math.isfinite(value):
        return "n/a"
    digits = 0 if abs(value) >= 100 else 3
    if math.isfinite(low) and (high - low) > 1e-12:
        return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}] (n={row[f'{side}_n']})"
    return f"{value:.{digits}f} (n={row[f'{side}_n']})"


def _verdict(holds) -> str:
    return "holds" if holds is True else "does not hold" if holds is False else "n/a"


def markdown(table: pd.DataFrame, reference_dir: str | Path, results_dir: str | Path) -> str:
    counts = table["status"].value_counts()
    lines = [
        "# Reproduction report", "",
        f"Reference: `{reference_dir}` (the committed run). Reproduction: `{results_dir}`.", "",
        "Each row is one claim of the README's claims table: the number we quote, with its 95 % t interval "
        "and the count it rests on, in both runs; and whether the claim's *shape* holds in each. A claim is "
        "reproduced when the shape gives the same verdict in both runs; \"not in reference\" marks a claim the "
        "reference cannot measure (it was made by older code without that data).", "",
        "**" + ", ".join(f"{counts.get(s, 0)} {s}" for s in STATUSES) + f"** (of {len(table)} claims).", "",
    ]
    view = pd.DataFrame({
        "claim": [f"{r['claim']} (`{r['id']}`)" for _, r in table.iterrows()],
        "fig.": table["figure"],
        "number": table["measure"],
        "reference": [_number(r, "reference") for _, r in table.iterrows()],
        "reproduced": [_number(r, "reproduced") for _, r in table.iterrows()],
        "shape": table["shape"],
        "holds (ref. / repr.)": [f"{_verdict(a)} / {_verdict(b)}" for a, b in
                                 zip(table["reference_holds"], table["reproduced_holds"])],
        "CIs overlap": table["intervals_overlap"].map({True: "yes", False: "no"}).fillna("–"),
        "status": table["status"],
    })
    lines += markdown_table(view)
    lines += ["", "## Details", ""]
    for _, r in table.iterrows():
        lines.append(f"- `{r['id']}`: reference: {r['reference_detail'] or '–'}; "
                     f"reproduced: {r['reproduced_detail'] or '–'}")
    return "\n".join(lines) + "\n"


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


__all__ = ["compare", "markdown", "write_report", "STATUSES"]
