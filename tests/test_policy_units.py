"""Fast unit tests of the policy package: corpus, rewards, configs, brute force (no model training)."""
import ast

import numpy as np
import pytest

from lsa.config import load_yaml
from lsa.errors import ConfigError
from lsa.policy.config import policy_config
from lsa.policy.grammar import sample_program
from lsa.policy.prompts import CODE_CLOSE
from lsa.programs.facade import ARRAY_NAMES, NUMPY_NAMES, RNG_NAMES
from lsa.programs.primitives import NetView
from lsa.sim.generate import generate_ppp

NET_METHODS = {name for name in dir(NetView) if not name.startswith("_")}
BUILTINS = {"range", "max", "min", "int", "float", "len", "abs"}


def test_corpus_programs_parse_and_use_only_the_api():
    rng = np.random.default_rng(0)
    for _ in range(300):
        text = sample_program(rng)
        assert text.endswith(CODE_CLOSE)
        tree = ast.parse(text[: -len(CODE_CLOSE)])
        fn = tree.body[0]
        assert isinstance(fn, ast.FunctionDef) and fn.name == "assign"
        assert [a.arg for a in fn.args.args] == ["net", "rng"]
        for node in ast.walk(tree):
            assert not isinstance(node, (ast.Import, ast.ImportFrom))
            if isinstance(node, ast.Call):
                if isinstance(node.func, ast.Name):
                    assert node.func.id in BUILTINS, node.func.id
                    continue
                owner = node.func.value.id if isinstance(node.func.value, ast.Name) else "<expr>"
                allowed = {"net": NET_METHODS, "rng": RNG_NAMES, "np": NUMPY_NAMES}.get(owner, ARRAY_NAMES)
                assert node.func.attr in allowed, (owner, node.func.attr)


def test_corpus_programs_are_diverse():
    rng = np.random.default_rng(1)
    assert len({sample_program(rng) for _ in range(200)}) > 150


def test_corpus_pairs_carry_no_quality_information():
    from lsa.policy.corpus import build_corpus
    pairs = build_corpus(20, 3, [10], [3], seed=0, progress=False)
    assert all(set(p) == {"prompt", "completion"} for p in pairs)
    for p in pairs:
        assert "utility" not in p["completion"].lower().replace("net.utility", "")
        assert "reward" not in p["prompt"].lower()


@pytest.mark.parametrize("profile", ["smoke", "default", "paper"])
def test_profiles_have_valid_policy_sections(profile):
    cfg = policy_config(load_yaml(f"config/{profile}.yaml"))
    assert cfg.grpo.num_generations >= 2
    if profile in ("default", "paper"):                     # the paper's group size
        assert cfg.grpo.num_generations == 8
    if profile == "paper":                                  # the paper's step count (default: CPU budget)
        assert cfg.grpo.max_steps == 300
        assert (cfg.grpo.lambda_struct, cfg.grpo.lambda_perf, cfg.grpo.lambda_depth) == (1.0, 1.0, 1.0)
    if profile == "paper":
        assert cfg.model.lora and cfg.model.dtype == "bfloat16" and "Qwen" in cfg.model.name_or_path


def test_unknown_policy_key_is_a_config_error():
    with pytest.raises(ConfigError, match="grpo"):
        policy_config({"grpo": {"group_size": 8}})
    with pytest.raises(ConfigError):
        policy_config({"model": {"size": "huge"}})


def test_parse_channel_list_grades_structure():
    from lsa.policy.rewards import parse_channel_list
    assert parse_channel_list("no list here", 3, 2)[0] == 0.0
    s, a, ok = parse_channel_list("[0, 1, 1]", 3, 2)
    assert s == 1.0 and ok and list(a) == [0, 1, 1]
    s, a, ok = parse_channel_list("[0, 1]", 3, 2)
    assert s == 0.5 and not ok and len(a) == 3          # wrong length -> repaired
    s, a, ok = parse_channel_list("[0, 5, 1]", 3, 2)
    assert s == 0.75 and not ok and a.max() < 2
    s, a, ok = parse_channel_list("[0, x, 1.5]", 3, 2)
    assert s == 0.25 and a is not None and a.shape == (3,)


def test_brute_force_is_optimal():
    from itertools import product

    from lsa.methods.exact import brute_force
    from lsa.sim.utility import sum_rate
    net = generate_ppp(6, 3, "ultra-dense", 4)
    best = max(sum_rate(net, np.array(c)) for c in product(range(3), repeat=6))
    assert sum_rate(net, brute_force(net)[0]) == pytest.approx(best)


