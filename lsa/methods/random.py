"""`random`: uniformly random channels, resampled while time remains (best kept)."""
from __future__ import annotations

import numpy as np

from lsa.methods.protocol import Anytime, random_assignment
from lsa.methods.registry import Method, register
from lsa.sim.network import Network


def solve(net: Network, run: Anytime, rng: np.random.Generator, max_samples: int | None = None) -> dict:
    samples = 0
    while not run.expired() and (max_samples is None or samples < max_samples):
        run.offer(random_assignment(net, rng))
        samples += 1
    return {"samples": samples}


register(Method("random", "uniformly random channel per link, resampled while time remains", solve))
