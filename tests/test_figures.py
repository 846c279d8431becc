"""Figures and the throughput table render from tidy results files alone; missing inputs are skipped
with a message. Inputs here are small synthetic tables in a temporary directory (test fixtures, never
written to results/)."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from lsa import figures
from lsa.cli import main
from lsa.workflow.paths import DIRECT_RUNS, FIGURES, RUN_LABELS, TABLE, Paths

METHODS = ["random", "greedy", "local-search", "exact", "pulp-partitioned"]


def _rows(methods, grid, budgets, quality, extra=None):
    rows = []
    for (n, k), regime, seed, budget, method in [(g, r, s, b, m) for g in grid for r in ("sparse", "dense", "ultra-dense")
                                                  for s in (0, 1) for b in budgets for m in methods]:
        base = n * (3.0 if regime == "sparse" else 1.0)
        q = quality[method]
        refused = "too large" if method == "exact" and n > 20 else ""
        util = base * q * (1 + 0.05 * seed) * (1 + 0.02 * np.log(budget + 1))
        rows.append({"instance": f"{regime}-N{n}-K{k}-s{seed}", "N": n, "K": k, "regime": regime, "seed": seed,
                     "method": method, "budget_s": budget, "utility": util, "throughput": util * 1e6,
                     "p5_rate": 1.0, "jain": 0.5, "conflicts": 3, "runtime_s": budget, "valid": True,
                     "repaired": 0, "refused": refused, **(extra or {})})
    return rows


@pytest.fixture
def results(tmp_path):
    paths = Paths(tmp_path / "results", tmp_path / "figures")
    paths.results.mkdir(parents=True)
    quality = {"random": 0.5, "greedy": 0.8, "local-search": 0.9, "exact": 1.0, "pulp-partitioned": 0.85,
               "lsa-code": 0.88}
    grid = [(12, 4), (20, 4), (200, 8), (2000, 8)]
    pd.DataFrame(_rows(METHODS, grid, [0.5, 2.0], quality)).to_csv(paths.evaluation, index=False)
    llm = _rows(["random", "greedy"], grid, [0.5, 2.0], quality)
    for r in llm:
        r["policy"] = r["method"]
    for policy, q, size, n_params in (("base", 0.6, "tiny", 1.1e6), ("main", 0.88, "tiny", 1.1e6),
                                      ("size-small", 0.9, "small", 5.3e6)):
        rows = _rows(["lsa-code"], grid, [0.5, 2.0], {**quality, "lsa-code": q},
                     {"policy": policy, "model_size": size, "n_params": n_params})
        llm += rows
    llm = pd.DataFrame(llm).assign(train_n_max=50, train_regimes="dense")
    llm.to_csv(paths.llm_evaluation, index=False)
    steps = np.arange(1, 31)
    for run in [*RUN_LABELS, *DIRECT_RUNS]:
        paths.grpo_log(run).parent.mkdir(parents=True, exist_ok=True)
        valid = np.zeros_like(steps, dtype=float) if run == "direct-cold" else np.linspace(0.6, 1.0, len(steps))
        pd.DataFrame({"step": steps, "r_struct": valid, "r_perf": np.linspace(0.1, 0.6, len(steps)),
                      "r_depth": 0.9, "reward": valid + 1.0, "valid_share": valid, "completion_length": 120.0,
                      "time_s": steps * 2.0}).to_csv(paths.grpo_log(run), index=False)
    pt = [{"instance": f"dense-N{n}", "N": n, "K": 8, "regime": "dense", "seed": 0, "serializer": s,
           "tokens": min(n * 3, 160) if s == "hierarchical" else n * 40, "max_tokens": 160,
           "within_budget": True, "chars": n * 100, "tokenizer": "results/models/base-tiny"}
          for n in (10, 100, 1000) for s in ("hierarchical", "naive")]
    pd.DataFrame(pt).to_csv(paths.prompt_length, index=False)
    return paths


def test_every_figure_and_the_table_render_from_results(results):
    t0 = time.perf_counter()
    done = figures.render_all(results.results, results.figures, strict=True, log=lambda *_: None)
    assert time.perf_counter() - t0 < 60
    assert set(done) == {*FIGURES, TABLE}
    for name in done:
        for f in results.figure_files(name):
            assert f.is_file() and f.stat().st_size > 0, f


def test_throughput_table_in_three_formats(results):
    figures.render(TABLE, results)
    tidy = pd.read_csv(results.figure(TABLE, "csv"))
    assert set(tidy["regime"]) == {"sparse", "dense", "ultra-dense"}
    assert "lsa-code" in set(tidy["method"])        # the trained policy sits beside the baselines
    assert "exact" not in set(tidy["method"])       # refused at N = 2000, not counted
    md = results.figure(TABLE, "md").read_text()
    assert "| method | sparse | dense | ultra-dense |" in md and "**" in md
    tex = results.figure(TABLE, "tex").read_text()
    assert "\\begin{tabular}" in tex and "\\textbf{" in tex and "\\%" in tex


def test_exact_share_is_relative_to_the_best_known_on_the_same_instance(results):
    rows = figures.load_method_rows(results)
    share = figures.exact_share(rows, 20)
    assert set(share["N"]) <= {12, 20}
    # the synthetic exact at the largest budget is the best known value of every instance
    greedy = share[(share["method"] == "greedy") & (share["budget_s"] == 2.0)]["share"]
    assert np.allclose(greedy, 0.8)
    assert (share[share["budget_s"] == 0.5]["share"] < share[share["budget_s"] == 2.0]["share"].max()).all()
    assert not share["reference_optimal"].any()  # no `optimal` column: nothing is claimed proven


def test_missing_results_are_skipped_with_a_message(results, capsys):
    results.llm_evaluation.unlink()
    results.prompt_length.unlink()
    messages = []
    done = figures.render_all(results.results, results.figures, log=messages.append)
    assert "fig_f_prompt_tokens" not in done and "fig_g_generalisation" not in done
    assert any(m.startswith("skip fig_f_prompt_tokens") and "prompt_length.csv" in m for m in messages)
    # the baseline figures still render without the LLM evaluation
    assert {"fig_a_utility_vs_n", "fig_b_anytime", "fig_c_exact_share", TABLE} <= set(done)


def test_cli_renders_and_reports(results, capsys):
    rc = main(["figures", "--results", str(results.results), "--figures", str(results.figures),
               "--only", "fig_f_prompt_tokens"])
    assert rc == 0
    assert results.figure("fig_f_prompt_tokens", "png").stat().st_size > 0
    assert "rendered 1/1" in capsys.readouterr().out


def test_cli_strict_fails_on_missing_results(tmp_path, capsys):
    (tmp_path / "results").mkdir()
    assert main(["figures", "--results", str(tmp_path / "results"), "--figures", str(tmp_path / "f"), "--strict"]) == 1
    assert main(["figures", "--results", str(tmp_path / "nowhere"), "--figures", str(tmp_path / "f")]) == 2
    assert "results directory not found" in capsys.readouterr().err
