"""Every figure and table of the artifact, one registry entry each (name, caption, inputs, draw),
rendered from a results directory alone: `render_all(results_dir, figures_dir)`.

To add a figure: a function for its numbers (`data`: training logs, prompts; `evaluations`: the
evaluation tables), a `plots` function that draws them, and one
`Figure(...)` entry below (the Snakefile and `lsa figures` pick it up from `FIGURES`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from lsa.errors import LSAError
from lsa.io import write_text
from lsa.workflow.figures import plots, primitives, tables
from lsa.workflow.figures.data import FigureSettings, MissingResults, Results
from lsa.workflow.figures.style import apply_style, save_figure
from lsa.workflow.paths import FIGURE_EXTS, TABLE_EXTS, Paths
from lsa.workflow.stages import DIRECT_RUNS, MAIN_RUN, WorkflowSettings


@dataclass(frozen=True)
class Figure:
    """One figure (or table): `inputs(paths, settings)` are the results files it reads (its rule's
    inputs); `draw(results)` returns a matplotlib figure, or ext -> text for a table."""

    name: str
    caption: str
    inputs: Callable[[Paths, WorkflowSettings], list[Path]]
    draw: Callable[[Results], object]
    exts: tuple[str, ...] = FIGURE_EXTS
    made: Callable[[WorkflowSettings], bool] | None = None
    """Whether a profile's workflow makes it (None: always); rendered whenever its inputs exist."""

    def outputs(self, paths: Paths) -> list[Path]:
        return paths.figure_files(self.name, self.exts)


def _evaluations(p: Paths, s: WorkflowSettings) -> list[Path]:
    return [p.evaluation, p.llm_evaluation, p.best_known]


def _dynamics_logs(p: Paths, s: WorkflowSettings) -> list[Path]:
    return [p.grpo_log(run) for run in s.dynamics_runs]


def _cold_start_logs(p: Paths, s: WorkflowSettings) -> list[Path]:
    return [p.grpo_log(run) for run in (MAIN_RUN, *DIRECT_RUNS)]


def _prompt_study(p: Paths, s: WorkflowSettings) -> list[Path]:
    return [p.prompt_length]


def _rl_logs(p: Paths, s: WorkflowSettings) -> list[Path]:
    return [p.rl_log(algorithm, seed) for algorithm, seed in s.rl_runs]


def _primitives(p: Paths, s: WorkflowSettings) -> list[Path]:
    return [*_evaluations(p, s), p.primitives_evaluation, p.primitives_programs] if s.primitives else []


def _with_primitives(s: WorkflowSettings) -> bool:
    return s.primitives


FIGURES: dict[str, Figure] = {f.name: f for f in [
    Figure("fig_a_utility_vs_n", "(a) spectral utility vs N per method at a fixed budget (log N)", _evaluations,
           plots.fig_a_utility_vs_n),
    Figure("fig_b_anytime", "(b) spectral utility vs time budget at one N (anytime curves)", _evaluations,
           plots.fig_b_anytime),
    Figure("fig_c_exact_share", "(c) share of the best known utility at N <= exact_max_n", _evaluations,
           plots.fig_c_exact_share),
    Figure("fig_d_grpo_dynamics", "(d) GRPO training dynamics: total reward and R_struct, R_perf, R_depth",
           _dynamics_logs, plots.fig_d_grpo_dynamics),
    Figure("fig_d_rl_training", "(d') DQN / PPO training: per-episode return relative to greedy", _rl_logs,
           plots.fig_d_rl_training),
    Figure("fig_e_cold_start", "(e) cold start: code vs direct vs SFT + direct", _cold_start_logs,
           plots.fig_e_cold_start),
    Figure("fig_f_prompt_tokens", "(f) prompt tokens vs N, hierarchical vs naive serialization", _prompt_study,
           plots.fig_f_prompt_tokens),
    Figure("fig_g_generalisation", "(g) generalisation to larger N and unseen densities: utility relative to the "
           "strongest classical method", _evaluations, plots.fig_g_generalisation),
    Figure("fig_h_model_size", "(h) model-size scaling (every size trained alike, every training seed shown): "
           "utility relative to the strongest classical method", _evaluations, plots.fig_h_model_size),
    Figure("table_throughput", "aggregate throughput across network densities (CSV, Markdown, LaTeX)",
           _evaluations, tables.throughput_texts, TABLE_EXTS),
    Figure("table_best_known", "best-known utilities (the limit) per density and N, how they were obtained, and "
           "the evaluated runs that raised one (CSV, Markdown)", _evaluations, tables.best_known_texts, ("csv", "md")),
    Figure("fig_i_primitives", "(i) the primitives-only arm (no complete search in the vocabulary): share of the "
           "best-known utility per density beside the full-vocabulary policy and classical methods", _primitives,
           primitives.fig_primitives, made=_with_primitives),
    Figure("table_primitives", "the primitives-only arm: share of the best-known utility with 95 % intervals per "
           "density and budget, valid shares, the net methods its programs call (CSV, Markdown)", _primitives,
           primitives.arm_texts, ("csv", "md"), made=_with_primitives),
]}
FIGURE_NAMES = list(FIGURES)


def figure_inputs(paths: Paths, settings: WorkflowSettings) -> list[Path]:
    """Every results file some figure reads (the figures rule's inputs), without repeats."""
    return list(dict.fromkeys(p for f in FIGURES.values() for p in f.inputs(paths, settings)))


def figure_outputs(paths: Paths, settings: WorkflowSettings | None = None) -> list[Path]:
    """The files of every figure a profile's workflow makes (`settings`; None: every figure)."""
    return [p for f in FIGURES.values() if settings is None or f.made is None or f.made(settings)
            for p in f.outputs(paths)]


def render(name: str, results: Results, figures_dir: str | Path) -> list[Path]:
    """Render one figure or table; raises MissingResults when its inputs are absent."""
    entry = FIGURES[name]
    targets = entry.outputs(Paths(results.paths.results, Path(figures_dir)))
    if entry.exts == FIGURE_EXTS:
        apply_style()
        return save_figure(entry.draw(results), targets, results.settings.dpi)
    texts = entry.draw(results)
    return [write_text(target, texts[target.suffix.lstrip(".")]) for target in targets]


def render_all(results_dir: str | Path, figures_dir: str | Path, only: list[str] | None = None,
               strict: bool = False, log=print) -> dict[str, list[Path]]:
    """Render every figure from `results_dir` into `figures_dir`; a figure whose results are missing
    is skipped with a message (or raises when `strict`, unless only some profiles make it: `made`,
    e.g. the primitives-only arm's, whose results a profile without the arm never has). Returns
    name -> files written."""
    names = list(only or FIGURE_NAMES)
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise LSAError(f"unknown figure(s) {unknown}; known: {', '.join(FIGURE_NAMES)}")
    results = Results(results_dir)
    done: dict[str, list[Path]] = {}
    for name in names:
        t0 = time.perf_counter()
        try:
            files = render(name, results, figures_dir)
        except MissingResults as exc:
            if strict and FIGURES[name].made is None:
                raise
            log(f"skip {name}: {exc}")
            continue
        done[name] = files
        log(f"wrote {name} ({time.perf_counter() - t0:.1f} s): {', '.join(str(f) for f in files)}")
    return done


__all__ = ["Figure", "FIGURES", "FIGURE_NAMES", "FigureSettings", "MissingResults", "Results", "figure_inputs",
           "figure_outputs", "render", "render_all"]
