"""Figures, the throughput table, the claims and the reproduction report, from tidy results files
alone. Inputs are small synthetic tables in a temporary directory (test fixtures, never written to
results/), plus the committed reference."""
from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lsa.cli import main
from lsa.policy.cold_start import wilson
from lsa.workflow.figures import FIGURE_NAMES, FIGURES, Results, render, render_all
from lsa.workflow.figures.claims import CLAIMS, RETIRED, Claim, claims_table, paired_ratio
from lsa.workflow.figures.evaluations import (
    exact_share,
    generalisation,
    instance_ratio,
    model_size,
    policy_ratio,
    strongest_classical,
    utility_vs_n,
)
from lsa.workflow.paths import Paths
from lsa.workflow.report import compare, readme_table, write_report
from lsa.workflow.stages import DEFAULT_GRPO_RUNS, DIRECT_RUNS, WorkflowSettings, write_if_changed
from lsa.workflow.stats import verdict

REPO = Path(__file__).resolve().parent.parent
METHODS = ["random", "greedy", "local-search", "ils", "exact", "pulp-partitioned", "dqn", "ppo"]
QUALITY = {"random": 0.5, "greedy": 0.8, "local-search": 0.9, "ils": 0.92, "exact": 1.0, "pulp-partitioned": 0.85,
           "dqn": 0.7, "ppo": 0.75}
GRID, BUDGETS, FIGURE_BUDGET_S = [(10, 4), (20, 4), (500, 8), (2000, 8)], [0.25, 0.5, 2.0, 5.0], 2.0
FAMILY_GRID = [(500, 8), (2000, 8)]
#: policy family -> (model size, parameters, quality); every family is trained with three seeds
FAMILIES = {"main": ("tiny", 1.1e6, 0.95), "size-micro": ("micro", 0.4e6, 0.8), "size-nano": ("nano", 0.1e6, 0.7)}
SEEDS = (0, 1, 2)
BEST_KNOWN_FACTOR = 1.1


def run_name(family: str, seed: int) -> str:
    return family if seed == SEEDS[0] else f"{family}-s{seed}"


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
                     "repaired": 0, "refused": refused, "fallback_random": False, "first_incumbent_s": 0.05,
                     **(extra or {})})
    return rows


