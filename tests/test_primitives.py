"""The program API (`NetView`): read-only data, queries that agree with lsa.utility, monotone steps."""
import numpy as np
import pytest

from lsa.programs.primitives import API_DOC, NetView
from lsa.sim.engine import greedy_assign, move_gains
from lsa.sim.generate import from_edges, generate_ppp
from lsa.sim.utility import (
    channel_interference_w,
    conflicts,
    interference_w,
    link_rates,
    sinr,
    sum_rate,
)


@pytest.fixture(scope="module")
def net():
    return generate_ppp(300, 4, "dense", seed=3)


@pytest.fixture(scope="module")
def view(net):
    return NetView(net)


def test_arrays_are_read_only_copies(net, view):
    for name in ("signal_w", "direct_gain", "power_w", "tx_xy", "rx_xy", "cross_row", "cross_col", "cross_power_w"):
        arr = getattr(view, name)
        assert not arr.flags.writeable, name
        with pytest.raises(ValueError):
            arr.setflags(write=True)          # immutable bytes underneath: the flag cannot be flipped
        with pytest.raises(ValueError):
            arr[0] = 0
    assert not np.shares_memory(view.signal_w, net.signal_w)
    np.testing.assert_array_equal(view.signal_w, net.signal_w)
    assert (view.N, view.K, view.M, view.noise_w) == (net.N, net.K, net.M, net.noise_w)


def test_evaluation_agrees_with_utility_module(net, view):
    a = view.random_assignment(np.random.default_rng(0))
    np.testing.assert_allclose(view.channel_interference(a), channel_interference_w(net, a))
    np.testing.assert_allclose(view.interference(a), interference_w(net, a))
    np.testing.assert_allclose(view.sinr(a), sinr(net, a))
    np.testing.assert_allclose(view.rates(a), link_rates(net, a))
    assert view.utility(a) == pytest.approx(sum_rate(net, a))
    assert view.conflicts(a) == conflicts(net, a)
    np.testing.assert_allclose(view.move_gains(a), move_gains(net, a))


def test_neighbourhood_queries(net, view):
    i = 17
    src, power = view.interferers(i)
    lo, hi = net.row_ptr[i], net.row_ptr[i + 1]
    assert set(src.tolist()) == set(net.cross_col[lo:hi].tolist())
    assert np.all(np.diff(power) <= 0)                                # strongest first
    dst, power_out = view.victims(i)
    assert set(dst.tolist()) == set(net.cross_row[net.cross_col == i].tolist())
    assert np.all(np.diff(power_out) <= 0)
    adjacency = net.adjacency
    assert view.neighbors(i).tolist() == sorted(adjacency.indices[adjacency.indptr[i]:adjacency.indptr[i + 1]].tolist())
    np.testing.assert_array_equal(view.degree(), np.diff(net.row_ptr))
    np.testing.assert_allclose(view.coupling(), np.asarray(net.symmetric_weight.sum(axis=1)).ravel())
    with pytest.raises(IndexError):
        view.interferers(net.N)


def test_best_response_never_worse_and_respects_links(net, view):
    rng = np.random.default_rng(1)
    a = view.random_assignment(rng)
    before = sum_rate(net, a)
    b = view.best_response(a, rounds=3)
    assert sum_rate(net, b) > before
    assert not np.shares_memory(a, b)
    links = np.arange(0, net.N, 3)
    c = view.best_response(a, links=links, rounds=2)
    frozen = np.setdiff1d(np.arange(net.N), links)
    np.testing.assert_array_equal(c[frozen], a[frozen])
    assert sum_rate(net, c) >= before
    # a local optimum stays put
    d = b
    for _ in range(30):
        d = view.best_response(d, rounds=5)
    assert sum_rate(net, view.best_response(d)) >= sum_rate(net, d) - 1e-9


def test_greedy_and_orderings(net, view):
    order = view.order_by_coupling()
    assert sorted(order.tolist()) == list(range(net.N))
    np.testing.assert_array_equal(view.greedy(order=order), greedy_assign(net, order=order))
    np.testing.assert_array_equal(view.greedy(), greedy_assign(net, order=order))
    partial = np.full(net.N, -1, dtype=np.int64)
    partial[:10] = 2
    g = view.greedy(partial=partial)
    assert np.all(g[:10] == 2) and g.min() >= 0
    s = view.order_by_signal()
    best = net.signal_w.max(axis=1)
    assert np.all(np.diff(best[s]) <= 0)
    assert sum_rate(net, view.greedy()) > sum_rate(net, view.random_assignment(np.random.default_rng(0)))


def test_bad_assignments_raise_clear_errors(view):
    with pytest.raises(ValueError, match="shape"):
        view.utility([0, 1])
    with pytest.raises(ValueError, match="values"):
        view.utility(np.full(view.N, view.K))
    with pytest.raises(ValueError, match="integers"):
        view.utility(np.full(view.N, 0.5))
    assert view.utility(np.zeros(view.N)) == pytest.approx(view.utility(np.zeros(view.N, dtype=int)))


def test_graph_instance_has_no_positions():
    g = NetView(from_edges(5, np.array([[0, 1], [1, 2]]), 2))
    assert g.tx_xy is None and g.rx_xy is None
    assert g.neighbors(1).tolist() == [0, 2]
    assert g.conflicts(np.zeros(5, dtype=int)) == 2


def test_api_doc_documents_every_public_method():
    for name, fn in vars(NetView).items():
        if callable(fn) and not name.startswith("_"):
            assert f"net.{name}(" in API_DOC, name
    assert "_net" not in API_DOC and "def assign(net, rng)" in API_DOC
