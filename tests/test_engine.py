"""The incremental move engine (lsa.engine.state): the state after any sequence of moves equals a
from-scratch recomputation with lsa.sim.utility, gains are exact, and the compound steps keep
their promises (greedy = sequential placement, descent ends in a local optimum, searches never
return worse than they start)."""
import itertools
import time

import numpy as np
import pytest

from lsa.engine import adjacency as adjacency_module
from lsa.engine import search, warm
from lsa.engine.adjacency import spatial_order
from lsa.engine.state import MoveState, greedy_assign, move_gains
from lsa.sim.generate import from_edges, generate_ppp
from lsa.sim.utility import channel_interference_w, link_rates, sum_rate


def _placed_reference(net, a):
    """Utility, (N, K) interference and rates of the placed links (a >= 0) from scratch."""
    placed = a >= 0
    src = net.cross_col
    keep = placed[src]
    flat = net.cross_row[keep] * net.K + a[src[keep]]
    interference = np.bincount(flat, weights=net.cross_power_w[keep], minlength=net.N * net.K).reshape(net.N, net.K)
    idx = np.flatnonzero(placed)
    rates = np.zeros(net.N)
    rates[idx] = np.log2(1 + net.signal_w[idx, a[idx]] / (net.noise_w + interference[idx, a[idx]]))
    return rates.sum(), interference, rates


def _assert_state_matches(state, net):
    a = state.assignment.copy()
    utility, interference, rates = _placed_reference(net, a)
    assert state.utility == pytest.approx(utility, rel=1e-10, abs=1e-9)
    # additions and removals of strong interferers leave rounding of their size: compare against
    # the receiver's noise + worst-case interference
    scale = net.noise_w + np.bincount(net.cross_row, weights=net.cross_power_w, minlength=net.N)
    assert (np.abs(state.interference_w - interference) <= 1e-10 * scale[:, None]).all()
    np.testing.assert_allclose(state.rates, rates, rtol=1e-9, atol=1e-9)
    if (a >= 0).all():
        assert state.utility == pytest.approx(sum_rate(net, a), rel=1e-10)
        assert (np.abs(state.interference_w - channel_interference_w(net, a)) <= 1e-10 * scale[:, None]).all()


def _graph(seed):
    rng = np.random.default_rng(seed)
    n = 40
    edges = [(i, j) for i, j in itertools.combinations(range(n), 2) if rng.random() < 0.12]
    return from_edges(n, edges, 3)


def _renumbered(net, perm):
    """`net` with the engine's internal renumbering forced (as on large instances)."""
    adjacency_module._CACHE[net] = adjacency_module.adjacency(net, perm=perm)
    return net


NETS = {
    "sparse": lambda: generate_ppp(120, 4, "sparse", 1),
    "dense": lambda: generate_ppp(120, 4, "dense", 2),
    "ultra-dense": lambda: generate_ppp(120, 5, "ultra-dense", 3),
    "graph": lambda: _graph(4),
    "dense-spatial": lambda: _renumbered(n := generate_ppp(150, 4, "dense", 5), spatial_order(n.rx_xy)),
    "graph-shuffled": lambda: _renumbered(_graph(6), np.random.default_rng(6).permutation(40)),
}


@pytest.fixture(scope="module", params=sorted(NETS))
def net(request):
    return NETS[request.param]()


def test_random_move_sequences_match_a_recomputation(net):
    rng = np.random.default_rng(0)
    start = rng.integers(-1, net.K, size=net.N)          # some links start unplaced
    state = MoveState(net, start)
    _assert_state_matches(state, net)
    for step in range(600):
        i = int(rng.integers(net.N))
        r = rng.random()
        if r < 0.1:
            state.unplace(i)
        else:
            state.move(i, int(rng.integers(net.K)))
        if step % 100 == 99:
            _assert_state_matches(state, net)
    _assert_state_matches(state, net)


def test_gains_equal_the_utility_change_of_each_move(net):
    rng = np.random.default_rng(1)
    state = MoveState(net, rng.integers(-1, net.K, size=net.N))
    for i in rng.choice(net.N, size=12, replace=False):
        gains = state.gains(i)
        before = state.utility
        c = int(state.assignment[i])
        for k in range(net.K):
            trial = state.copy()
            trial.move(i, k)
            assert gains[k] == pytest.approx(trial.utility - before, abs=1e-9)
            if c >= 0:
                assert state.move_delta(i, k) == pytest.approx(gains[k], abs=1e-9)
        if c >= 0:
            assert gains[c] == 0.0
            k, g = state.best_move(i)
            best = int(np.argmax(np.where(np.arange(net.K) == c, -np.inf, gains)))
            if gains[best] > 1e-12:
                assert (k, g) == (best, pytest.approx(gains[best]))
            else:
                assert k == -1