def write_results(paths: Paths, policy_quality: float = 0.95) -> Paths:
    """A complete synthetic results directory in the format the workflow writes (every file a figure
    or a claim reads): baselines, the policy families x training seeds, logs, the stored settings."""
    paths.results.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(_rows(METHODS, GRID, BUDGETS, QUALITY)).to_csv(paths.evaluation, index=False)
    llm = []
    for family, (size, n_params, quality) in FAMILIES.items():
        quality = policy_quality if family == "main" else quality
        grid, budgets = (GRID, BUDGETS) if family == "main" else (FAMILY_GRID, [FIGURE_BUDGET_S])
        for seed in SEEDS:  # the training seeds spread the policy by +-2 %
            llm += _rows(["lsa-code"], grid, budgets, {"lsa-code": quality * (1 + 0.02 * (seed - 1))},
                         {"policy": family, "train_seed": seed, "run": run_name(family, seed), "model_size": size,
                          "n_params": n_params})
    llm += _rows(["lsa-code"], FAMILY_GRID, [FIGURE_BUDGET_S], {"lsa-code": 0.6},
                 {"policy": "base", "train_seed": None, "run": "base", "model_size": "tiny", "n_params": 1.1e6})
    pd.DataFrame(llm).assign(train_n_max=1000, train_regimes="dense,ultra-dense").to_csv(paths.llm_evaluation,
                                                                                        index=False)
    # best-known utilities 10 % above exact's quality; one instance's below an evaluated run (raised by it)
    best = [{"instance": f"{regime}-N{n}-K{k}-s{seed}", "N": n, "K": k, "regime": regime, "seed": seed,
             "best_known": n * (3.0 if regime == "sparse" else 1.0) * (1 + 0.05 * seed) * BEST_KNOWN_FACTOR,
             "method": "local-search", "budget_s": 30.0, "method_seed": 0, "proven_optimal": False, "runs": 2,
             "wall_s": 60.0, "load_1min": 1.0, "cache_key": "k"}
            for (n, k) in GRID for regime in ("sparse", "dense", "ultra-dense") for seed in (0, 1, 2)]
    best[0]["best_known"] = 1.0
    pd.DataFrame(best).to_csv(paths.best_known, index=False)
    steps = np.arange(1, 31)
    main_runs = [run_name("main", seed) for seed in SEEDS]
    for run in dict.fromkeys([*DEFAULT_GRPO_RUNS, *main_runs, *DIRECT_RUNS]):
        paths.grpo_log(run).parent.mkdir(parents=True, exist_ok=True)
        valid = np.zeros(len(steps)) if run == "direct-cold" else np.linspace(0.6, 1.0, len(steps))
        pd.DataFrame({"step": steps, "r_struct": valid, "r_perf": np.linspace(0.1, 0.6, len(steps)),
                      "r_depth": -0.1, "reward": valid + 1.0, "valid_share": valid, "completion_length": 120.0,
                      "time_s": steps * 2.0}).to_csv(paths.grpo_log(run), index=False)
    for algorithm, seed in (("dqn", 0), ("ppo", 0), ("ppo", 1)):
        episodes = np.arange(200)
        pd.DataFrame({"algorithm": algorithm, "seed": seed, "episode": episodes, "timesteps": 40 * (episodes + 1),
                      "instance": "i", "N": 40, "K": 4, "regime": "dense", "episode_reward": 10.0,
                      "greedy_utility": 12.0, "reward_vs_greedy": 0.6 + 0.3 * episodes / 200 + 0.01 * seed,
                      "wall_s": 0.01 * episodes}).to_csv(paths.rl_log(algorithm, seed), index=False)
    pd.DataFrame([{"instance": f"dense-N{n}", "N": n, "K": 8, "regime": "dense", "seed": 0, "serializer": s,
                   "tokens": min(n * 3, 160) if s == "hierarchical" else n * 40, "max_tokens": 160,
                   "within_budget": True, "chars": n * 100, "tokenizer": "results/models/base-tiny",
                   **({"top_pairs": 10, "top_pairs_named": 8 if n < 1000 else 7, "top_links": 10, "top_links_named": 5}
                      if s == "hierarchical" else {})}
                  for n in (10, 100, 1000) for s in ("hierarchical", "naive")]).to_csv(paths.prompt_length, index=False)
    cold = [("code", 20, 40, True), ("direct", 20, 5, True), ("code", 200, 30, True), ("direct", 200, 0, False)]
    pd.DataFrame([{"paradigm": paradigm, "N": n, "K": 8, "n": 64, "valid": k, "valid_share": k / 64,
                   "valid_lo": wilson(k, 64)[0], "valid_hi": wilson(k, 64)[1], "valid_upper": k / 64,
                   "valid_upper_hi": wilson(k, 64)[1], "testable": testable}
                  for paradigm, n, k, testable in cold]).to_csv(paths.cold_start_summary, index=False)
    write_lora_tables(paths)
    write_primitives_tables(paths)
    write_if_changed(paths.stage_config("figures"), {
        "figures": {"budget_s": FIGURE_BUDGET_S, "anytime_n": 2000, "table_n": 2000, "exact_max_n": 20},
        "dynamics_runs": list(DEFAULT_GRPO_RUNS), "families": {f: v[0] for f, v in FAMILIES.items()},
        "family_runs": {f: [run_name(f, seed) for seed in SEEDS] for f in FAMILIES}, "training_seeds": list(SEEDS),
        "training": {"train_regimes": ["dense", "ultra-dense"], "train_n_max": 1000, "unseen_regimes": ["sparse"]}})
    return paths


