"""Best-known utilities (the limit): proven optima where `exact` completes, long runs elsewhere, a
cache that a rerun reads and a changed setting invalidates, evaluated runs above a best-known raise
it, and bad settings are one clear error."""
from __future__ import annotations

import pandas as pd
import pytest

from lsa.cli import main
from lsa.errors import ConfigError
from lsa.methods.exact import brute_force
from lsa.sim.generate import generate_ppp
from lsa.sim.params import network_config
from lsa.workflow.best_known import (
    COLUMNS,
    best_known_config,
    compute_best_known,
    raise_to_evaluated,
    with_share,
)

CONFIG = {"evaluation": {"instances": [{"N": [6], "K": 3, "regimes": ["dense"], "seeds": [0]},
                                       {"N": [80], "K": 4, "regimes": ["ultra-dense"], "seeds": [1]}]},
          "best_known": {"budgets_s": {100: 0.2}, "exact_max_n": 10, "exact_budget_s": 5.0, "workers": 1}}


def test_exact_proves_small_optima_and_long_runs_cover_the_rest(tmp_path):
    table = compute_best_known(CONFIG, tmp_path / "cache", progress=False)
    assert list(table.columns) == COLUMNS and list(table["instance"]) == ["dense-N6-K3-s0", "ultra-dense-N80-K4-s1"]
    small, large = table.iloc[0], table.iloc[1]
    _, optimum = brute_force(generate_ppp(6, 3, "dense", 0, network_config(CONFIG)))
    assert small["proven_optimal"] and small["method"] == "exact" and small["runs"] == 1   # nothing else ran
    assert small["best_known"] == pytest.approx(optimum)
    assert not large["proven_optimal"] and large["method"] in ("local-search", "ils") and large["runs"] == 2
    assert large["budget_s"] == 0.2 and large["load_1min"] >= 0


def test_the_cache_is_read_and_a_changed_setting_reruns(tmp_path):
    cache = tmp_path / "cache"
    first = compute_best_known(CONFIG, cache, progress=False)
    files = sorted(cache.glob("*.json"))
    assert len(files) == 2
    stamp = {f: f.stat().st_mtime_ns for f in files}
    again = compute_best_known(CONFIG, cache, progress=False)
    pd.testing.assert_frame_equal(first, again)                           # read back, not rerun
    assert {f: f.stat().st_mtime_ns for f in files} == stamp
    changed = {**CONFIG, "best_known": {**CONFIG["best_known"], "budgets_s": {100: 0.25}}}
    third = compute_best_known(changed, cache, progress=False)
    assert third.iloc[1]["budget_s"] == 0.25                              # the long runs reran ...
    assert (cache / "dense-N6-K3-s0.json").stat().st_mtime_ns != stamp[cache / "dense-N6-K3-s0.json"]


def test_budget_tiers_pick_the_smallest_bound_at_or_above_n():
    cfg = best_known_config({"best_known": {"budgets_s": {500: 1.0, 2000: 3.0}}})
    assert [cfg.budget_for(n) for n in (10, 500, 501, 2000, 10000)] == [1.0, 1.0, 3.0, 3.0, 3.0]


def test_an_evaluated_run_above_the_best_known_raises_it_and_is_reported():
    best = pd.DataFrame({"instance": ["a", "b"], "best_known": [10.0, 20.0], "proven_optimal": [False, True]})
    rows = pd.DataFrame({"instance": ["a", "a", "b", "c"], "N": 5, "regime": "dense", "seed": 0,
                         "method": ["ils", "greedy", "ils", "ils"], "budget_s": 2.0, "utility": [11.0, 10.5, 20.0, 99.0]})
    raised, updates = raise_to_evaluated(best, rows)
    assert list(raised["best_known"]) == [11.0, 20.0] and list(raised["best_known_long_run"]) == [10.0, 20.0]
    assert list(raised["updated_by"]) == ["ils @ 2 s", ""] and list(raised["proven_optimal"]) == [False, True]
    assert list(updates["method"]) == ["ils", "greedy"] and updates["gain"].iloc[0] == pytest.approx(0.1)
    shares = with_share(rows, raised)
    assert list(shares["share_of_best_known"].iloc[:3]) == pytest.approx([1.0, 10.5 / 11, 1.0])
    assert pd.isna(shares["share_of_best_known"].iloc[3])                 # no best-known for instance c