def test_move_gains_is_the_engine_on_a_full_assignment(net):
    a = np.random.default_rng(2).integers(0, net.K, size=net.N)
    gains = move_gains(net, a)
    for i in range(0, net.N, 7):
        for k in range(net.K):
            b = a.copy()
            b[i] = k
            assert gains[i, k] == pytest.approx(sum_rate(net, b) - sum_rate(net, a), abs=1e-9)


def test_greedy_places_every_link_on_its_best_marginal_channel(net):
    order = np.random.default_rng(3).permutation(net.N)
    a = greedy_assign(net, order=order)
    assert (a >= 0).all()
    # replay: each link's channel maximised the placed links' utility at its turn
    partial = np.full(net.N, -1)
    for i in order[:40]:
        values = []
        for k in range(net.K):
            partial[i] = k
            values.append(_placed_reference(net, partial)[0])
        assert a[i] == int(np.argmax(values))
        partial[i] = a[i]


def test_greedy_keeps_placed_links_and_stops_at_a_past_deadline(net):
    fixed = np.full(net.N, -1)
    fixed[:5] = 0
    a = greedy_assign(net, assignment=fixed)
    assert (a[:5] == 0).all() and (a >= 0).all()
    state = MoveState(net)
    assert state.greedy(deadline=time.perf_counter() - 1) is False
    assert (state.assignment == -1).all()


def test_descend_reaches_a_local_optimum_and_never_worsens(net):
    state = MoveState(net, np.random.default_rng(4).integers(0, net.K, size=net.N))
    before = state.utility
    state.descend()
    assert state.utility >= before
    gains = state.all_gains()
    assert gains.max() <= 1e-9
    _assert_state_matches(state, net)


def test_solve_cluster_finds_the_joint_optimum_of_the_cluster(net):
    rng = np.random.default_rng(5)
    a = rng.integers(0, net.K, size=net.N)
    links = rng.choice(net.N, size=3, replace=False)
    best = -np.inf
    for combo in itertools.product(range(net.K), repeat=3):
        b = a.copy()
        b[links] = combo
        best = max(best, sum_rate(net, b))
    state = MoveState(net, a)
    gained = state.solve_cluster(links)
    assert state.utility == pytest.approx(best, rel=1e-10)
    assert gained == pytest.approx(best - sum_rate(net, a), abs=1e-8)
    _assert_state_matches(state, net)
    with pytest.raises(ValueError, match="solve_cluster"):
        state.solve_cluster(np.arange(min(net.N, 40)))


def test_set_follows_a_new_assignment_by_moves_or_rebuild(net):
    rng = np.random.default_rng(6)
    state = MoveState(net, rng.integers(0, net.K, size=net.N))
    for changed in (3, net.N):
        target = state.assignment.copy()
        idx = rng.choice(net.N, size=changed, replace=False)
        target[idx] = rng.integers(0, net.K, size=changed)
        state.set(target)
        np.testing.assert_array_equal(state.assignment, target)
        _assert_state_matches(state, net)


@pytest.mark.parametrize("which", ["ils", "tabu", "anneal"])
def test_searches_return_their_best_and_keep_the_state_exact(net, which):
    state = MoveState(net, greedy_assign(net))
    state.descend()
    start = state.utility
    offers = []
    run = {"ils": search.ils, "tabu": search.tabu, "anneal": search.anneal}[which]
    info = run(state, time.perf_counter() + 0.15, np.random.default_rng(7), on_best=lambda a, u: offers.append((a.copy(), u)))
    assert info
    assert state.utility >= start - 1e-9
    _assert_state_matches(state, net)
    for a, u in offers:
        assert sum_rate(net, a) == pytest.approx(u, rel=1e-9)
    if offers:
        assert offers[-1][1] == pytest.approx(state.utility, rel=1e-9)


