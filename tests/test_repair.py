"""Repair of raw program output into a valid assignment (SPEC §7): every kind, determinism, bounds."""
import numpy as np
import pytest

from lsa.programs.repair import REPAIR_KINDS, repair_assignment


def _valid(a, N, K):
    return a.dtype == np.int64 and a.shape == (N,) and a.min() >= 0 and a.max() < K


def test_valid_input_is_untouched_and_reports_nothing():
    a, rep = repair_assignment([0, 1, 2, 3], 4, 4)
    assert rep == {} and a.tolist() == [0, 1, 2, 3] and a.dtype == np.int64
    a, rep = repair_assignment(np.array([1, 0], dtype=np.uint8), 2, 2)
    assert rep == {} and a.tolist() == [1, 0]


@pytest.mark.parametrize("raw, N, K, expected, repairs", [
    ([0, 1.5, np.nan, -1, 9], 6, 4, [0, 2, 2, 3, 1, 1],
     {"length": 1, "non_finite": 1, "non_integer": 1, "out_of_range": 2}),
    ([1, 2, 3, 4, 5], 3, 8, [1, 2, 3], {"length": 2}),                        # truncated
    ([1], 4, 3, [1, 1, 2, 0], {"length": 3}),                                # padded with i mod K
    ([np.inf, -np.inf, np.nan], 3, 2, [0, 1, 0], {"non_finite": 3}),
    ([7, -1, -5], 3, 4, [3, 3, 3], {"out_of_range": 3}),                     # mod K, Python sign rule
    ([[0, 1], [2, 3]], 4, 4, [0, 1, 2, 3], {"shape": 1}),
    (None, 3, 2, [0, 1, 0], {"not_numeric": 3}),
    ("0123", 3, 4, [0, 1, 2], {"not_numeric": 3}),
    ({"a": 1}, 2, 2, [0, 1], {"not_numeric": 2}),
    ([1, "a", [2], 3.0], 4, 4, [1, 1, 2, 3], {"not_numeric": 2}),
    (2, 3, 3, [2, 1, 2], {"length": 2}),                                    # scalar = length-1 sequence
    (np.array([1 + 1j, 2]), 2, 3, [0, 2], {"not_numeric": 1}),
    ([10 ** 400, 1e300], 2, 4, [0, 0], {"non_finite": 1, "out_of_range": 1}),
])
def test_each_kind_of_repair(raw, N, K, expected, repairs):
    a, rep = repair_assignment(raw, N, K)
    assert _valid(a, N, K)
    assert a.tolist() == expected
    assert rep == repairs
    assert list(rep) == [k for k in REPAIR_KINDS if k in rep]      # stable, documented order


def test_deterministic_and_input_not_modified():
    raw = np.array([0.4, 7.0, np.nan, -3.0])
    before = raw.copy()
    a1, r1 = repair_assignment(raw, 6, 3)
    a2, r2 = repair_assignment(raw, 6, 3)
    assert a1.tolist() == a2.tolist() and r1 == r2
    np.testing.assert_array_equal(raw, before)


def test_huge_and_endless_inputs_are_bounded():
    a, rep = repair_assignment(list(range(10 ** 6)), 3, 3)
    assert a.tolist() == [0, 1, 2] and rep == {"length": 10 ** 6 - 3}
    a, rep = repair_assignment(iter(int, 1), 5, 3)                           # an endless iterator of 0s
    assert a.tolist() == [0] * 5 and rep == {"length": 1}
    a, rep = repair_assignment(np.zeros(10 ** 7, dtype=np.int8), 4, 2)
    assert a.tolist() == [0] * 4 and rep == {"length": 10 ** 7 - 4}


def test_random_garbage_always_valid():
    rng = np.random.default_rng(0)
    for _ in range(200):
        N, K = int(rng.integers(1, 50)), int(rng.integers(1, 9))
        raw = rng.normal(0, 100, size=int(rng.integers(0, 80)))
        raw[rng.random(raw.size) < 0.1] = np.nan
        a, rep = repair_assignment(raw, N, K)
        assert _valid(a, N, K)
        assert all(v > 0 for v in rep.values())
