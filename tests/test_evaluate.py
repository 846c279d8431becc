"""`evaluate`: the grid runs in grid order, and runs spread over pinned workers give the same
deterministic results as one after the other."""
import os

import pytest

from lsa.errors import ConfigError
from lsa.methods.evaluate import core_groups, evaluate, evaluation_config

GRID = {"evaluation": {"instances": [{"N": [120], "K": 4, "regimes": ["dense", "sparse"], "seeds": [0, 1]}],
                       "methods": ["random", "greedy"], "budgets_s": [0.1]}}


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores")
def test_parallel_workers_match_serial():
    parallel = evaluate(GRID, progress=False)
    serial = evaluate({"evaluation": {**GRID["evaluation"], "workers": 1}}, progress=False)
    assert list(parallel["instance"]) == list(serial["instance"])           # grid order either way
    greedy = parallel["method"] == "greedy"                                 # deterministic: same utility
    assert (parallel.loc[greedy, "utility"].values == serial.loc[greedy, "utility"].values).all()
    assert not parallel["overrun"].any()


def test_core_groups_are_disjoint():
    groups = core_groups(threads=1, workers=None)
    flat = [c for g in groups for c in g]
    assert len(flat) == len(set(flat)) == len(groups)
    assert len(core_groups(threads=1, workers=1)) == 1


@pytest.mark.parametrize("bad", [
    {"threads": 0}, {"workers": 0}, {"budgets_s": [float("inf")]}, {"budgets_s": ["2"]},
    {"methods": ["nope"]}, {"instances": [{"N": [0], "K": 2, "regimes": ["dense"], "seeds": [0]}]},
    {"instances": [{"N": [10], "K": "2", "regimes": ["dense"], "seeds": [0]}]},
])
def test_bad_evaluation_config_is_one_config_error(bad):
    with pytest.raises(ConfigError):
        evaluation_config({"evaluation": {**GRID["evaluation"], **bad}})