def write_primitives_tables(paths: Paths, quality: float = 0.9) -> Paths:
    """The primitives-only arm's tables: lsa-code of the arm on the N = 2000 instances at T = 0.5 and
    2 s (those of the baseline evaluation), and its program census (seed programs and samples)."""
    rows = _rows(["lsa-code"], [(2000, 8)], [0.5, 2.0], {"lsa-code": quality},
                 {"policy": "primitives", "train_seed": 0, "run": "primitives", "model_size": "tiny",
                  "vocabulary": "primitives", "programs_tried": 10, "programs_ok": 9, "programs_valid": 8,
                  "programs_outside_vocabulary": 1})
    pd.DataFrame(rows).to_csv(paths.primitives_evaluation, index=False)
    pd.DataFrame([{"origin": "seed", "rank": 0, "calls": "greedy;descend;kick", "complete_searches": "",
                   "program": "def assign(net, rng): ..."},
                  {"origin": "sampled", "rank": 0, "calls": "greedy;descend", "complete_searches": "",
                   "program": "def assign(net, rng): ..."}]).to_csv(paths.primitives_programs, index=False)
    return paths


def write_lora_tables(paths: Paths, adapter_quality: float = 0.85, r_perf=(-1.0, -0.4)) -> Paths:
    """The LoRA-GRPO stage's tables: its per-step log (beside the embedded runs') and the adapter's
    evaluation (lsa-code with the adapter, greedy and local-search on dense instances at N = 200 and
    2000, T = 2, 5, 30 s; the N = 2000 instances are the baseline evaluation's)."""
    steps = np.arange(1, 31)
    valid = np.linspace(0.0, 0.3, len(steps))
    pd.DataFrame({"step": steps, "r_struct": 0.4 + valid, "r_perf": np.linspace(*r_perf, len(steps)), "r_depth": -0.2,
                  "reward": valid, "reward_std": 0.3, "valid_share": valid, "time_s": steps * 20.0, "paradigm": "code",
                  "G": 4}).to_csv(paths.lora_grpo_log, index=False)
    quality = {"lsa-code": adapter_quality, "greedy": 0.8, "local-search": 0.9}
    rows = [r for r in _rows(list(quality), [(200, 8), (2000, 8)], [2.0, 5.0, 30.0], quality) if r["regime"] == "dense"]
    for r in rows:
        if r["method"] == "lsa-code":
            r.update(policy="lora-grpo", run="lora-llm", base_model="smollm2-135m", n_params=134515008, train_steps=30)
        else:
            r.update(policy=r["method"])
    pd.DataFrame(rows).to_csv(paths.lora_evaluation, index=False)
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
    rows = Results(results.results).method_rows
    with_best_known = exact_share(rows, 20)       # the best-known stage's value (1.1 x exact's) is the reference
    greedy = with_best_known[(with_best_known["method"] == "greedy") & (with_best_known["budget_s"] == 5.0)
                             & (with_best_known["instance"] != "sparse-N10-K4-s0")]["share"]
    assert np.allclose(greedy, 0.8 * (1 + 0.02 * np.log(6.0)) / BEST_KNOWN_FACTOR)
    share = exact_share(rows.drop(columns=["best_known", "best_known_proven", "share_of_best_known"]), 20)
    assert set(share["N"]) <= {10, 20}
    # the synthetic exact at the largest budget is the best known value of every instance
    greedy = share[(share["method"] == "greedy") & (share["budget_s"] == 5.0)]["share"]
    assert np.allclose(greedy, 0.8)
    assert (share[share["budget_s"] == 0.5]["share"] < share[share["budget_s"] == 5.0]["share"].max()).all()
    assert not share["reference_optimal"].any()  # no `optimal` column: nothing is claimed proven


def test_policy_ratio_is_to_the_strongest_classical_method_of_each_cell(results):
    res = Results(results.results)
    best = strongest_classical(res.classical_rows)
    assert set(best[best["N"] <= 20]["strongest"]) == {"exact"}          # exact refuses N > 20
    assert set(best[best["N"] > 20]["strongest"]) == {"ils"}               # the best hand-written method
    assert "dqn" not in set(res.classical_rows["method"])                  # RL baselines are not classical
    main = policy_ratio(res).query("policy == 'main'")
    assert set(main["train_seed"]) == set(SEEDS)                           # one row per training seed
    per_instance = instance_ratio(main)                                    # ... averaged per instance
    assert np.allclose(per_instance[per_instance["N"] <= 20]["ratio"], 0.95 / 1.0)
    assert np.allclose(per_instance[per_instance["N"] > 20]["ratio"], 0.95 / 0.92)