@pytest.mark.parametrize("bad, message", [
    ({"budgets_s": {0: 1.0}}, "budgets_s"),
    ({"budgets_s": {100: -1.0}}, "budgets_s"),
    ({"methods": ["no-such-method"]}, "methods"),
    ({"seeds": []}, "seeds"),
    ({"exact_budget_s": 0}, "exact_budget_s"),
])
def test_bad_settings_are_one_config_error(bad, message):
    with pytest.raises(ConfigError, match=message):
        best_known_config({"best_known": bad})


def test_cli_bad_config_is_one_line_exit_2_and_nothing_written(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("evaluation:\n  instances: [{N: [6], K: 3, regimes: [dense], seeds: [0]}]\n"
                      "best_known: {budgets_s: {10: 0}}\n")
    out = tmp_path / "out" / "best_known.csv"
    assert main(["best-known", "--config", str(config), "--output", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "budgets_s" in err
    assert not out.exists()


def test_cli_writes_the_table_and_its_sidecar(tmp_path, capsys):
    config = tmp_path / "ok.yaml"
    config.write_text("evaluation:\n  instances: [{N: [6], K: 3, regimes: [sparse], seeds: [2]}]\n"
                      "best_known: {budgets_s: {10: 0.1}, exact_budget_s: 5.0, workers: 1}\n")
    out = tmp_path / "out" / "best_known.csv"
    assert main(["best-known", "--config", str(config), "--output", str(out)]) == 0
    table = pd.read_csv(out)
    assert table["proven_optimal"].all() and (out.parent / "best_known.csv.provenance.json").is_file()
    assert (tmp_path / "out" / "runs" / "best_known" / "sparse-N6-K3-s2.json").is_file()


def test_a_committed_reference_is_taken_where_its_key_matches_and_nothing_else(tmp_path):
    first = compute_best_known(CONFIG, tmp_path / "cache", progress=False)
    committed = first.copy()
    committed.loc[0, "best_known"] += 1.0        # marks what came from the reference
    ref = tmp_path / "best_known.csv"
    committed.to_csv(ref, index=False)
    config = {**CONFIG, "best_known": {**CONFIG["best_known"], "from_reference": True}}
    taken = compute_best_known(config, tmp_path / "empty-cache", progress=False, reference=ref)
    assert list(taken["best_known"]) == pytest.approx(list(committed["best_known"]))   # nothing solved again
    assert not (tmp_path / "empty-cache").exists() or not list((tmp_path / "empty-cache").glob("*.json"))
    assert bool(taken.iloc[0]["proven_optimal"]) is True
    # other long-run settings: the keys differ, so the instance is solved, not read from the reference
    changed = {**config, "best_known": {**config["best_known"], "budgets_s": {100: 0.25}}}
    solved = compute_best_known(changed, tmp_path / "cache2", progress=False, reference=ref)
    off = {**CONFIG, "best_known": {**CONFIG["best_known"], "from_reference": False}}
    assert compute_best_known(off, tmp_path / "cache", progress=False, reference=ref).iloc[0]["best_known"] \
        == pytest.approx(first.iloc[0]["best_known"])                  # not set: the table is not read
    assert solved.iloc[1]["budget_s"] == 0.25 and solved.iloc[0]["best_known"] == pytest.approx(first.iloc[0]["best_known"])


@pytest.mark.parametrize("content", [None, "not,a,table\n1,2,3\n"])
def test_a_missing_or_malformed_reference_is_one_clear_error(tmp_path, content):
    ref = tmp_path / "best_known.csv"
    if content is not None:
        ref.write_text(content)
    config = {**CONFIG, "best_known": {**CONFIG["best_known"], "from_reference": True}}
    with pytest.raises(ConfigError, match="best_known.from_reference"):
        compute_best_known(config, tmp_path / "cache", progress=False, reference=ref)
