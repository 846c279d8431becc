"""The per-solve sampler of the LLM methods (lsa.policy.sampling.PromptSampler), with the shipped
embedded policy: one prefill per solve, and no generate() call that its prefill would make late."""
import numpy as np

from lsa.methods.protocol import Anytime, run_method
from lsa.policy import inference
from lsa.policy.config import EMBEDDED_POLICY_DIR
from lsa.policy.sampling import PromptSampler
from lsa.sim.generate import generate_ppp


def _policy():
    policy, _seeds, _key = inference._load(None, EMBEDDED_POLICY_DIR)
    return policy


def test_the_prompt_is_prefilled_once_per_sampler():
    policy = _policy()
    sampler = PromptSampler(policy, "channel " * 40)
    first = sampler.sample(2, 6, 0.7, 1.0, 30.0, seed=1)
    cache = sampler._cache
    second = sampler.sample(3, 6, 0.7, 1.0, 30.0, seed=2)
    assert len(first) == 2 and len(second) == 3 and all(isinstance(t, str) for t in first + second)
    assert sampler._cache is cache and sampler.prefill_s > 0     # the second call reused the first prefill
    assert sampler.prefill_estimate_s() == 0.0


def test_a_call_whose_prefill_would_be_late_is_not_started():
    policy = _policy()
    sampler = PromptSampler(policy, "channel " * 40, prefill_s_per_token=1.0)   # ~40 s of estimated prefill
    assert sampler.prefill_estimate_s() > 30
    assert sampler.sample(4, 8, 0.7, 1.0, 2.0, seed=0) is None
    assert sampler._cache is None                                          # nothing was computed


def test_lsa_code_with_a_slow_model_falls_back_in_time_instead_of_overrunning():
    """A model whose prefill cannot fit the budget (a 135 M model on one CPU thread at T = 2 s) must
    not start generating: no overrun, a random fallback, reported as such."""
    net = generate_ppp(200, 4, "dense", 3)
    state = inference.prepare_code(net, {})
    state = dict(state, seeds=(), prefill_s_per_token=1.0)
    run = Anytime(net, 1.0)
    extra = inference.solve_code(net, run, np.random.default_rng(0), state=state)
    assert run.elapsed() < 0.5 and run.best_assignment is None
    assert extra["generate_batches"] == 0 and extra["programs_tried"] == 0


def test_lsa_code_still_answers_with_the_measured_rate():
    net = generate_ppp(200, 4, "dense", 3)
    row, _ = run_method(net, "lsa-code", 1.0)
    assert not row["fallback_random"] and not row["overrun"]
    assert inference._PREFILL_RATE and all(rate > 0 for rate in inference._PREFILL_RATE.values())
