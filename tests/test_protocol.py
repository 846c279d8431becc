import time

import numpy as np
import pytest

from lsa.errors import LSAError, MethodTooLarge
from lsa.methods.protocol import Anytime, run_method
from lsa.sim.utility import sum_rate


def test_anytime_keeps_best_and_ignores_late_offers(small_net):
    run = Anytime(small_net, budget_s=0.2)
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, small_net.K, (2, small_net.N))
    run.offer(a)
    run.offer(b)
    assert run.best_utility == pytest.approx(max(sum_rate(small_net, a), sum_rate(small_net, b)))
    time.sleep(0.25)
    perfect = np.zeros(small_net.N, dtype=int)
    assert run.offer(perfect, utility=1e9) is False
    assert run.late_offers == 1 and run.best_utility < 1e9


def test_method_without_incumbent_gets_flagged_random(small_net, monkeypatch):
    from lsa.methods.registry import Method, register

    def refuse(net, run, rng, **kw):
        raise MethodTooLarge("too big for this test")

    register(Method("test-refuses", "always refuses", refuse))
    row, a = run_method(small_net, "test-refuses", 0.1, seed=0)
    assert row["fallback_random"] and not row["valid"] and "too big" in row["refused"]
    assert a.shape == (small_net.N,) and a.max() < small_net.K


def test_rows_are_tidy_and_within_budget(small_net):
    for method in ("random", "greedy", "local-search"):
        row, a = run_method(small_net, method, 0.3, seed=1, instance="x")
        for col in ("instance", "N", "K", "regime", "seed", "method", "budget_s", "utility", "throughput",
                    "p5_rate", "jain", "conflicts", "runtime_s", "valid", "repaired"):
            assert col in row
        assert row["utility"] == pytest.approx(sum_rate(small_net, a))
        assert not row["overrun"] and row["runtime_s"] <= 0.3 * 1.1 + 0.05


def test_negative_budget_is_refused(small_net):
    with pytest.raises(LSAError, match="budget"):
        run_method(small_net, "greedy", -1.0)


@pytest.mark.slow
def test_quality_order_on_dense_2000(dense_2000):
    """Issue 2: dense N=2000, K=8, 2 s: local-search >= greedy >= random."""
    u = {m: run_method(dense_2000, m, 2.0, seed=0)[0]["utility"] for m in ("random", "greedy", "local-search")}
    assert u["local-search"] >= u["greedy"] >= u["random"]