def test_a_policy_enters_as_its_mean_over_training_seeds_with_their_spread(results):
    res = Results(results.results)
    a = utility_vs_n(res)
    assert a["seeds"] == 3
    code = a["relative"].query("method == 'lsa-code'")
    assert np.allclose(code["mean"], 100 * 0.95 / 0.8) and (code["n"] == 3).all()   # n: instances, not runs
    spread = a["relative_spread"]
    assert np.allclose(spread["low"], 100 * 0.95 * 0.98 / 0.8) and np.allclose(spread["high"], 100 * 0.95 * 1.02 / 0.8)
    summary, per_seed = model_size(res)
    assert set(summary["policy"]) == {"main", "size-micro", "size-nano", "base"}
    assert set(summary["N"]) == {500, 2000}                                 # the family grid only
    assert (per_seed.groupby(["policy", "N"])["train_seed"].nunique() == 3).all()
    assert generalisation(res)["training"]["unseen_regimes"] == ["sparse"]


def test_figure_data_needs_no_matplotlib(results):
    code = ("import sys; from lsa.workflow.figures.claims import claims_table; "
            "from lsa.workflow.figures.data import Results; from lsa.workflow.figures.evaluations import throughput_table; "
            f"r = Results({str(results.results)!r}); t = claims_table(r); throughput_table(r); "
            "assert 'matplotlib' not in sys.modules, 'matplotlib was imported'; print(t['verdict'].notna().sum())")
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


#: figures whose inputs the committed reference (made by older code) lacks: the next full run adds them
NOT_IN_REFERENCE = ("fig_d_rl_training", "fig_i_primitives", "table_primitives")


def test_the_committed_reference_renders(tmp_path):
    """`lsa figures` (default: the reference) keeps working on the committed results."""
    out = tmp_path / "figures"
    names = [n for n in FIGURE_NAMES if n not in NOT_IN_REFERENCE]
    reference = str(Paths.reference(REPO).results)
    # one run of every figure (the default, not --strict: it returns 0 whatever the reference lacks) that
    # renders each figure the reference has inputs for, completely (what --strict on those would check)
    assert main(["figures", "--results", reference, "--figures", str(out)]) == 0
    rendered = {p.name for p in out.iterdir()}
    expected = {p.name for n in names for p in FIGURES[n].outputs(Paths(out, out))}
    optional = {p.name for n in NOT_IN_REFERENCE for p in FIGURES[n].outputs(Paths(out, out))}
    assert expected <= rendered <= expected | optional, sorted(rendered ^ expected)


# ---------------------------------------------------------------------------------- claims and the report
def test_a_verdict_is_read_from_the_interval_not_the_mean():
    assert verdict(1.01, 1.05, 15, 1.0) == "holds"
    assert verdict(0.99, 1.05, 15, 1.0) == "not shown"          # mean above 1, interval spans it
    assert verdict(0.95, 0.99, 15, 1.0) == "fails"
    assert verdict(1.0, 1.0, 5, 1.0) == "fails"                 # a tie is no win for "beats"...
    assert verdict(1.0, 1.0, 5, 1.0, strict=False) == "holds"   # ... but is "at least as good"
    assert verdict(2.0, 2.0, 1, 1.0) == "not shown"             # one value has no interval
    assert verdict(0.1, 0.2, 9, 0.3, above=False) == "holds"


