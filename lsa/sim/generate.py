"""Instance generators: the Poisson-point-process D2D network (docs/model.md), protocol-model
instances from an edge list (docs/model.md, protocol-model instances), and re-truncation of an instance's cross pairs.
"""
from __future__ import annotations

from dataclasses import asdict

import numpy as np

from lsa.errors import InstanceFormatError
from lsa.sim.network import Network
from lsa.sim.params import NetworkConfig


def generate_ppp(n_links: int, K: int, regime: str, seed: int, params: NetworkConfig | None = None) -> Network:
    """Poisson point process D2D network (docs/model.md).

    Transmitters are uniform in a square of side sqrt(N / density); each receiver at a uniform
    distance in [d_min, d_max] and uniform direction. Gains follow log-distance path loss with
    log-normal shadowing; direct links add per-channel Rayleigh fading. Cross pairs below the
    truncation threshold are dropped (and at most `max_interferers_per_link` kept per receiver).
    """
    params = params or NetworkConfig()
    if n_links < 1:
        raise InstanceFormatError(f"need at least one link, got N = {n_links}")
    if K < 1:
        raise InstanceFormatError(f"invalid instance: key 'K' must be >= 1, got {K}")
    if regime not in params.density_links_per_km2:
        raise InstanceFormatError(f"unknown regime {regime!r}; known: {', '.join(params.density_links_per_km2)}")
    rng = np.random.default_rng(seed)
    density_per_m2 = params.density_links_per_km2[regime] / 1e6
    side_m = float(np.sqrt(n_links / density_per_m2))
    tx = rng.uniform(0.0, side_m, size=(n_links, 2))
    dist = rng.uniform(params.d_min_m, params.d_max_m, size=n_links)
    angle = rng.uniform(0.0, 2 * np.pi, size=n_links)
    rx = tx + dist[:, None] * np.c_[np.cos(angle), np.sin(angle)]

    def gain_db(d_m, n):
        d_m = np.maximum(d_m, params.min_distance_m)
        pl = params.pathloss_intercept_db + 10 * params.pathloss_exponent * np.log10(d_m)
        return -pl + params.shadowing_sigma_db * rng.standard_normal(n)

    direct = 10 ** (gain_db(dist, n_links) / 10)
    direct = direct[:, None] * (rng.exponential(1.0, size=(n_links, K)) if params.rayleigh_direct
                                else np.ones((n_links, K)))

    power_w, noise_w = params.power_w(), params.noise_w()
    threshold_w = noise_w * 10 ** (params.interference_threshold_db / 10)
    # cutoff radius: no pair beyond it can pass the threshold even with +4 sigma shadowing
    max_gain_db = 10 * np.log10(threshold_w / power_w) - 4 * params.shadowing_sigma_db
    radius_m = 10 ** ((-max_gain_db - params.pathloss_intercept_db) / (10 * params.pathloss_exponent))
    from scipy.spatial import cKDTree  # only generation needs it (0.3-0.7 s to import)

    tree = cKDTree(tx)
    cap = params.max_interferers_per_link
    if cap is None:
        lists = tree.query_ball_point(rx, r=radius_m)
        rows = np.repeat(np.arange(n_links), [len(x) for x in lists])
        cols = np.fromiter((c for x in lists for c in x), dtype=np.int64, count=len(rows))
    else:
        k_nn = min(n_links, cap * params.candidate_factor + 1)
        _, idx = tree.query(rx, k=k_nn, distance_upper_bound=radius_m)
        idx = np.asarray(idx).reshape(n_links, -1)
        rows = np.repeat(np.arange(n_links), idx.shape[1])
        cols = idx.ravel()
        keep = cols < n_links
        rows, cols = rows[keep], cols[keep]
    keep = rows != cols
    rows, cols = rows[keep].astype(np.int64), cols[keep].astype(np.int64)
    d = np.linalg.norm(rx[rows] - tx[cols], axis=1)
    gain = 10 ** (gain_db(d, len(d)) / 10)
    rows, cols, gain = truncate_pairs(rows, cols, gain, power_w * gain > threshold_w, cap)
    meta = dict(generator="ppp", regime=regime, seed=int(seed), N=int(n_links), K=int(K), side_m=side_m,
                cutoff_radius_m=float(radius_m), params=asdict(params))
    return Network.build(K, np.full(n_links, power_w), noise_w, params.bandwidth_hz, direct,
                         rows, cols, gain, tx, rx, meta)


def truncate_pairs(rows, cols, gain, keep, cap):
    """Keep the masked pairs, then at most `cap` strongest per receiver (None: all)."""
    rows, cols, gain = rows[keep], cols[keep], gain[keep]
    if cap is not None and len(rows):
        order = np.lexsort((-gain, rows))
        rows, cols, gain = rows[order], cols[order], gain[order]
        rank = np.arange(len(rows)) - np.searchsorted(rows, rows, side="left")
        keep = rank < cap
        rows, cols, gain = rows[keep], cols[keep], gain[keep]
    return rows, cols, gain


def truncate(net: Network, threshold_db: float, cap: int | None) -> Network:
    """Re-apply the truncation of docs/model.md to an instance (used to measure its effect against dense)."""
    threshold_w = net.noise_w * 10 ** (threshold_db / 10)
    rows, cols, gain = truncate_pairs(net.cross_row, net.cross_col, net.cross_gain,
                                      net.cross_power_w > threshold_w, cap)
    meta = dict(net.meta, truncation={"threshold_db": threshold_db, "cap": cap})
    return Network.build(net.K, net.power_w, net.noise_w, net.bandwidth_hz, net.direct_gain,
                         rows, cols, gain, net.tx_xy, net.rx_xy, meta)


PROTOCOL_NOISE_W = 0.01


def from_edges(n_nodes: int, edges: np.ndarray, K: int, meta: dict | None = None) -> Network:
    """Protocol-model instance: direct gain 1, cross gain 1 both ways per edge, P = 1, noise 0.01."""
    if K < 1:
        raise InstanceFormatError(f"invalid instance: key 'K' must be >= 1, got {K}")
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    edges = edges[edges[:, 0] != edges[:, 1]]
    lo, hi = np.minimum(edges[:, 0], edges[:, 1]), np.maximum(edges[:, 0], edges[:, 1])
    key = np.unique(lo * n_nodes + hi)
    lo, hi = key // n_nodes, key % n_nodes
    rows = np.r_[lo, hi]
    cols = np.r_[hi, lo]
    return Network.build(K, np.ones(n_nodes), PROTOCOL_NOISE_W, 1.0, np.ones((n_nodes, K)),
                         rows, cols, np.ones(len(rows)), None, None,
                         dict(generator="protocol", regime="graph", N=int(n_nodes), K=int(K), **(meta or {})))




def check_generation_size(n_links: int, K: int, params: NetworkConfig, what: str) -> None:
    """Refuse a PPP instance that would not fit in memory, before generating it (an
    `InstanceFormatError` naming `what`): at most max_interferers_per_link pairs per link."""
    from lsa.sim.network import check_size

    cap = params.max_interferers_per_link
    check_size(n_links, K, n_links * min(n_links - 1, cap if cap is not None else n_links - 1), what)
