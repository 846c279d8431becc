import json

import numpy as np
import pytest

from lsa.errors import InstanceFormatError
from lsa.sim.formats import load_npz, read_dimacs, save_npz, write_dimacs
from lsa.sim.generate import from_edges, generate_ppp, truncate
from lsa.sim.network import FORMAT
from lsa.sim.params import NetworkConfig
from lsa.sim.utility import sum_rate


def test_round_trip_is_exact(tmp_path, small_net):
    path = save_npz(small_net, tmp_path / "net.npz")
    back = load_npz(path)
    assert back.N == small_net.N and back.K == small_net.K
    for key in ("power_w", "direct_gain", "cross_row", "cross_col", "cross_gain", "tx_xy", "rx_xy"):
        np.testing.assert_array_equal(getattr(back, key), getattr(small_net, key))
    assert back.noise_w == small_net.noise_w and back.bandwidth_hz == small_net.bandwidth_hz
    assert back.meta["regime"] == "dense"
    with np.load(path) as raw:  # the public contract: plain numpy keys
        assert str(raw["format"]) == FORMAT
        assert raw["direct_gain"].shape == (small_net.N, small_net.K)
        assert raw["cross_row"].dtype == np.int64
        json.loads(str(raw["meta"]))


def test_generator_regimes_and_geometry():
    p = NetworkConfig()
    utils = {}
    for regime in ("sparse", "dense", "ultra-dense"):
        net = generate_ppp(400, 4, regime, 1, p)
        d = np.linalg.norm(net.rx_xy - net.tx_xy, axis=1)
        assert d.min() >= p.d_min_m - 1e-9 and d.max() <= p.d_max_m + 1e-9
        assert net.meta["side_m"] == pytest.approx(np.sqrt(400 / (p.density_links_per_km2[regime] / 1e6)))
        assert np.bincount(net.cross_row, minlength=net.N).max() <= p.max_interferers_per_link
        a = np.random.default_rng(0).integers(0, 4, 400)
        utils[regime] = sum_rate(net, a) / net.N
    # denser networks interfere more: per-link utility of a random assignment drops
    assert utils["sparse"] > utils["dense"] > utils["ultra-dense"]


def test_generator_is_deterministic():
    a, b = generate_ppp(100, 3, "dense", 7), generate_ppp(100, 3, "dense", 7)
    np.testing.assert_array_equal(a.cross_gain, b.cross_gain)
    c = generate_ppp(100, 3, "dense", 8)
    assert not np.array_equal(a.direct_gain, c.direct_gain)


@pytest.mark.parametrize("regime", ["sparse", "dense", "ultra-dense"])
def test_truncation_error_is_small_against_dense(regime):
    """SPEC §1: the default truncation (-20 dB below noise, 256 strongest) is measured against dense."""
    dense_params = NetworkConfig(interference_threshold_db=-300.0, max_interferers_per_link=None)
    dense = generate_ppp(1000, 8, regime, 1, dense_params)
    default = NetworkConfig()
    sparse = truncate(dense, default.interference_threshold_db, default.max_interferers_per_link)
    assert sparse.M < dense.M
    rng = np.random.default_rng(0)
    for _ in range(3):
        a = rng.integers(0, 8, dense.N)
        u_dense, u_sparse = sum_rate(dense, a), sum_rate(sparse, a)
        assert u_sparse >= u_dense  # dropping interference can only raise utility
        assert (u_sparse - u_dense) / u_dense < 0.02  # stated tolerance: 2 %


def _payload(net):
    return dict(format=np.array(FORMAT), K=np.array(net.K), power_w=net.power_w, noise_w=np.array(net.noise_w),
                bandwidth_hz=np.array(net.bandwidth_hz), direct_gain=np.array(net.direct_gain),
                cross_row=np.array(net.cross_row), cross_col=np.array(net.cross_col),
                cross_gain=np.array(net.cross_gain))


@pytest.mark.parametrize("mutate, key", [
    (lambda d: d.pop("direct_gain"), "direct_gain"),
    (lambda d: d.pop("cross_gain"), "cross_gain"),
    (lambda d: d.__setitem__("format", np.array("other-v9")), "format"),
    (lambda d: d.__setitem__("K", np.array(0)), "K"),
    (lambda d: d.__setitem__("direct_gain", d["direct_gain"][:, :2]), "direct_gain"),
    (lambda d: d["direct_gain"].__setitem__((0, 0), np.nan), "direct_gain"),
    (lambda d: d["cross_gain"].__setitem__(0, np.inf), "cross_gain"),
    (lambda d: d["cross_gain"].__setitem__(0, -1.0), "cross_gain"),
    (lambda d: d["cross_row"].__setitem__(0, 10_000), "cross_row"),
    (lambda d: d["cross_col"].__setitem__(0, -1), "cross_col"),
    (lambda d: d.__setitem__("cross_row", d["cross_row"][:-1]), "cross_gain"),
    (lambda d: d.__setitem__("power_w", np.ones(3)), "power_w"),
    (lambda d: d.__setitem__("noise_w", np.array(-1.0)), "noise_w"),
])
def test_malformed_instance_names_the_key(tmp_path, small_net, mutate, key):
    d = _payload(small_net)
    mutate(d)
    path = tmp_path / "bad.npz"
    np.savez(path, **d)
    with pytest.raises(InstanceFormatError, match=f"'{key}'"):
        load_npz(path)


