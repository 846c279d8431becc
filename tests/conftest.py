import numpy as np
import pytest

from lsa.sim.generate import generate_ppp


@pytest.fixture(scope="session")
def small_net():
    return generate_ppp(60, 4, "dense", 3)


@pytest.fixture(scope="session")
def dense_2000():
    return generate_ppp(2000, 8, "dense", 0)


def pytest_collection_modifyitems(config, items):
    # make the default seed deterministic per test
    np.random.seed(0)
