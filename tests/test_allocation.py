"""`lsa-code`'s time allocation (lsa.policy.allocation, docs/policy.md "Time allocation at
inference"): the incumbent's program continued from the incumbent while it gains more per second
than other programs have yielded, instead of every program restarting its own search."""
from __future__ import annotations

import json

import numpy as np
import pytest

from lsa.errors import ConfigError
from lsa.methods.protocol import Anytime
from lsa.policy import inference
from lsa.policy.allocation import Allocation, RunTrace, continuation, continue_timeout_s
from lsa.policy.config import EMBEDDED_POLICY_DIR, InferenceConfig
from lsa.policy.seeds import SEED_PROGRAMS_FILE
from lsa.programs.runner import run_programs
from lsa.sim.generate import generate_ppp
from lsa.sim.utility import sum_rate

#: improves one link at a time from channel 0 everywhere, its offers spread evenly over its whole run:
#: it still gains in the second half of any run, and it calls no complete search (runs unchanged)
STEADY = """def assign(net, rng):
    a = np.zeros(net.N, dtype=np.int64)
    net.offer(a)
    total = net.time_left()
    for i in range(net.N):
        c, g = net.best_move(a, i)
        if g > 0:
            a[i] = c
            net.offer(a)
        while net.time_left() > total * (1 - (i + 1) / net.N):
            pass
    return a
"""


def test_a_continuation_starts_the_first_complete_search_from_the_incumbent():
    record = json.loads((EMBEDDED_POLICY_DIR / SEED_PROGRAMS_FILE).read_text())
    for program in record["programs"]:
        source = program["source"]
        out = continuation(source)
        assert out != source and ("net.local_search(net.start(), rng)" in out or "net.ils(net.start(), rng)" in out)
    keyword = "def assign(net, rng):\n    a = np.zeros(net.N, dtype=int)\n    a = net.ils(assignment=a, rng=rng)\n    return net.anneal(a, rng)\n"
    assert "net.ils(assignment=net.start(), rng=rng)" in continuation(keyword)
    assert "net.anneal(a, rng)" in continuation(keyword)            # only the first start is replaced
    built = "def assign(net, rng):\n    a = net.greedy()\n    return net.ils(a, rng)\n"
    assert "a = net.start()" in continuation(built) and "net.ils(a, rng)" in continuation(built)
    assert continuation(STEADY) == STEADY                            # no start it builds: the program itself
    composed = "def assign(net, rng):\n    a = net.greedy(order=net.order_by_signal())\n    return net.descend(a)\n"
    assert "a = net.start()" in continuation(composed)               # a primitives program's own start
    assert continuation("def assign(net, rng):\n    return net.restarts(rng)\n").endswith("net.restarts(rng)\n")


def test_a_continuation_runs_in_the_sandbox_and_never_loses_the_incumbent():
    net = generate_ppp(150, 4, "dense", 1)
    seed = json.loads((EMBEDDED_POLICY_DIR / SEED_PROGRAMS_FILE).read_text())["programs"][0]["source"]
    start = run_programs([seed], net, 0.3, seeds=[0], workers=1)[0]
    assert start.best_utility is not None
    incumbent = np.asarray(start.best_assignment, dtype=np.int64)
    res = run_programs([continuation(seed)], net, 0.3, seeds=[1], workers=1, starts=[incumbent])[0]
    assert res.status in ("ok", "timeout") and res.best_utility >= sum_rate(net, incumbent) - 1e-9


def test_the_rule_continues_while_the_best_program_gains_more_than_others_yielded():
    alloc = Allocation()
    first = RunTrace(-np.inf, [(0.01, 10.0), (0.3, 15.0), (0.39, 17.0)])
    alloc.record("A", False, first, 0.4, raised=True, first=True)
    assert alloc.best_source == "A" and alloc.continue_rate_per_s == pytest.approx((17 - 10) / 0.2)
    assert RunTrace(-np.inf, [(0.35, 3.0)]).rate_per_s(0.4) == np.inf      # started late: not a stall
    assert alloc.explore_s == 0 and alloc.should_continue()          # nothing else tried: continue A
    stalled = RunTrace(17.0, [])                                       # a continuation that gained nothing
    alloc.record("A", True, stalled, 0.5, raised=False, first=False)
    assert alloc.continued == 1 and not alloc.should_continue()       # stalled: try another program
    alloc.pending_generation_s = 0.3
    other = RunTrace(17.0, [(0.2, 18.0)])                              # another program beat the incumbent
    alloc.record("B", False, other, 0.5, raised=True, first=False)
    assert alloc.best_source == "B" and alloc.explore_rate_per_s == pytest.approx(1.0 / 0.8)
    assert continue_timeout_s(1.5, 0.05, 0.5) == pytest.approx(0.725) and continue_timeout_s(0.5, 0.05, 0.5) == 0.45


def test_the_allocation_setting_is_validated():
    assert InferenceConfig().allocation == "incumbent"
    with pytest.raises(ConfigError, match="allocation"):
        InferenceConfig.from_mapping({"allocation": "greedy"})
    with pytest.raises(ConfigError, match="continue_share"):
        InferenceConfig.from_mapping({"continue_share": 0})


def _solve(allocation: str, monkeypatch) -> tuple[dict, list[str], tuple[str, ...]]:
    """lsa-code with the shipped seed programs on an instance where local search still gains after
    a second (N = 2000, ultra-dense: at N = 1000 a fast run could converge within the first run's
    first half); the programs it ran, in order (the priming run left out)."""
    ran: list[str] = []
    real = inference.run_programs

    def spy(sources, *args, **kwargs):
        ran.extend(sources)
        return real(sources, *args, **kwargs)

    net = generate_ppp(2000, 8, "ultra-dense", 5)
    state = dict(inference.prepare_code(net, {}), cfg=InferenceConfig.from_mapping({"allocation": allocation}))
    monkeypatch.setattr(inference, "run_programs", spy)
    run = Anytime(net, 1.5)
    extra = inference.solve_code(net, run, np.random.default_rng(0), state=state)
    assert run.best_assignment is not None and run.elapsed() < 1.5 + 0.3
    return extra, ran, state["seeds"]


def test_lsa_code_gives_the_time_to_the_incumbent_s_program_while_it_still_gains(monkeypatch):
    extra, ran, seeds = _solve("incumbent", monkeypatch)
    assert ran[0] == seeds[0]                                          # the first seed as written (first incumbent)
    assert len(ran) >= 2 and ran[1] == continuation(seeds[0]) != seeds[0]   # then again, from the incumbent
    assert extra["programs_continued"] >= 1 and extra["seeds_run"] < len(seeds)


def test_the_relay_rule_still_runs_each_program_once_from_its_own_start(monkeypatch):
    extra, ran, seeds = _solve("relay", monkeypatch)
    assert ran[: len(seeds)] == list(seeds) and extra["programs_continued"] == 0
    assert len(set(ran)) == len(ran)