def test_corrupt_and_missing_files(tmp_path):
    bad = tmp_path / "corrupt.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(InstanceFormatError, match="not a valid .npz"):
        load_npz(bad)
    with pytest.raises(InstanceFormatError, match="not found"):
        load_npz(tmp_path / "absent.npz")


def test_save_is_atomic_on_failure(tmp_path, small_net, monkeypatch):
    target = tmp_path / "out.npz"

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(np.lib.format, "write_array", boom)   # fails while writing a member
    with pytest.raises(RuntimeError):
        save_npz(small_net, target)
    assert list(tmp_path.iterdir()) == []


def test_incompressible_members_are_stored_and_the_file_is_deterministic(tmp_path, small_net):
    """Random gains and positions hardly deflate: they are stored, the rest deflated; np.load and
    load_npz read both, and the same network always gives the same bytes."""
    import zipfile

    first, second = save_npz(small_net, tmp_path / "a.npz"), save_npz(small_net, tmp_path / "b.npz")
    assert first.read_bytes() == second.read_bytes()
    kinds = {i.filename: i.compress_type for i in zipfile.ZipFile(first).infolist()}
    assert kinds["cross_gain.npy"] == zipfile.ZIP_STORED and kinds["cross_row.npy"] == zipfile.ZIP_DEFLATED
    with np.load(first) as raw:
        assert np.array_equal(raw["cross_gain"], small_net.cross_gain)
    assert np.array_equal(load_npz(first).cross_gain, small_net.cross_gain)


def test_dimacs_round_trip_and_protocol_model(tmp_path):
    edges = [(0, 1), (1, 2), (2, 0), (2, 3)]
    path = write_dimacs(4, edges, tmp_path / "g.col", comment="triangle plus tail")
    net = read_dimacs(path, K=3)
    assert net.N == 4 and net.M == 2 * len(edges)
    assert net.noise_w == 0.01 and np.all(net.direct_gain == 1) and np.all(net.power_w == 1)
    proper = np.array([0, 1, 2, 0])
    from lsa.sim.utility import conflicts, sinr
    assert conflicts(net, proper) == 0
    np.testing.assert_allclose(sinr(net, proper), 100.0)
    clash = np.array([0, 0, 2, 1])
    assert conflicts(net, clash) == 1
    assert sinr(net, clash)[0] < 1


@pytest.mark.parametrize("text, match", [
    ("e 1 2\n", "before the 'p edge"),
    ("p edge 3 1\ne 1 9\n", "outside 1..3"),
    ("p edge x 1\n", "not an integer"),
    ("p edge 3 1\ne 1\n", "malformed edge"),
    ("p edge 3 1\nq 1 2\n", "unknown line type"),
    ("c only comments\n", "no 'p edge"),
])
def test_malformed_dimacs(tmp_path, text, match):
    path = tmp_path / "bad.col"
    path.write_text(text)
    with pytest.raises(InstanceFormatError, match=match):
        read_dimacs(path, K=3)


def test_from_edges_dedupes_and_drops_self_loops():
    net = from_edges(3, np.array([[0, 1], [1, 0], [1, 1], [1, 2]]), K=2)
    assert net.M == 4


@pytest.mark.parametrize("equal_powers", [True, False])
def test_cross_power_is_the_gather_bit_for_bit(small_net, equal_powers):
    """`cross_power_w` takes a shortcut when every transmitter has the same power (no gather): the
    result must be the same bits as P[cross_col] * g, and unequal powers must still be gathered."""
    from dataclasses import replace

    from lsa.sim.network import cross_power

    net = small_net
    if not equal_powers:
        powers = np.linspace(0.05, 0.2, net.N)
        net = replace(net, power_w=powers)
        assert not np.all(net.power_w == net.power_w[0])
    expected = np.asarray(net.power_w)[net.cross_col] * net.cross_gain
    got = cross_power(net)
    assert got.dtype == expected.dtype and np.array_equal(got.view(np.int64), expected.view(np.int64))
    assert np.array_equal(net.cross_power_w.view(np.int64), expected.view(np.int64))
