"""Physical parameters of generated instances (docs/model.md): the `network:` section of a profile.

Every modelling assumption is a field here with its unit in the name and its value in
`config/*.yaml`; the YAML wins.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from lsa.config import Section, option, section


def dbm_to_w(dbm: float) -> float:
    return 10.0 ** ((dbm - 30.0) / 10.0)


@dataclass(frozen=True)
class NetworkConfig(Section):
    """Physical layer of generated instances (docs/model.md). Units are in the field names."""

    SECTION = "network"

    density_links_per_km2: dict[str, float] = option(
        {"sparse": 100.0, "dense": 1000.0, "ultra-dense": 10000.0},
        "Link density of each regime (links/km²); the square's side is sqrt(N / density).")
    d_min_m: float = option(10.0, "Minimum transmitter-receiver distance of a link (m).")
    d_max_m: float = option(50.0, "Maximum transmitter-receiver distance of a link (m).")
    bandwidth_hz: float = option(1.0e6, "Bandwidth of each orthogonal channel (Hz).")
    power_dbm: float = option(20.0, "Transmit power of every transmitter (dBm).")
    noise_psd_dbm_hz: float = option(-174.0, "Thermal noise power spectral density (dBm/Hz).")
    noise_figure_db: float = option(9.0, "Receiver noise figure (dB).")
    pathloss_intercept_db: float = option(
        28.0, "Path loss at 1 m plus carrier term (3GPP TR 38.901 UMi NLOS at 2.4 GHz ~ 22.4 + 21.3 log10 fc), dB.")
    pathloss_exponent: float = option(3.53, "Path-loss exponent: PL(d) = intercept + 10 * exponent * log10(d_m).")
    min_distance_m: float = option(1.0, "Distances are clipped below this (avoids the log-distance singularity), m.")
    shadowing_sigma_db: float = option(7.82, "Standard deviation of log-normal shadowing (per tx-rx pair, channel independent), dB.")
    rayleigh_direct: bool = option(True, "Frequency-selective Rayleigh fading on direct links (a gain per channel).")
    interference_threshold_db: float = option(
        -20.0, "A cross pair is stored when P_j g_ij exceeds the noise power times 10^(threshold/10).")
    max_interferers_per_link: int | None = option(
        256, "Keep at most this many strongest interferers per receiver (null: no cap, exact).")
    candidate_factor: int = option(2, "With a cap, candidates are the cap*factor nearest transmitters within the cutoff radius.")

    def check(self) -> None:
        if not self.density_links_per_km2:
            self.fail("density_links_per_km2 must name at least one regime")
        for regime, density in self.density_links_per_km2.items():
            if not density > 0:
                self.fail(f"density_links_per_km2[{regime!r}] must be > 0, got {density}")
        if not 0 < self.d_min_m <= self.d_max_m:
            self.fail(f"need 0 < d_min_m <= d_max_m, got {self.d_min_m}, {self.d_max_m}")
        if self.bandwidth_hz <= 0:
            self.fail("bandwidth_hz must be > 0")
        if self.shadowing_sigma_db < 0:
            self.fail("shadowing_sigma_db must be >= 0")
        if self.pathloss_exponent <= 0:
            self.fail("pathloss_exponent must be > 0")
        if self.min_distance_m <= 0:
            self.fail("min_distance_m must be > 0")
        if self.max_interferers_per_link is not None and self.max_interferers_per_link < 1:
            self.fail("max_interferers_per_link must be >= 1 or null")
        if self.candidate_factor < 1:
            self.fail("candidate_factor must be >= 1")

    def noise_w(self) -> float:
        """Noise power per channel: PSD + 10 log10(B) + NF, in watts."""
        return dbm_to_w(self.noise_psd_dbm_hz + 10.0 * math.log10(self.bandwidth_hz) + self.noise_figure_db)

    def power_w(self) -> float:
        return dbm_to_w(self.power_dbm)


def network_config(config: dict | None) -> NetworkConfig:
    """The `network:` section of a loaded profile (defaults where it is absent)."""
    return section(config, NetworkConfig)
