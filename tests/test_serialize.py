"""Hierarchical state serialization (SPEC §7): never over budget (counted on the final text, any N,
any regime, any tokenizer), deterministic, naive grows with N; the `lsa serialize` entry point."""
import json
import time

import numpy as np
import pytest

from lsa.cli import main
from lsa.errors import LSAError
from lsa.policy.serializer import (
    count_tokens,
    serialize,
    serialize_naive,
)
from lsa.sim.formats import save_npz
from lsa.sim.generate import from_edges, generate_ppp
from lsa.sim.params import NetworkConfig

REGIMES = ("sparse", "dense", "ultra-dense")
#: few interferers per link: generation of N = 100,000 takes about a second
LIGHT = NetworkConfig(max_interferers_per_link=8, candidate_factor=1)


@pytest.fixture(scope="module")
def nets():
    return {(n, r): generate_ppp(n, 4, r, seed=n, params=LIGHT if n > 1000 else None)
            for n in (1, 2, 10, 150, 3000) for r in REGIMES}


class ChunkTokenizer:
    """A tokenizer whose count is not additive over lines: one token per 3 characters, newlines included."""

    def encode(self, text, add_special_tokens=False):
        return list(range((len(text) + 2) // 3))


def bpe_tokenizer():
    """A real (tiny) BPE tokenizer trained in memory, like the policy's own."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    corpus = [serialize(generate_ppp(60, 4, r, seed=1), 4096).text for r in REGIMES]
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=300, special_tokens=["[UNK]"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return tok


def test_count_tokens_default_counter():
    assert count_tokens("") == 0
    assert count_tokens("SNR -105 dB, p5") == 9      # SNR - 1 0 5 dB , p 5
    assert count_tokens("a\nb") == count_tokens("a") + count_tokens("b")


@pytest.mark.parametrize("budget", [0, 5, 40, 200, 1024, 4096])
def test_never_over_budget_small_and_medium(nets, budget):
    for (n, regime), net in nets.items():
        state = serialize(net, budget)
        assert state.tokens == count_tokens(state.text) <= budget, (n, regime)
        assert state.max_tokens == budget


def test_never_over_budget_with_other_tokenizers(nets):
    for tokenizer in (ChunkTokenizer(), bpe_tokenizer()):
        for budget in (30, 300, 1024):
            for key in ((150, "dense"), (3000, "ultra-dense"), (2, "sparse")):
                state = serialize(nets[key], budget, tokenizer=tokenizer)
                assert state.tokens == count_tokens(state.text, tokenizer) <= budget


def test_levels_in_priority_order(nets):
    net = nets[(3000, "dense")]
    small, large = serialize(net, 200), serialize(net, 4096)
    assert large.text.startswith(small.text.split("\n")[0])
    assert small.levels["level2_pairs"] == 0 < large.levels["level2_pairs"]
    assert large.levels["level0_lines"] >= 10 and large.levels["level1"] == "grid"
    assert large.levels["level1_regions"] == 16 and large.levels["level2_links"] > 0
    lines = large.text.split("\n")
    assert lines.index(next(x for x in lines if x.startswith("regions:"))) < lines.index(
        next(x for x in lines if x.startswith("strongest interferer pairs")))
    assert large.tokens > 0.9 * 4096 or large.levels["complete"]     # the budget is actually used
    # the top pair named is really the strongest relative interferer
    score = net.cross_power_w / net.signal_w.mean(axis=1)[net.cross_row]
    m = int(np.argmax(score))
    assert f"{net.cross_col[m]}>{net.cross_row[m]} " in large.text


def test_graph_instance_gets_cluster_summary():
    rng = np.random.default_rng(0)
    g = from_edges(400, rng.integers(0, 400, size=(2000, 2)), 5)
    state = serialize(g, 2048)
    assert state.levels["level1"] == "clusters" and state.levels["level1_regions"] > 0
    assert state.tokens <= 2048 and "regime graph" in state.text
    assert "SNR dB (same on every channel)" in state.text


def test_deterministic(nets):
    net = nets[(3000, "sparse")]
    assert serialize(net, 777).text == serialize(net, 777).text
    again = generate_ppp(3000, 4, "sparse", seed=3000, params=LIGHT)
    assert serialize(again, 777).text == serialize(net, 777).text


def test_naive_grows_with_n_and_exceeds_budget():
    tokens = [serialize_naive(generate_ppp(n, 4, "dense", seed=0)).tokens for n in (20, 80, 320)]
    assert tokens[0] < tokens[1] < tokens[2]
    assert tokens[2] > 3 * tokens[1] > 9 * tokens[0] * 0.8
    assert tokens[1] > 1024


def test_bad_budget_is_an_lsa_error(nets):
    with pytest.raises(LSAError):
        serialize(nets[(10, "dense")], -1)


def test_cli_entry_point(tmp_path, capsys):
    path = save_npz(generate_ppp(200, 4, "dense", seed=0), tmp_path / "net.npz")
    assert main(["serialize", str(path), "--max-tokens", "300", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tokens"] <= 300 and out["tokens"] == count_tokens(out["text"]) and "levels" in out
    assert main(["serialize", str(path), "--naive"]) == 0
    assert count_tokens(capsys.readouterr().out) > 10_000
    assert main(["serialize", str(tmp_path / "missing.npz")]) == 2


@pytest.fixture(scope="module")
def nets_100k():
    return {r: generate_ppp(100_000, 8, r, seed=7, params=LIGHT) for r in REGIMES}


@pytest.mark.slow
def test_100k_every_regime_within_budget_and_fast(nets_100k):
    for regime, net in nets_100k.items():
        for budget in (256, 1024):
            t = time.perf_counter()
            state = serialize(net, budget)
            elapsed = time.perf_counter() - t
            assert state.tokens == count_tokens(state.text) <= budget, regime
            assert elapsed < 2.0, (regime, elapsed)


def test_coverage_counts_what_the_bounded_prompt_names(nets):
    """Information kept, not length: a generous budget names the 10 strongest pairs and most-interfered
    links; a tight one names none of them, so a claim on it can fail."""
    from lsa.policy.prompt_coverage import coverage, named_in

    net = nets[(150, "dense")]
    wide, tight = serialize(net, max_tokens=4096), serialize(net, max_tokens=120)
    full = coverage(net, wide.text)
    assert (full.pairs_top, full.links_top) == (10, 10)
    assert full.pair_share == 1.0 and full.link_share == 1.0
    none = coverage(net, tight.text)
    assert tight.levels["level2_pairs"] == 0 and none.pairs_named == 0 and none.links_named == 0
    pairs, links = named_in("3>7 inr 12 is -4\n7: 30 28 | 40 | 3:12 9:8\n0,1: 12 30 40 2 15")
    assert pairs == {(3, 7), (9, 7)} and links == {7}    # grid lines ("x,y: ...") name nothing
