"""Figures, the throughput table, the claims and the reproduction report, from tidy results files
alone. Inputs are small synthetic tables in a temporary directory (test fixtures, never written to
results/), plus the committed reference."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lsa.cli import main
from lsa.workflow.figures import FIGURE_NAMES, FIGURES, Results, render, render_all
from lsa.workflow.figures.claims import CLAIMS, Claim, claims_table, paired_ratio
from lsa.workflow.figures.data import exact_share, policy_ratio, strongest_classical
from lsa.workflow.paths import Paths
from lsa.workflow.report import compare, write_report
from lsa.workflow.stages import DEFAULT_GRPO_RUNS, DIRECT_RUNS, WorkflowSettings

REPO = Path(__file__).resolve().parent.parent
METHODS = ["random", "greedy", "local-search", "exact", "pulp-partitioned"]
QUALITY = {"random": 0.5, "greedy": 0.8, "local-search": 0.9, "exact": 1.0, "pulp-partitioned": 0.85}


def _rows(methods, grid, budgets, quality, extra=None):
    rows = []
    for (n, k), regime, seed, budget, method in [(g, r, s, b, m) for g in grid for r in ("sparse", "dense", "ultra-dense")
                                                  for s in (0, 1, 2) for b in budgets for m in methods]:
        base = n * (3.0 if regime == "sparse" else 1.0)
        refused = "too large" if method == "exact" and n > 20 else ""
        util = base * quality[method] * (1 + 0.05 * seed) * (1 + 0.02 * np.log(budget + 1))
        rows.append({"instance": f"{regime}-N{n}-K{k}-s{seed}", "N": n, "K": k, "regime": regime, "seed": seed,
                     "method": method, "budget_s": budget, "utility": util, "throughput": util * 1e6,
                     "p5_rate": 1.0, "jain": 0.5, "conflicts": 3, "runtime_s": budget, "valid": True,
                     "repaired": 0, "refused": refused, "fallback_random": False, **(extra or {})})
    return rows


def write_results(paths: Paths, policy_quality: float = 0.88) -> Paths:
    """A complete synthetic results directory (every file a figure or a claim reads)."""
    paths.results.mkdir(parents=True, exist_ok=True)
    grid, budgets = [(12, 4), (20, 4), (200, 8), (2000, 8)], [0.25, 0.5, 2.0, 5.0]
    pd.DataFrame(_rows(METHODS, grid, budgets, QUALITY)).to_csv(paths.evaluation, index=False)
    llm = [{**r, "policy": r["method"]} for r in _rows(["random", "greedy"], grid, budgets, QUALITY)]
    for policy, q, size, n_params in (("base", 0.6, "tiny", 1.1e6), ("main", policy_quality, "tiny", 1.1e6),
                                      ("size-micro", 0.7, "micro", 0.4e6)):
        llm += _rows(["lsa-code"], grid, budgets, {"lsa-code": q},
                     {"policy": policy, "model_size": size, "n_params": n_params})
    pd.DataFrame(llm).assign(train_n_max=50, train_regimes="dense").to_csv(paths.llm_evaluation, index=False)
    steps = np.arange(1, 31)
    for run in [*DEFAULT_GRPO_RUNS, *DIRECT_RUNS]:
        paths.grpo_log(run).parent.mkdir(parents=True, exist_ok=True)
        valid = np.zeros(len(steps)) if run == "direct-cold" else np.linspace(0.6, 1.0, len(steps))
        pd.DataFrame({"step": steps, "r_struct": valid, "r_perf": np.linspace(0.1, 0.6, len(steps)),
                      "r_depth": -0.1, "reward": valid + 1.0, "valid_share": valid, "completion_length": 120.0,
                      "time_s": steps * 2.0}).to_csv(paths.grpo_log(run), index=False)
    pd.DataFrame([{"instance": f"dense-N{n}", "N": n, "K": 8, "regime": "dense", "seed": 0, "serializer": s,
                   "tokens": min(n * 3, 160) if s == "hierarchical" else n * 40, "max_tokens": 160,
                   "within_budget": True, "chars": n * 100, "tokenizer": "results/models/base-tiny"}
                  for n in (10, 100, 1000) for s in ("hierarchical", "naive")]).to_csv(paths.prompt_length, index=False)
    return paths


@pytest.fixture
def results(tmp_path) -> Paths:
    return write_results(Paths(tmp_path / "results", tmp_path / "figures"))


# ---------------------------------------------------------------------------------- figures
def test_every_figure_and_the_table_render_from_results(results):
    t0 = time.perf_counter()
    done = render_all(results.results, results.figures, strict=True, log=lambda *_: None)
    assert time.perf_counter() - t0 < 60
    assert set(done) == set(FIGURE_NAMES) == set(FIGURES)
    for entry in FIGURES.values():
        assert entry.caption and all(p.is_file() for p in entry.inputs(results, WorkflowSettings.from_config({})))
        for f in entry.outputs(results):
            assert f.is_file() and f.stat().st_size > 0, f


def test_rendering_is_deterministic(results, tmp_path):
    """Re-rendering the same results gives the same bytes (so `make figures` leaves git clean)."""
    render_all(results.results, results.figures, only=["fig_f_prompt_tokens"], log=lambda *_: None)
    first = {p.name: p.read_bytes() for p in results.figures.iterdir()}
    render_all(results.results, results.figures, only=["fig_f_prompt_tokens"], log=lambda *_: None)
    assert {p.name: p.read_bytes() for p in results.figures.iterdir()} == first


def test_throughput_table_in_three_formats(results):
    render("table_throughput", Results(results.results), results.figures)
    tidy = pd.read_csv(results.figure("table_throughput", "csv"))
    assert set(tidy["regime"]) == {"sparse", "dense", "ultra-dense"}
    assert "lsa-code" in set(tidy["method"])        # the trained policy sits beside the baselines
    assert "exact" not in set(tidy["method"])       # refused at N = 2000, not counted
    assert (tidy["ci_low_mbps"] <= tidy["throughput_mbps"]).all() and (tidy["runs"] == 3).all()
    md = results.figure("table_throughput", "md").read_text()
    assert "| method | sparse | dense | ultra-dense |" in md and "**" in md
    tex = results.figure("table_throughput", "tex").read_text()
    assert "\\begin{tabular}" in tex and "\\textbf{" in tex and "\\%" in tex


def test_exact_share_is_relative_to_the_best_known_on_the_same_instance(results):
    share = exact_share(Results(results.results).method_rows, 20)
    assert set(share["N"]) <= {12, 20}
    # the synthetic exact at the largest budget is the best known value of every instance
    greedy = share[(share["method"] == "greedy") & (share["budget_s"] == 5.0)]["share"]
    assert np.allclose(greedy, 0.8)
    assert (share[share["budget_s"] == 0.5]["share"] < share[share["budget_s"] == 5.0]["share"].max()).all()
    assert not share["reference_optimal"].any()  # no `optimal` column: nothing is claimed proven


def test_policy_ratio_is_to_the_strongest_classical_method_of_each_cell(results):
    res = Results(results.results)
    best = strongest_classical(res.classical_rows)
    assert set(best[best["N"] <= 20]["strongest"]) == {"exact"}          # exact refuses N > 20
    assert set(best[best["N"] > 20]["strongest"]) == {"local-search"}
    main = policy_ratio(res).query("policy == 'main'")
    assert np.allclose(main[main["N"] <= 20]["ratio"], 0.88 / 1.0)
    assert np.allclose(main[main["N"] > 20]["ratio"], 0.88 / 0.9)


def test_figure_data_needs_no_matplotlib(results):
    code = ("import sys; from lsa.workflow.figures.claims import claims_table; "
            "from lsa.workflow.figures.data import Results, throughput_table; "
            f"r = Results({str(results.results)!r}); t = claims_table(r); throughput_table(r); "
            "assert 'matplotlib' not in sys.modules, 'matplotlib was imported'; print(t['holds'].notna().sum())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) == len(CLAIMS)


def test_missing_results_are_skipped_with_a_message(results):
    results.llm_evaluation.unlink()
    results.prompt_length.unlink()
    messages = []
    done = render_all(results.results, results.figures, log=messages.append)
    assert "fig_f_prompt_tokens" not in done and "fig_g_generalisation" not in done
    assert any(m.startswith("skip fig_f_prompt_tokens") and "prompt_length.csv" in m for m in messages)
    # the baseline figures still render without the LLM evaluation
    assert {"fig_a_utility_vs_n", "fig_b_anytime", "fig_c_exact_share", "table_throughput"} <= set(done)


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


def test_the_committed_reference_renders(tmp_path):
    """`lsa figures` (default: the reference) keeps working on the committed results."""
    out = tmp_path / "figures"
    assert main(["figures", "--results", str(Paths.reference(REPO).results), "--figures", str(out), "--strict"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for e in FIGURES.values() for p in e.outputs(
        Paths(out, out)))


# ---------------------------------------------------------------------------------- claims and the report
def test_every_claim_is_measurable_on_complete_results(results):
    table = claims_table(Results(results.results)).set_index("id")
    assert table["holds"].notna().all(), table[table["holds"].isna()]["detail"]
    assert table.loc["beats-partitioned-ultra-dense", "value"] == pytest.approx(0.88 / 0.85)
    assert table.loc["beats-partitioned-ultra-dense", "holds"]
    assert not table.loc["beats-local-search-ultra-dense", "holds"]      # 0.88 < 0.9
    assert table.loc["code-needs-no-cold-start", "holds"]                # direct-cold has no valid output
    assert table.loc["larger-models-better", "holds"]                    # tiny 0.88 > micro 0.7
    row = table.loc["near-optimal-small"]
    assert row["low"] <= row["value"] <= row["high"] and row["n"] == 3 * 2 * 3  # regimes x N <= 20 x seeds


def test_a_missing_input_leaves_a_claim_unmeasured_not_failed(results):
    results.prompt_length.unlink()
    table = claims_table(Results(results.results)).set_index("id")
    assert table.loc["prompt-bounded", "holds"] is None and "not measurable" in table.loc["prompt-bounded", "detail"]
    assert table.loc["beats-random", "holds"] is not None


def test_report_compares_reference_and_reproduction(results, tmp_path):
    worse = write_results(Paths(tmp_path / "worse", tmp_path / "wf"), policy_quality=0.8)  # below pulp (0.85)
    table = compare(results.results, worse.results).set_index("id")
    assert table.loc["beats-partitioned-ultra-dense", "status"] == "NOT reproduced"
    assert not table.loc["beats-partitioned-ultra-dense", "intervals_overlap"]
    assert table.loc["prompt-bounded", "status"] == "reproduced"
    files = write_report(results.results, worse.results, tmp_path / "report")
    assert {p.name for p in (tmp_path / "report").iterdir()} >= {"report.md", "report.csv", "report.pdf",
                                                                 "report.png", "report.csv.provenance.json"}
    md = files["md"].read_text()
    assert "| NOT reproduced |" in md and "beats-partitioned-ultra-dense" in md
    prov = json.loads((tmp_path / "report" / "report.csv.provenance.json").read_text())
    assert prov["reference"] == str(results.results) and len(prov["claims"]) == len(CLAIMS)


def test_adding_a_claim_is_one_entry(results):
    extra = Claim("beats-greedy", "LSA beats greedy", "a", *paired_ratio("lsa-code", "greedy", "dense"))
    table = compare(results.results, results.results, [*CLAIMS, extra]).set_index("id")
    assert table.loc["beats-greedy", "status"] == "reproduced"
    assert table.loc["beats-greedy", "reference_value"] == pytest.approx(0.88 / 0.8)


def test_report_cli_on_the_reference(tmp_path, capsys):
    ref = Paths.reference(REPO).results
    copy = tmp_path / "results"
    shutil.copytree(ref, copy, ignore=shutil.ignore_patterns("notebooks", "logs", "models", "runs"))
    rc = main(["report", "--reference", str(ref), "--results", str(copy), "--output", str(tmp_path / "report")])
    assert rc == 0
    assert "| NOT reproduced |" not in (tmp_path / "report" / "report.md").read_text()
    assert "0 NOT reproduced" in capsys.readouterr().out
    assert main(["report", "--reference", str(tmp_path / "nowhere"), "--results", str(copy),
                 "--output", str(tmp_path / "r2")]) == 2
