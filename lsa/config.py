"""Configuration: the physical defaults (SPEC §1) and YAML profile loading with validation.

Every modelling assumption lives in a dataclass field here *and* in `config/*.yaml`; the YAML wins.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError


@dataclass(frozen=True)
class NetworkParams:
    """Physical layer of generated instances (SPEC §1). Units are in the field names."""

    density_links_per_km2: dict = field(
        default_factory=lambda: {"sparse": 100.0, "dense": 1000.0, "ultra-dense": 10000.0}
    )
    """Link density of each regime; the square's side is sqrt(N / density)."""
    d_min_m: float = 10.0
    """Minimum transmitter-receiver distance of a link."""
    d_max_m: float = 50.0
    """Maximum transmitter-receiver distance of a link."""
    bandwidth_hz: float = 1.0e6
    """Bandwidth of each orthogonal channel."""
    power_dbm: float = 20.0
    """Transmit power of every transmitter."""
    noise_psd_dbm_hz: float = -174.0
    """Thermal noise power spectral density."""
    noise_figure_db: float = 9.0
    """Receiver noise figure."""
    pathloss_intercept_db: float = 28.0
    """Path loss at 1 m plus carrier term (3GPP TR 38.901 UMi NLOS at 2.4 GHz ~ 22.4 + 21.3 log10 fc)."""
    pathloss_exponent: float = 3.53
    """Path-loss exponent: PL(d) = intercept + 10 * exponent * log10(d_m)."""
    min_distance_m: float = 1.0
    """Distances are clipped below this (avoids the singularity of the log-distance model)."""
    shadowing_sigma_db: float = 7.82
    """Standard deviation of log-normal shadowing (per tx-rx pair, channel independent)."""
    rayleigh_direct: bool = True
    """Frequency-selective Rayleigh fading on direct links (a gain per channel)."""
    interference_threshold_db: float = -20.0
    """A cross pair is stored when P_j g_ij exceeds noise power times 10^(threshold/10)."""
    max_interferers_per_link: int | None = 256
    """Keep at most this many strongest interferers per receiver (None: no cap, exact)."""
    candidate_factor: int = 2
    """With a cap, candidates are the cap*factor nearest transmitters within the cutoff radius."""

    def noise_w(self) -> float:
        noise_dbm = self.noise_psd_dbm_hz + 10.0 * _log10(self.bandwidth_hz) + self.noise_figure_db
        return dbm_to_w(noise_dbm)

    def power_w(self) -> float:
        return dbm_to_w(self.power_dbm)

    def validate(self) -> "NetworkParams":
        if not self.density_links_per_km2:
            raise ConfigError("network.density_links_per_km2 must name at least one regime")
        for regime, density in self.density_links_per_km2.items():
            if not density > 0:
                raise ConfigError(f"network.density_links_per_km2[{regime!r}] must be > 0, got {density}")
        if not 0 < self.d_min_m <= self.d_max_m:
            raise ConfigError(f"network: need 0 < d_min_m <= d_max_m, got {self.d_min_m}, {self.d_max_m}")
        if self.bandwidth_hz <= 0:
            raise ConfigError("network.bandwidth_hz must be > 0")
        if self.shadowing_sigma_db < 0:
            raise ConfigError("network.shadowing_sigma_db must be >= 0")
        if self.pathloss_exponent <= 0:
            raise ConfigError("network.pathloss_exponent must be > 0")
        if self.max_interferers_per_link is not None and self.max_interferers_per_link < 1:
            raise ConfigError("network.max_interferers_per_link must be >= 1 or null")
        if self.candidate_factor < 1:
            raise ConfigError("network.candidate_factor must be >= 1")
        return self


def _log10(x: float) -> float:
    import math

    return math.log10(x)


def dbm_to_w(dbm: float) -> float:
    return 10.0 ** ((dbm - 30.0) / 10.0)


def load_yaml(path: str | Path) -> dict:
    """Read a YAML profile; a missing or malformed file is a `ConfigError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return data


def build_dataclass(cls: type, values: dict | None, section: str) -> Any:
    """Instantiate dataclass `cls` from a mapping; unknown keys are a `ConfigError`."""
    values = dict(values or {})
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown key(s) in config section '{section}': {', '.join(unknown)} "
                          f"(known: {', '.join(sorted(known))})")
    try:
        obj = cls(**values)
    except TypeError as exc:
        raise ConfigError(f"config section '{section}': {exc}") from None
    if hasattr(obj, "validate"):
        obj = obj.validate()
    return obj


def network_params(config: dict | None) -> NetworkParams:
    return build_dataclass(NetworkParams, (config or {}).get("network"), "network")
