"""Classical baselines: partitioning, exact vs brute force, KM slot assignment, the partitioned
methods and DE under a budget (SPEC §6)."""
import itertools
import os
import tempfile

import numpy as np
import pytest

from lsa.methods.exact import brute_force
from lsa.methods.km import slot_assignment
from lsa.methods.partition import partition
from lsa.methods.protocol import GRACE_FRACTION, GRACE_S, run_method
from lsa.sim.generate import from_edges, generate_ppp
from lsa.sim.utility import conflicts, is_valid, sum_rate


def _within_budget(row):
    return row["runtime_s"] <= row["budget_s"] * (1 + GRACE_FRACTION) + GRACE_S


# ----- partition -------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [1, 7, 16, 60])
def test_partition_geometric_covers_every_link_once(small_net, size):
    clusters = partition(small_net, size)
    together = np.concatenate(clusters)
    assert sorted(together.tolist()) == list(range(small_net.N))
    assert max(len(c) for c in clusters) <= size
    assert len(clusters) == -(-small_net.N // size)


def test_partition_geometric_clusters_are_compact(small_net):
    clusters = partition(small_net, 15)
    spread = np.mean([np.ptp(small_net.rx_xy[c], axis=0).max() for c in clusters])
    assert spread < 0.8 * np.ptp(small_net.rx_xy, axis=0).max()


def test_partition_graph_instance_uses_rcm_chunks():
    n = 30
    edges = [(i, (i + 1) % n) for i in range(n)]
    net = from_edges(n, edges, 2)
    clusters = partition(net, 8)
    assert sorted(np.concatenate(clusters).tolist()) == list(range(n))
    assert max(len(c) for c in clusters) <= 8
    # on a cycle, RCM chunks keep most edges inside clusters
    label = np.empty(n, dtype=int)
    for c_idx, c in enumerate(clusters):
        label[c] = c_idx
    inside = sum(label[u] == label[v] for u, v in edges)
    assert inside >= n // 2


# ----- exact -------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("regime", ["dense", "ultra-dense"])
def test_exact_equals_brute_force_on_tiny_instances(seed, regime):
    net = generate_ppp(8, 3, regime, seed)
    _, best = brute_force(net)
    row, a = run_method(net, "exact", 10.0, seed)
    assert row["optimal"] is True
    assert row["utility"] == pytest.approx(best, rel=1e-9)
    assert sum_rate(net, a) == pytest.approx(best, rel=1e-9)


def test_exact_equals_brute_force_on_a_protocol_graph():
    net = from_edges(7, [(i, (i + 1) % 7) for i in range(7)], 3)  # odd cycle, chi = 3
    _, best = brute_force(net)
    row, a = run_method(net, "exact", 10.0, 0)
    assert row["optimal"] and row["utility"] == pytest.approx(best)
    assert conflicts(net, a) == 0


def test_exact_refuses_large_instances_immediately(small_net):
    row, a = run_method(small_net, "exact", 5.0, 0)
    assert "max_n" in row["refused"]
    assert row["runtime_s"] < 0.5
    assert row["valid"] is False and is_valid(small_net, a)


# ----- km -----------------------------------------------------------------------------------------
def test_slot_assignment_is_optimal_under_channel_capacity():
    rng = np.random.default_rng(5)
    n, K = 7, 3
    cost = rng.normal(size=(n, K))
    channels = slot_assignment(cost)
    cap = -(-n // K)
    assert np.bincount(channels, minlength=K).max() <= cap
    best = min(cost[np.arange(n), c].sum() for c in itertools.product(range(K), repeat=n)
               if np.bincount(c, minlength=K).max() <= cap)
    assert cost[np.arange(n), channels].sum() == pytest.approx(best)


def test_km_is_interference_blind_and_balanced(small_net):
    row, a = run_method(small_net, "km", 2.0, 0)
    assert row["refused"] == "" and _within_budget(row)
    assert np.bincount(a, minlength=small_net.K).max() <= -(-small_net.N // small_net.K)
    free_rate = np.log2(1 + small_net.signal_w / small_net.noise_w)
    # no balanced assignment has a larger interference-free sum-rate
    assert free_rate[np.arange(small_net.N), a].sum() >= free_rate.max(axis=1).sum() * 0.8


def test_km_refuses_when_the_budget_cannot_hold_it():
    net = from_edges(2600, [(i, i + 1) for i in range(2599)], 2)
    row, _ = run_method(net, "km", 0.05, 0)
    assert "km refuses" in row["refused"] and row["runtime_s"] < 0.5


# ----- methods under a budget -------------------------------------------------------------------
@pytest.fixture(scope="module")
def net_300():
    return generate_ppp(300, 4, "dense", 1)


@pytest.mark.parametrize("method", ["km", "km-partitioned", "pulp-partitioned", "de"])
def test_method_is_valid_in_budget_and_beats_random(net_300, method):
    random_row, _ = run_method(net_300, "random", 0.3, 0)
    row, a = run_method(net_300, method, 1.0, 0)
    assert is_valid(net_300, a) and row["valid"] and row["late_offers"] == 0
    assert _within_budget(row), row["runtime_s"]
    assert row["utility"] > random_row["utility"]


def test_pulp_partitioned_counts_and_cleans_temp_files(net_300, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    row, _ = run_method(net_300, "pulp-partitioned", 1.5, 0, {"cluster_size": 20})
    assert row["clusters_total"] == 15
    assert row["clusters_optimal"] + row["clusters_timelimit"] + row["clusters_fallback"] == 15
    assert row["clusters_optimal"] + row["clusters_timelimit"] >= 1   # CBC did solve something
    assert os.listdir(tmp_path) == []


def test_pulp_partitioned_insr_objective_runs(net_300):
    row, a = run_method(net_300, "pulp-partitioned", 0.8, 0, {"objective": "insr"})
    assert is_valid(net_300, a) and _within_budget(row)


def test_de_seeds_with_greedy_and_never_ends_below_it(net_300):
    greedy_row, _ = run_method(net_300, "greedy", 1.0, 0)
    row, _ = run_method(net_300, "de", 0.8, 0)
    assert row["de_evaluations"] > 1 and row["de_generations"] >= 1
    assert row["utility"] >= greedy_row["utility"] - 1e-9


def test_de_solves_a_tiny_instance_to_the_optimum():
    net = generate_ppp(6, 2, "ultra-dense", 4)
    _, best = brute_force(net)
    row, _ = run_method(net, "de", 1.0, 0, {"popsize": 20})
    assert row["utility"] == pytest.approx(best, rel=1e-9)


# ----- the quality and speed figures (slow) -----------------------------------------
@pytest.mark.slow
def test_pulp_partitioned_clearly_above_random_on_dense_2000(dense_2000):
    random_row, _ = run_method(dense_2000, "random", 2.0, 0)
    row, _ = run_method(dense_2000, "pulp-partitioned", 2.0, 0)
    assert _within_budget(row)
    assert row["utility"] > 1.5 * random_row["utility"]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["exact", "km", "km-partitioned", "pulp-partitioned", "de"])
def test_classical_methods_return_within_budget_at_2000(dense_2000, method):
    row, a = run_method(dense_2000, method, 2.0, 0)
    assert _within_budget(row), row["runtime_s"]
    assert is_valid(dense_2000, a)


# ----- engine-based methods: greedy, local-search (every phase), ils, the partitioned sweep -------
def test_greedy_method_is_the_engine_greedy(net_300):
    from lsa.engine.state import greedy_assign

    row, a = run_method(net_300, "greedy", 1.0, 0)
    np.testing.assert_array_equal(a, greedy_assign(net_300))
    assert row["greedy_complete"] and row["setup_s"] >= 0


@pytest.mark.parametrize("phase", ["hybrid", "anneal", "ils", "tabu", "descent"])
def test_local_search_phases_are_valid_in_budget_and_beat_greedy(net_300, phase):
    greedy_row, _ = run_method(net_300, "greedy", 1.0, 0)
    row, a = run_method(net_300, "local-search", 0.5, 0, {"phase": phase})
    assert is_valid(net_300, a) and row["late_offers"] == 0 and _within_budget(row)
    assert row["utility"] == pytest.approx(sum_rate(net_300, a))
    assert row["utility"] > greedy_row["utility"]            # the descent alone already improves on greedy
    assert row["start_utility"] >= greedy_row["utility"] - 1e-9


def test_ils_is_valid_in_budget_and_improves_on_its_start(net_300):
    row, a = run_method(net_300, "ils", 0.5, 0)
    assert is_valid(net_300, a) and row["late_offers"] == 0 and _within_budget(row)
    assert row["kicks"] > 0 and row["utility"] >= row["start_utility"] - 1e-9


def test_local_search_rejects_an_unknown_phase(net_300):
    with pytest.raises(ValueError, match="phase"):
        run_method(net_300, "local-search", 0.2, 0, {"phase": "magic"})


@pytest.mark.parametrize("method", ["local-search", "ils"])
def test_search_stops_at_a_proper_colouring_and_says_it_is_optimal(method):
    n = 31
    net = from_edges(n, [(i, (i + 1) % n) for i in range(n)] + [(i, (i + 2) % n) for i in range(n)], 4)
    row, a = run_method(net, method, 2.0, 0)
    assert conflicts(net, a) == 0 and row["proved_optimal"]
    assert row["runtime_s"] < 1.0                             # stopped at the bound, not at the budget


def test_external_interference_matches_a_recomputation(net_300):
    from lsa.engine.state import MoveState
    from lsa.methods.partition import external_interference

    rng = np.random.default_rng(3)
    a = rng.integers(0, net_300.K, size=net_300.N)
    links = rng.choice(net_300.N, size=12, replace=False)
    a[links] = -1
    recv, hurt = external_interference(MoveState(net_300, a), links)
    placed = a >= 0
    for t, i in enumerate(links):
        lo, hi = net_300.row_ptr[i], net_300.row_ptr[i + 1]
        src, w = net_300.cross_col[lo:hi], net_300.cross_power_w[lo:hi]
        on = placed[src]
        expect = np.bincount(a[src[on]], weights=w[on], minlength=net_300.K)
        np.testing.assert_allclose(recv[t], expect, rtol=1e-9, atol=1e-30)
        for k in range(net_300.K):
            # victims' loss = placed links' sum-rate without i minus with i on channel k
            before = _placed_sum_rate(net_300, a)
            b = a.copy()
            b[i] = k
            after = _placed_sum_rate(net_300, b, exclude=i)
            assert hurt[t, k] == pytest.approx(before - after, abs=1e-9)


def _placed_sum_rate(net, a, exclude=None):
    """Sum-rate of the placed links (a >= 0), `exclude` not counted but still interfering."""
    placed = a >= 0
    src = net.cross_col
    on = placed[src] & placed[net.cross_row] & (a[src] == a[net.cross_row])
    interf = np.bincount(net.cross_row[on], weights=net.cross_power_w[on], minlength=net.N)
    idx = np.flatnonzero(placed)
    rates = np.log2(1 + net.signal_w[idx, a[idx]] / (net.noise_w + interf[idx]))
    if exclude is not None:
        rates = rates[idx != exclude]
    return rates.sum()


@pytest.mark.slow
@pytest.mark.parametrize("regime", ["sparse", "dense", "ultra-dense"])
def test_engine_methods_beat_greedy_clearly_at_2000(regime):
    net = generate_ppp(2000, 8, regime, 7)
    greedy_row, _ = run_method(net, "greedy", 2.0, 0)
    for method in ("local-search", "ils"):
        row, _ = run_method(net, method, 2.0, 0)
        assert _within_budget(row) and row["late_offers"] == 0
        assert row["utility"] > 1.04 * greedy_row["utility"]