def test_every_claim_is_measurable_on_complete_results(results):
    table = claims_table(Results(results.results)).set_index("id")
    assert table["verdict"].notna().all(), table[table["verdict"].isna()]["detail"]
    assert set(table["verdict"]) <= {"holds", "not shown", "fails"}
    assert table.loc["beats-partitioned-ultra-dense", "value"] == pytest.approx(0.95 / 0.85)
    assert table.loc["beats-partitioned-ultra-dense", "verdict"] == "holds"
    assert table.loc["beats-strongest-dense", "value"] == pytest.approx(0.95 / 0.92)  # ILS is the strongest
    assert table.loc["beats-strongest-dense", "n"] == 3                  # instances (seed means), not runs
    assert table.loc["beats-strongest-dense", "verdict"] == "holds"      # 1.033 > 1.02 on every instance
    assert table.loc["rl-dqn-beats-greedy", "verdict"] == "fails"        # 0.7 < 0.8
    assert table.loc["beats-dqn", "value"] == pytest.approx(0.95 / 0.7)
    assert table.loc["larger-models-better", "verdict"] == "holds"       # nano 0.7 < micro 0.8 < tiny 0.95
    assert table.loc["larger-models-better", "value"] == pytest.approx((0.8 - 0.7) / 0.92)  # the weakest step
    assert table.loc["generalises-unseen-density", "value"] == pytest.approx(0.95 / 0.92 - 0.6 / 0.92)
    assert table.loc["generalises-unseen-density", "verdict"] == "holds"  # paired difference to the base
    assert table.loc["anytime-no-fallback", "value"] == 0 and table.loc["anytime-no-fallback", "verdict"] == "holds"
    assert "T = 0.5 s" in table.loc["anytime-vs-greedy", "detail"]
    assert table.loc["prompt-keeps-strongest-pairs", "value"] == pytest.approx(100 * (8 + 8 + 7) / 30)
    assert table.loc["prompt-keeps-strongest-pairs", "verdict"] == "holds"  # 77 % [62, 91] >= 50 %
    row = table.loc["near-optimal-small"]
    assert row["low"] <= row["value"] <= row["high"] and row["n"] == 3 * 2 * 3  # regimes x N <= 20 x seeds
    # claims whose verdict the set-up fixes are out of the registry, with the reason
    assert not set(RETIRED) & set(table.index) and "pretrained only on programs" in RETIRED["code-needs-no-cold-start"]
    assert all("interval" in c.shape or "every run" in c.shape for c in CLAIMS)  # every shape says how it is read


def test_share_of_best_known_in_rows_table_and_claims(results):
    res = Results(results.results)
    rows = res.method_rows
    assert rows["share_of_best_known"].notna().all()
    best, updates = res.limit                   # the too-low best-known was raised to the best evaluated run
    raised = best[best["updated_by"] != ""]
    assert list(raised["instance"]) == ["sparse-N10-K4-s0"] and set(updates["instance"]) == {"sparse-N10-K4-s0"}
    assert raised["best_known"].iloc[0] == pytest.approx(rows[rows["instance"] == "sparse-N10-K4-s0"]["utility"].max())
    assert (rows.loc[rows["instance"] == "sparse-N10-K4-s0", "share_of_best_known"] <= 1 + 1e-12).all()
    table = pd.read_csv(io.StringIO(render_texts("table_throughput", res)["csv"]))
    code = table[(table["method"] == "lsa-code") & (table["regime"] == "dense")].iloc[0]
    expected = 100 * 0.95 * (1 + 0.02 * np.log(FIGURE_BUDGET_S + 1)) / BEST_KNOWN_FACTOR
    assert code["share_of_best_known_pct"] == pytest.approx(expected)
    claims = claims_table(res).set_index("id")
    assert claims.loc["limit-dense", "value"] == pytest.approx(expected / 100)
    assert claims.loc["limit-dense", "verdict"] == "fails"       # 0.88 on every instance: far below 0.99
    assert "local-search" in claims.loc["limit-dense", "detail"] and claims.loc["limit-dense", "n"] == 3
    assert "T = 0.5 s" in claims.loc["limit-strict-budget", "detail"]
    md = render_texts("table_best_known", res)["md"]
    assert "sparse-N10-K4-s0" in md and "exceeded" in md


def render_texts(name: str, res: Results) -> dict:
    return FIGURES[name].draw(res)