def test_state_rejects_bad_input(small_net):
    with pytest.raises(ValueError, match="shape"):
        MoveState(small_net, np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match="values"):
        MoveState(small_net, np.full(small_net.N, small_net.K))
    state = MoveState(small_net)
    with pytest.raises(ValueError, match="channel"):
        state.move(0, small_net.K)
    assert state.assignment.flags.writeable is False


def test_warmup_is_idempotent():
    warm.warmup()
    assert warm.warmup() == 0.0


def test_link_rates_agree_with_utility_module(small_net):
    a = np.random.default_rng(8).integers(0, small_net.K, size=small_net.N)
    np.testing.assert_allclose(MoveState(small_net, a).rates, link_rates(small_net, a), rtol=1e-10)


def test_renumbering_is_invisible_from_outside():
    plain = generate_ppp(150, 4, "dense", 5)
    shuffled = _renumbered(generate_ppp(150, 4, "dense", 5), np.random.default_rng(9).permutation(150))
    assert shuffled.N == plain.N and adjacency_module.adjacency(shuffled).perm is not None
    a = np.random.default_rng(10).integers(0, 4, size=150)
    s1, s2 = MoveState(plain, a), MoveState(shuffled, a)
    np.testing.assert_array_equal(s1.assignment, s2.assignment)
    np.testing.assert_allclose(s1.all_gains(), s2.all_gains(), atol=1e-9)
    np.testing.assert_allclose(s1.interference_w, s2.interference_w, rtol=1e-12)
    order = np.random.default_rng(11).permutation(150)
    np.testing.assert_array_equal(greedy_assign(plain, order), greedy_assign(shuffled, order))
    for state in (s1, s2):
        state.move(7, 2)
        state.sweep(order)
    np.testing.assert_array_equal(s1.assignment, s2.assignment)
    assert s1.utility == pytest.approx(s2.utility, rel=1e-12)


def test_spatial_renumbering_kicks_in_on_large_instances(monkeypatch):
    monkeypatch.setattr(adjacency_module, "SPATIAL_MIN_N", 100)
    net = generate_ppp(120, 3, "dense", 12)
    adj = adjacency_module.adjacency(net)
    assert adj.perm is not None and sorted(adj.perm.tolist()) == list(range(120))
    assert (adj.inv[adj.perm] == np.arange(120)).all()


# ----- the move vocabulary of generated programs (NetView), each an engine call --------------------
@pytest.fixture(scope="module")
def view():
    from lsa.programs.primitives import NetView

    return NetView(generate_ppp(200, 4, "ultra-dense", 13))


def test_view_single_moves_are_exact_and_never_worse(view):
    net = view._net
    a = view.random_assignment(np.random.default_rng(0))
    k, g = view.best_move(a, 3)
    b = a.copy()
    b[3] = k
    assert k != a[3] and g == pytest.approx(sum_rate(net, b) - sum_rate(net, a), abs=1e-9)
    improved = view.improve(a)
    assert view.utility(improved) > view.utility(a)
    local = view.descend(a)
    assert view.move_gains(local).max() <= 1e-9 and view.utility(local) >= view.utility(improved) - 1e-9
    assert (view.improve(a, links=[0, 1, 2]) != a).sum() <= 3
    np.testing.assert_array_equal(a, view.random_assignment(np.random.default_rng(0)))   # input untouched


def test_view_swaps_clusters_and_kicks(view):
    net = view._net
    a = view.descend(view.greedy())
    group = view.cluster(5, size=3)
    assert group[0] == 5 and len(set(group.tolist())) == 3
    assert set(group[1:].tolist()) <= set(view.neighbors(5).tolist())
    i, j = int(group[0]), int(group[1])
    swapped = view.swap(a, i, j)
    assert (swapped[i], swapped[j]) == (a[j], a[i])
    assert view.swap_gain(a, i, j) == pytest.approx(sum_rate(net, swapped) - sum_rate(net, a), abs=1e-9)
    assert view.utility(view.improve_swaps(a)) >= view.utility(a) - 1e-9
    solved = view.solve_cluster(a, group)
    assert view.utility(solved) >= view.utility(a) - 1e-9
    assert (solved != a).sum() <= 3
    kicked = view.kick(a, np.random.default_rng(1), size=3, center=7)
    assert 1 <= (kicked != a).sum() <= 3 and kicked[7] != a[7]


