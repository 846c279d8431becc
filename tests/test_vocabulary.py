"""The primitives-only vocabulary (the ablation's switch): no complete search in the pretraining
grammar, the API documentation or the programs GRPO rewards; the full vocabulary is unchanged."""
from __future__ import annotations

import numpy as np
import pytest

from lsa.errors import ConfigError
from lsa.policy.config import ModelConfig
from lsa.policy.grammar import sample_program
from lsa.policy.prompts import code_prompt
from lsa.policy.rewards import RewardContext
from lsa.policy.vocabulary import COMPLETE_SEARCHES, api_doc, complete_searches_in
from lsa.sim.generate import generate_ppp


def test_complete_searches_are_found_in_programs():
    source = "def assign(net, rng):\n    a = net.greedy()\n    a = net.ils(a, rng)\n    return net.local_search(a)\n"
    assert complete_searches_in(source) == ["ils", "local_search"]
    assert complete_searches_in("def assign(net, rng):\n    return net.descend(net.greedy())\n") == []
    assert complete_searches_in("def assign(net, rng) oops") == []


def test_primitives_grammar_writes_no_complete_search_and_full_still_does():
    rng = np.random.default_rng(0)
    primitives = [sample_program(rng, "primitives") for _ in range(300)]
    full = [sample_program(np.random.default_rng(1)) for _ in range(1)] + [sample_program(rng) for _ in range(300)]
    assert not any(complete_searches_in(p.removesuffix("```")) for p in primitives)
    assert sum(bool(complete_searches_in(p.removesuffix("```"))) for p in full) > 50
    assert sum("while net.time_left()" in p for p in primitives) > 10      # it still writes anytime loops


def test_primitives_api_doc_and_prompt_leave_the_searches_out():
    doc = api_doc("primitives")
    assert not any(f"net.{name}(" in doc for name in COMPLETE_SEARCHES)
    assert "net.kick(" in doc and "net.move_gains(" in doc and "net.solve_cluster(" in doc
    assert all(f"net.{name}(" in api_doc("full") for name in COMPLETE_SEARCHES)
    net = generate_ppp(30, 4, "dense", 0)
    prompt = code_prompt(net, max_tokens=None, api_doc=True, vocabulary="primitives")
    assert "net.kick(" in prompt and "net.local_search(" not in prompt
    assert "net.local_search(" in code_prompt(net, max_tokens=None, api_doc=True)


def test_grpo_rewards_a_complete_search_as_a_rejected_program_under_primitives():
    net = generate_ppp(25, 3, "dense", 0)
    search = "```python\ndef assign(net, rng):\n    return net.local_search(rng=rng)\n```"
    composed = "```python\ndef assign(net, rng):\n    a = net.greedy()\n    return net.descend(a)\n```"
    ctx = RewardContext([net], timeout_s=1.0, workers=1, reference_methods=("greedy",), vocabulary="primitives")
    refused, ok = ctx.outcomes([search, composed], [0, 0])
    assert refused.status == "vocabulary" and refused.utility is None and refused.struct == 0.4
    assert ok.status == "ok" and ok.utility is not None
    full = RewardContext([net], timeout_s=1.0, workers=1, reference_methods=("greedy",))
    assert full.outcomes([search], [0])[0].status == "ok"


def test_an_unknown_vocabulary_is_a_config_error():
    with pytest.raises(ConfigError, match="vocabulary"):
        ModelConfig.from_mapping({"vocabulary": "everything"})
