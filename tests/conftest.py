import numpy as np
import pytest

from lsa.sim.generate import generate_ppp


@pytest.fixture(scope="session")
def small_net():
    return generate_ppp(60, 4, "dense", 3)


@pytest.fixture(scope="session")
def dense_2000():
    return generate_ppp(2000, 8, "dense", 0)


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """The whole smoke pipeline, once per test session, in a fresh temporary copy of the repository:
    (root, snakemake's CompletedProcess, wall s). Tests read it and never change it (a test that
    changes the run works on a copy: tests/test_multi_gpu.py)."""
    from test_workflow import run_smoke_pipeline

    return run_smoke_pipeline(tmp_path_factory.mktemp("smoke"))


@pytest.fixture(autouse=True)
def _seed_numpy_per_test():
    # numpy's global generator starts from the same state in every test, whatever ran before it
    np.random.seed(0)