def test_view_searches_never_return_worse_and_respect_time(view):
    rng = np.random.default_rng(2)
    a = view.greedy()
    for name, call in [("tabu", lambda: view.tabu_search(a, rng, steps=300)),
                       ("ils", lambda: view.ils(a, rng, time_s=0.1)),
                       ("anneal", lambda: view.anneal(a, rng, time_s=0.1)),
                       ("restarts", lambda: view.restarts(rng, time_s=0.1)),
                       ("local_search", lambda: view.local_search(a, rng, time_s=0.1))]:
        t0 = time.perf_counter()
        out = call()
        assert time.perf_counter() - t0 < 0.6, name
        assert out.shape == (view.N,) and out.min() >= 0 and out.max() < view.K
        if name != "restarts":
            assert view.utility(out) >= view.utility(a) - 1e-9, name
    assert view.utility(view.local_search(time_s=0.1)) > view.utility(a)


def test_view_long_calls_are_capped_by_time_left_and_stream_offers(view):
    offers = []

    class Anytime:                      # what the sandbox installs: a deadline and an offer sink
        deadline = time.monotonic() + 0.3

        def offer(self, assignment):
            offers.append(np.asarray(assignment).copy())

    view._anytime = Anytime()
    try:
        t0 = time.perf_counter()
        out = view.local_search(time_s=30.0)
        assert time.perf_counter() - t0 < 0.35
        assert offers and view.utility(out) >= max(view.utility(o) for o in offers) - 1e-9
    finally:
        view._anytime = None


def test_view_rejects_bad_arguments(view):
    a = view.greedy()
    with pytest.raises(ValueError, match="time_s"):
        view.ils(a, None, time_s=float("nan"))
    assert view.utility(view.ils(a, None, time_s=-1)) >= view.utility(a)      # negative time: none, not an error
    with pytest.raises(TypeError, match="rng"):
        view.anneal(a, rng=3)
    with pytest.raises(IndexError):
        view.best_move(a, view.N)
    with pytest.raises(ValueError, match="solve_cluster"):
        view.solve_cluster(a, np.arange(20))
    with pytest.raises(ValueError, match="links"):
        view.improve(a, links=[0.5])


def test_gains_stay_exact_when_the_victim_products_leave_the_float_range():
    """A transmitter with 120 victims of SINR ~1e9 that it would hit hard: the per-channel product
    of the victims' (1 + SINR) ratios exceeds 1e300, so the kernels fold it into logs."""
    from lsa.sim.network import Network

    n, K = 121, 2
    rows = np.arange(1, n)
    cols = np.zeros(n - 1, dtype=np.int64)
    direct = np.full((n, K), 1e9)
    net = Network.build(K, np.ones(n), 1.0, 1.0, direct, rows, cols, np.full(n - 1, 1e8))
    a = np.zeros(n, dtype=np.int64)
    a[0] = 1                                       # every victim on channel 0, the mover on 1
    state = MoveState(net, a)
    gains = state.gains(0)
    b = a.copy()
    b[0] = 0
    assert gains[0] == pytest.approx(sum_rate(net, b) - sum_rate(net, a), rel=1e-9)
    assert gains[0] < -100                         # about 120 * log2(10) lost
    assert state.move_delta(0, 0) == pytest.approx(gains[0], rel=1e-9)
    state.move(0, 0)
    assert state.gains(0)[1] == pytest.approx(-gains[0], rel=1e-9)
    _assert_state_matches(state, net)


def test_one_channel_and_isolated_links_are_handled():
    from lsa.methods.protocol import run_method

    net = from_edges(5, [(0, 1), (1, 2)], 1)
    for method in ("greedy", "local-search", "ils"):
        row, a = run_method(net, method, 0.3, 0)
        assert (a == 0).all() and row["valid"]
    lone = from_edges(3, [], 2)
    state = MoveState(lone, [0, 1, -1])
    assert state.all_gains().shape == (3, 2) and state.best_move(0) == (-1, 0.0)
    state.descend()
    _assert_state_matches(state, lone)


def test_channels_of_reads_single_links_in_instance_numbering():
    net = _renumbered(generate_ppp(150, 4, "dense", 5), np.random.default_rng(3).permutation(150))
    a = np.random.default_rng(4).integers(-1, 4, size=150)
    state = MoveState(net, a)
    links = np.array([3, 140, 0, 77])
    np.testing.assert_array_equal(state.channels_of(links), a[links])