def test_reward_components_code_paradigm():
    from lsa.policy.rewards import RewardContext
    nets = [generate_ppp(20, 3, "dense", 0)]
    ctx = RewardContext(nets, timeout_s=2.0, workers=1, reference_budget_s=0.2)
    r_struct, r_perf, r_depth = ctx.reward_functions()
    completions = [
        "def assign(net, rng):\n    return net.greedy(order=net.order_by_signal())\n```",  # = the greedy reference
        "no code at all",                                                         # no fenced program
        "def assign(net, rng):\n    return [0] * 3\n```",                     # wrong length -> repaired
        "def assign(net rng):\n    return 1\n```",                              # syntax error
        "import os\ndef assign(net, rng):\n    return os.getpid()\n```",          # allow-list
        "def assign(net, rng):\n    return 1 / 0\n```",                          # runtime error
    ]
    inst = [0] * len(completions)
    s = r_struct([""] * 6, completions, instance=inst)
    assert s[0] == 1.0 and s[2] == 0.8 and s[3] == 0.2 and s[4] == 0.4 and s[5] == 0.6
    assert s[1] <= 0.2
    p = r_perf([""] * 6, completions, instance=inst)
    assert p[0] == pytest.approx(0.0, abs=1e-6)                # greedy is the 0 of R_perf
    assert p[3] == -1.0 and p[5] == -1.0                        # nothing offered: the lower clip
    d = r_depth([""] * 6, completions, instance=inst)
    assert all(-1.0 <= x <= 0.0 for x in d) and d[3] == 0.0
    # three reward functions, one execution per distinct program
    assert ctx.executions == 4


def test_r_perf_is_piecewise_linear_through_random_greedy_and_the_reference():
    from lsa.policy.rewards import References
    refs = References(random=10.0, greedy=20.0, strong=25.0)
    assert refs.perf(10.0) == -1.0 and refs.perf(20.0) == 0.0 and refs.perf(25.0) == 1.0
    assert refs.perf(15.0) == -0.5 and refs.perf(22.5) == 0.5 and refs.perf(30.0) == 2.0
    flat = References(random=10.0, greedy=20.0, strong=20.0)          # reference no better than greedy
    assert flat.perf(20.0) == 0.0 and flat.perf(20.5) > 1.0


def test_embedded_sizes_build_and_roundtrip(tmp_path):
    import torch

    from lsa.policy.models import (
        SIZES,
        build_model,
        load_policy,
        n_parameters,
        train_tokenizer,
    )
    rng = np.random.default_rng(0)
    tok = train_tokenizer([sample_program(rng) for _ in range(200)], vocab_size=400)
    assert tok.eos_token and tok.pad_token and len(tok) <= 400
    params = {size: n_parameters(build_model(size, tok)) for size in SIZES}
    assert params["tiny"] < params["small"] < 10_000_000
    model = build_model("tiny", tok)
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    policy = load_policy(str(tmp_path))
    ids = policy.tokenizer("def assign(net, rng):", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.allclose(policy.model(ids).logits, model.eval()(ids).logits, atol=1e-5)


def test_missing_embedded_policy_is_a_clear_error(monkeypatch, tmp_path):
    from lsa.errors import LSAError
    from lsa.policy import models
    monkeypatch.setattr(models, "EMBEDDED_POLICY_DIR", tmp_path / "absent")
    with pytest.raises(LSAError, match="embedded policy"):
        models.resolve_model_path(None)


def test_t_interval_covers_the_mean():
    from lsa.workflow.stats import t_interval
    m, lo, hi = t_interval([1.0, 2.0, 3.0, 4.0])
    assert lo < m == 2.5 < hi


def test_seed_program_screen_keeps_the_best_and_runs_fewer_programs():
    """The successive-halving screen of the seed-program scoring: same best programs as scoring
    every candidate on every instance, in fewer sandbox runs; an invalid program never survives."""
    from lsa.policy.rewards import RewardContext
    from lsa.policy.train import score_candidates, screen_indices

    assert screen_indices(8, 2) == [0, 7] and screen_indices(8, 3) == [0, 4, 7]
    assert screen_indices(8, 0) == list(range(8)) and screen_indices(4, 9) == list(range(4))
    nets = [generate_ppp(30, 4, regime, seed) for seed, regime in enumerate(["dense", "ultra-dense", "sparse", "dense"])]
    programs = {
        "search": "def assign(net, rng):\n    return net.improve(net.greedy(), sweeps=2)\n```",
        "greedy": "def assign(net, rng):\n    return net.greedy(order=net.order_by_signal())\n```",
        "random": "def assign(net, rng):\n    return net.random_assignment(rng)\n```",
        "zeros": "def assign(net, rng):\n    return [0] * net.N\n```",
        "broken": "def assign(net, rng):\n    return 1 / 0\n```",
    }
    candidates = {name: text for name, text in programs.items()}

    def run(screen):
        ctx = RewardContext(nets, timeout_s=2.0, workers=1, reference_budget_s=0.1)
        scored, record = score_candidates(ctx, candidates, keep=2, screen_instances=screen, screen_keep=2)
        return [p["source"] for p in scored], record, ctx.executions

    full, no_screen, runs_full = run(0)
    screened, screen, runs_screened = run(2)
    assert no_screen is None and "broken" not in full and len(full) == 4
    assert screen == {"instances": [0, 3], "qualified": 4, "kept": 2}
    assert screened == full[:2] and full[0] == "search"
    assert runs_screened == 5 * 2 + 2 * 2 < runs_full == 5 * 4
