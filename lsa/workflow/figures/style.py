"""The one plotting style of every figure: seaborn theme, a fixed colour + marker + line style per
series (readable in greyscale), log axes with plain-number ticks, a shared legend, atomic saving.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lsa.io import atomic_path

METHOD_ORDER = ["random", "greedy", "local-search", "ils", "exact", "km", "km-partitioned", "pulp-partitioned",
                "de", "dqn", "ppo", "lsa-direct", "lsa-code"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p", "d"]
DASHES = ["-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)), (0, (1, 1)), (0, (5, 3, 1, 3))]
UTILITY_LABEL = "spectral utility U [bit/s/Hz]"
N_LABEL = "number of links N [links] (log scale)"
#: short names of methods where a tick label has little room (figure g)
SHORT_NAMES = {"local-search": "LS", "pulp-partitioned": "PuLP-p", "km-partitioned": "KM-p", "exact": "exact",
               "greedy": "greedy", "random": "random", "de": "DE", "km": "KM", "ils": "ILS"}


def apply_style() -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import seaborn as sns

    sns.set_theme(context="paper", style="whitegrid", palette="colorblind", font_scale=1.05,
                  rc={"lines.linewidth": 1.6, "lines.markersize": 6, "legend.frameon": True,
                      "pdf.fonttype": 42, "savefig.bbox": "tight", "axes.titleweight": "bold"})


def style_of(name: str, order: list[str]) -> dict:
    """Colour, marker and line style of a series: markers and dashes keep it readable in greyscale."""
    import seaborn as sns

    i = order.index(name) if name in order else len(order) + sum(map(ord, name)) % 7
    palette = sns.color_palette("colorblind", 10)
    return {"color": palette[i % 10], "marker": MARKERS[i % len(MARKERS)], "linestyle": DASHES[i % len(DASHES)]}


def method_style(method: str) -> dict:
    """A fixed style per method, the same in every figure; the trained policy is black, solid, a star."""
    if method == "lsa-code":
        return {"color": "black", "marker": "*", "linestyle": "-", "markersize": 9}
    if method == "lsa-direct":
        return {"color": "0.35", "marker": "X", "linestyle": "--"}
    if method == "ppo":
        return {"color": "#882255", "marker": "d", "linestyle": (0, (5, 3, 1, 3))}
    return style_of(method, METHOD_ORDER)


def errorbar_line(ax, summary, x: str, label: str, style: dict, scale: float = 1.0) -> None:
    """One series of a summary table (columns x, mean, low, high) as a line with 95 % CI bars."""
    d = summary.sort_values(x)
    mean = d["mean"].to_numpy(dtype=float) * scale
    err = np.vstack([mean - d["low"].to_numpy(dtype=float) * scale, d["high"].to_numpy(dtype=float) * scale - mean])
    ax.errorbar(d[x].to_numpy(dtype=float), mean, yerr=np.nan_to_num(err), label=label, capsize=2, **style)


def log_axis(ax, axis: str, ticks=None, labels=None) -> None:
    """Log scale with plain-number labels: major ticks at the data values (e.g. the N evaluated)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    getattr(ax, f"set_{axis}scale")("log")
    target = ax.xaxis if axis == "x" else ax.yaxis
    if ticks is not None and len(ticks):
        ticks = sorted(set(float(t) for t in ticks))
        getattr(ax, f"set_{axis}ticks")(ticks, labels=labels)
    if labels is None:
        target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    target.set_minor_formatter(NullFormatter())


def legend_below(fig, axes, ncol: int = 5) -> None:
    """One legend for all panels, below them (never over the data)."""
    handles = {}
    for ax in np.atleast_1d(axes).ravel():
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    rows = -(-len(handles) // ncol)
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=min(ncol, len(handles)),
               bbox_to_anchor=(0.5, -0.02), frameon=True)
    fig.tight_layout(rect=(0, 0.035 + 0.045 * rows, 1, 1))


def save_figure(fig, targets: list[Path], dpi: int) -> list[Path]:
    """Save `fig` to every target (format from the suffix), each atomically; PDFs carry no date so
    that re-rendering the same results gives the same files."""
    import matplotlib.pyplot as plt

    for target in targets:
        ext = target.suffix.lstrip(".")
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=ext, dpi=dpi,
                        metadata={"CreationDate": None} if ext == "pdf" else {"Software": None})
    plt.close(fig)
    return list(targets)
