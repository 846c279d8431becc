"""The program API (`NetView`): read-only data, queries that agree with lsa.utility, monotone steps."""
import numpy as np
import pytest

from lsa.engine.state import greedy_assign, move_gains
from lsa.programs.primitives import API_DOC, NetView
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


# ------------------------------------------------------------------------------------------------
# hardening (issue 17): no facade function writes through a read-only view or hands out memory it
# did not initialise; every capped search obeys its time
# ------------------------------------------------------------------------------------------------
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from lsa.programs.facade import NUMPY, SafeUfunc  # noqa: E402

_VIEW_ARRAYS = ("signal_w", "direct_gain", "power_w", "tx_xy", "rx_xy", "cross_row", "cross_col", "cross_power_w")
_UFUNCS = sorted(name for name in NUMPY.names if isinstance(getattr(NUMPY, name), SafeUfunc))
_SOME = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


def test_every_ufunc_of_the_facade_is_wrapped():
    import numpy
    assert len(_UFUNCS) > 50
    assert not any(isinstance(getattr(NUMPY, name), numpy.ufunc) for name in NUMPY.names)


@_SOME
@given(name=st.sampled_from(_UFUNCS), array=st.sampled_from(_VIEW_ARRAYS), index=st.integers(0, 5))
def test_ufunc_at_refuses_the_read_only_instance_arrays(view, name, array, index):
    """numpy's `ufunc.at` ignores the write flag; through the facade it raises and changes nothing."""
    target = getattr(view, array)
    before = target.copy()
    ufunc = getattr(NUMPY, name)
    args = [np.ones(1, dtype=target.dtype)] * (ufunc.nin - 1)
    with pytest.raises(ValueError, match="read-only"):
        ufunc.at(target, [index], *args)
    np.testing.assert_array_equal(target, before)


def test_ufunc_at_still_works_on_own_arrays():
    counts = np.zeros(4)
    NUMPY.add.at(counts, [0, 0, 3], 1.0)
    assert counts.tolist() == [2.0, 0.0, 0.0, 1.0]
    assert NUMPY.add.reduce(np.ones(3)) == 3.0 and NUMPY.maximum.accumulate(np.array([1, 3, 2])).tolist() == [1, 3, 3]


def _dirty_heap(value: float = 1234.5, size: int = 4096) -> None:
    """Free arrays full of `value` so that uninitialised memory would show it."""
    for n in (size, 64, 8):
        garbage = np.full(n, value)
        del garbage


@_SOME
@given(shape=st.lists(st.integers(0, 40), min_size=1, max_size=3),
       dtype=st.sampled_from(["float64", "int64", "float32", "uint8", "bool"]), like=st.booleans())
def test_fresh_arrays_are_zeroed(shape, dtype, like):
    _dirty_heap()
    made = NUMPY.empty_like(np.ones(shape, dtype=dtype)) if like else NUMPY.empty(shape, dtype=dtype)
    assert made.shape == tuple(shape) and made.dtype == np.dtype(dtype)
    assert not made.any()


@_SOME
@given(name=st.sampled_from(_UFUNCS), mask=st.lists(st.booleans(), min_size=1, max_size=64), outer=st.booleans())
def test_entries_skipped_by_where_are_zero(name, mask, outer):
    ufunc = getattr(NUMPY, name)
    where = np.array(mask)
    if outer and ufunc.nin != 2:
        return
    if outer:
        where = np.broadcast_to(where, (where.size, where.size))
    for dtype in (np.float64, np.int64, np.bool_):      # the first type the ufunc has a loop for
        inputs = [np.full(mask.__len__(), 1, dtype=dtype)] * ufunc.nin
        _dirty_heap()
        try:
            with np.errstate(all="ignore"):
                result = ufunc.outer(*inputs, where=where) if outer else ufunc(*inputs, where=where)
            break
        except TypeError:
            continue
    else:                                     # takes no `where` (matmul, a gufunc)
        return
    for out in (result if isinstance(result, tuple) else (result,)):
        assert not np.asarray(out)[~where].any(), name


def test_clip_and_pad_hand_out_no_uninitialised_memory():
    _dirty_heap()
    clipped = NUMPY.clip(np.full(64, 3.0), 0, 1, where=np.arange(64) % 2 == 0)
    assert clipped[::2].tolist() == [1.0] * 32 and not clipped[1::2].any()
    with pytest.raises(ValueError, match="empty"):
        NUMPY.pad(np.ones(2), 31, mode="empty")
    assert NUMPY.pad(np.ones(2), 1).tolist() == [0.0, 1.0, 1.0, 0.0]


@pytest.fixture(scope="module")
def dense():
    from lsa.programs.primitives import prepare
    return prepare(generate_ppp(1500, 8, "dense", seed=0))


class _Deadline:
    """What the sandbox sets as net._anytime: a deadline on the monotonic clock; offers dropped."""

    def __init__(self, seconds: float):
        import time
        self.deadline = time.monotonic() + seconds

    def offer(self, assignment) -> None:
        pass


@pytest.mark.parametrize("call, limit_s", [
    (lambda v, a, rng: v.ils(a, rng, time_s=0.05, kick_size=10**6), 0.05),
    (lambda v, a, rng: v.ils(a, rng, time_s=0.05, kick_size=3), 0.05),
    (lambda v, a, rng: v.anneal(a, rng, time_s=0.05), 0.05),
    (lambda v, a, rng: v.restarts(rng, time_s=0.05), 0.05),
    (lambda v, a, rng: v.local_search(a, rng, time_s=0.05), 0.05),
    (lambda v, a, rng: v.improve_swaps(a, partners=4 * v.N), 0.2),
    (lambda v, a, rng: v.tabu_search(a, rng, steps=10**9, sample=10**9), 0.2),
    (lambda v, a, rng: v.best_response(a, rounds=10**9), 0.2),
    (lambda v, a, rng: v.improve(a, sweeps=10**9), 0.2),
])
def test_capped_searches_obey_their_time(dense, call, limit_s):
    """Each returns within its time argument (or, without one, time_left()) plus a margin for one
    chunk and the return on a loaded machine; before, ils(kick_size=10**6) ran 2.09 s for 0.05 s."""
    import time

    view = NetView(dense)
    rng = np.random.default_rng(0)
    start = view.greedy()
    call(view, start, rng)                    # compiled and indexed outside the measurement
    view._anytime = _Deadline(limit_s if limit_s > 0.05 else 5.0)
    began = time.perf_counter()
    result = call(view, start, rng)
    spent = time.perf_counter() - began
    assert spent <= limit_s + 0.15, f"{spent:.3f} s for a {limit_s} s cap"
    assert result.shape == (dense.N,)
    if "restarts" not in repr(call.__code__.co_names):          # the others never end below their start
        assert view.utility(result) >= view.utility(start) - 1e-9
