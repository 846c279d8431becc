import numpy as np

from lsa.engine.state import move_gains
from lsa.sim.utility import (
    channel_interference_w,
    conflicts,
    evaluate,
    jain_index,
    sum_rate,
)


def _dense_reference(net, a):
    """Textbook SPEC §2 formula with a dense gain matrix."""
    G = np.zeros((net.N, net.N))
    G[net.cross_row, net.cross_col] = net.cross_gain
    total = 0.0
    for i in range(net.N):
        interf = sum(net.power_w[j] * G[i, j] for j in range(net.N) if j != i and a[j] == a[i])
        total += np.log2(1 + net.power_w[i] * net.direct_gain[i, a[i]] / (net.noise_w + interf))
    return total


def test_sum_rate_matches_textbook_formula(small_net):
    a = np.random.default_rng(1).integers(0, small_net.K, small_net.N)
    assert np.isclose(sum_rate(small_net, a), _dense_reference(small_net, a))


def test_metrics(small_net):
    a = np.random.default_rng(2).integers(0, small_net.K, small_net.N)
    m = evaluate(small_net, a)
    assert np.isclose(m["throughput_bps"], m["utility"] * small_net.bandwidth_hz)
    assert 0 < m["jain"] <= 1 and m["p5_rate_bps"] <= m["mean_rate_bps"]
    i, j = small_net.conflict_pairs
    brute = sum(1 for x, y in zip(i, j) if a[x] == a[y])
    assert m["conflicts"] == brute == conflicts(small_net, a)
    assert jain_index(np.ones(5)) == 1.0


def test_channel_interference_consistent(small_net):
    a = np.random.default_rng(3).integers(0, small_net.K, small_net.N)
    ch = channel_interference_w(small_net, a)
    from lsa.sim.utility import interference_w
    np.testing.assert_allclose(ch[np.arange(small_net.N), a], interference_w(small_net, a))


def test_move_gains_are_exact(small_net):
    rng = np.random.default_rng(4)
    a = rng.integers(0, small_net.K, small_net.N)
    gains = move_gains(small_net, a)
    base = sum_rate(small_net, a)
    for i in rng.choice(small_net.N, 10, replace=False):
        for k in range(small_net.K):
            b = a.copy()
            b[i] = k
            assert np.isclose(gains[i, k], sum_rate(small_net, b) - base, atol=1e-9)


def test_evaluate_in_two_threads_gives_the_one_thread_metrics(dense_2000, monkeypatch):
    """Large instances split the metrics' pass over two threads: the same interference and the same
    conflict count as one pass (the split must not drop or double-count a pair at its boundary)."""
    from lsa.sim import utility

    rng = np.random.default_rng(4)
    for _ in range(3):
        a = rng.integers(0, dense_2000.K, dense_2000.N)
        one = utility.evaluate(dense_2000, a)
        monkeypatch.setattr(utility, "PARALLEL_PASS_M", 0)
        two = utility.evaluate(dense_2000, a)
        monkeypatch.setattr(utility, "PARALLEL_PASS_M", 10 ** 12)
        assert two == one and one["conflicts"] > 0