def _main_policy_as(results: Paths, dest: Path, method: str, factor=None) -> Results:
    """A copy of `results` in which the main policy's utility is `method`'s on each of its rows,
    times `factor` (per row of the LLM table; None: 1)."""
    copy = Paths(dest, dest.with_name(dest.name + "-figures"))
    shutil.copytree(results.results, copy.results)
    llm = pd.read_csv(copy.llm_evaluation)
    evaluation = pd.read_csv(copy.evaluation).set_index(["instance", "budget_s", "method"])["utility"]
    main_rows = llm["policy"] == "main"
    scale = pd.Series(1.0, index=llm.index) if factor is None else factor(llm)
    llm.loc[main_rows, "utility"] = [evaluation[(i, b, method)] * f for i, b, f in
                                     zip(llm.loc[main_rows, "instance"], llm.loc[main_rows, "budget_s"],
                                         scale[main_rows])]
    llm.to_csv(copy.llm_evaluation, index=False)
    return Results(copy.results)


def test_a_tie_is_not_a_win(results, tmp_path):
    """lsa-code equal to the other method on every instance: "beats" fails, "at least as good" holds."""
    table = claims_table(_main_policy_as(results, tmp_path / "tie", "ppo")).set_index("id")
    assert table.loc["beats-ppo", "value"] == pytest.approx(1.0)
    assert table.loc["beats-ppo", "verdict"] == "fails"


def test_a_claim_that_is_not_shown_when_the_interval_spans_the_threshold(results, tmp_path):
    """Spread lsa-code around dqn * 1.0 +- 20 % per instance: the mean ratio is above 1, the interval spans 1."""
    def spread(llm):
        return llm["instance"].map(lambda i: {"sparse": 1.25, "dense": 0.8, "ultra-dense": 1.0}[i.rsplit("-N", 1)[0]])

    row = claims_table(_main_policy_as(results, tmp_path / "noisy", "dqn", spread)).set_index("id").loc["beats-dqn"]
    assert row["value"] > 1 and row["low"] < 1 < row["high"] and row["verdict"] == "not shown"


def test_a_missing_input_leaves_a_claim_unmeasured_not_failed(results):
    results.prompt_length.unlink()
    table = claims_table(Results(results.results)).set_index("id")
    row = table.loc["prompt-keeps-strongest-pairs"]
    assert row["verdict"] is None and "not measurable" in row["detail"]
    assert table.loc["beats-random", "verdict"] is not None


def test_report_compares_reference_and_reproduction(results, tmp_path):
    worse = write_results(Paths(tmp_path / "worse", tmp_path / "wf"), policy_quality=0.8)  # below pulp (0.85)
    table = compare(results.results, worse.results).set_index("id")
    row = table.loc["beats-partitioned-ultra-dense"]
    assert row["status"] == "NOT reproduced" and not row["same_verdict"] and not row["intervals_overlap"]
    assert table.loc["prompt-keeps-strongest-pairs", "status"] == "reproduced"
    files = write_report(results.results, worse.results, tmp_path / "report")
    assert {p.name for p in (tmp_path / "report").iterdir()} >= {"report.md", "report.csv", "report.pdf",
                                                                 "report.png", "report.csv.provenance.json"}
    md = files["md"].read_text()
    assert "| NOT reproduced |" in md and "beats-partitioned-ultra-dense" in md
    assert "with a changed verdict" in md and "code-needs-no-cold-start" in md  # the retired claims, with why
    prov = json.loads((tmp_path / "report" / "report.csv.provenance.json").read_text())
    assert prov["reference"] == str(results.results) and len(prov["claims"]) == len(CLAIMS)


def test_adding_a_claim_is_one_entry(results):
    extra = Claim("beats-greedy", "LSA beats greedy", "a", *paired_ratio("lsa-code", "greedy", "dense"))
    table = compare(results.results, results.results, [*CLAIMS, extra]).set_index("id")
    assert table.loc["beats-greedy", "status"] == "reproduced"
    assert table.loc["beats-greedy", "reference_value"] == pytest.approx(0.95 / 0.8)


def test_a_claim_the_reference_lacks_is_new(results, tmp_path):
    """A reference made by older code (no RL baselines, one training seed) does not fail those claims."""
    old = Paths(tmp_path / "old", tmp_path / "old-figures")
    shutil.copytree(results.results, old.results)
    evaluation = pd.read_csv(old.evaluation)
    evaluation[~evaluation["method"].isin(["dqn", "ppo"])].to_csv(old.evaluation, index=False)
    table = compare(old.results, results.results).set_index("id")
    assert table.loc["beats-dqn", "status"] == "new"
    assert table.loc["rl-ppo-beats-random", "status"] == "new"
    assert table.loc["beats-ils", "status"] == "reproduced"


def _reference_copy(tmp_path) -> Path:
    copy = tmp_path / "results"
    shutil.copytree(Paths.reference(REPO).results, copy, ignore=shutil.ignore_patterns("notebooks", "logs", "models",
                                                                                       "runs"))
    return copy


def test_a_moved_interval_is_not_reproduced_even_with_the_same_verdict(tmp_path, capsys):
    """The committed reference against a copy whose lsa-code utilities are 10 % lower: beats-dqn still
    holds (1.18 -> 1.06) but its interval no longer overlaps the reference's: NOT reproduced."""
    ref, copy = Paths.reference(REPO).results, _reference_copy(tmp_path)
    llm = pd.read_csv(copy / "llm_evaluation.csv")
    llm.loc[llm["policy"] == "main", "utility"] *= 0.9
    llm.to_csv(copy / "llm_evaluation.csv", index=False)
    table = compare(ref, copy).set_index("id")
    row = table.loc["beats-dqn"]
    assert row["reference_verdict"] == row["reproduced_verdict"] == "holds"
    assert not row["intervals_overlap"] and row["status"] == "NOT reproduced"
    assert table.loc["rl-dqn-beats-random", "status"] == "reproduced"      # untouched: the same numbers
    rc = main(["report", "--reference", str(ref), "--results", str(copy), "--output", str(tmp_path / "report")])
    assert rc == 0 and not re.search(r"(?<!\d)0 NOT reproduced", capsys.readouterr().out)
    assert main(["report", "--reference", str(tmp_path / "nowhere"), "--results", str(copy),
                 "--output", str(tmp_path / "r2")]) == 2


def test_an_equivalence_margin_lets_intervals_lie_apart(results, tmp_path):
    worse = write_results(Paths(tmp_path / "worse", tmp_path / "wf"), policy_quality=0.94)
    claim = next(c for c in CLAIMS if c.id == "beats-dqn")
    strict = compare(results.results, worse.results, [claim]).set_index("id").loc["beats-dqn"]
    assert strict["same_verdict"] and strict["status"] == "NOT reproduced"    # 1.357 vs 1.343, zero width
    loose = Claim(**{**claim.__dict__, "margin": 0.05})
    assert compare(results.results, worse.results, [loose]).set_index("id").loc["beats-dqn", "status"] == "reproduced"


def _section(text: str, title: str) -> str:
    start = text.index(f"## {title}\n")
    return text[start:text.index("\n## ", start + 1)]


def _table_lines(text: str, header_start: str) -> list[str]:
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    end = next((i for i in range(first, len(lines)) if not lines[i].startswith("|")), len(lines))
    return lines[first:end]


def test_readme_tables_are_the_committed_report_and_table():
    """Every number in the README's claims table and throughput table is the committed run's:
    the claims table is `lsa report --markdown-table` of reference/report, the throughput table is
    reference/figures/table_throughput.md."""
    section = _section((REPO / "README.md").read_text(), "What the committed run shows")
    reference = Paths.reference(REPO)
    generated = readme_table(REPO / "reference" / "report" / "report.csv", reference.results)
    assert _table_lines(section, "| claim |") == generated.splitlines()
    committed = (reference.figures / "table_throughput.md").read_text()
    assert _table_lines(section, "| method |") == _table_lines(committed, "| method |")
    report = pd.read_csv(REPO / "reference" / "report" / "report.csv")
    assert set(report["id"]) == {c.id for c in CLAIMS}              # the committed report is of this registry


def test_report_markdown_table_cli(capsys, tmp_path):
    reference = Paths.reference(REPO)
    assert main(["report", "--markdown-table", "--results", str(reference.results),
                 "--output", str(REPO / "reference" / "report")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("| claim |") and "N = 2000" in out and "table_n" not in out
    assert main(["report", "--markdown-table", "--results", str(reference.results),
                 "--output", str(tmp_path / "none")]) == 2
