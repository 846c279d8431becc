"""The torch-only inference runtime (lsa.policy.runtime) against transformers on the shipped policies:
the same logits, the same greedy continuation, the same token ids; what it refuses; and that a fresh
`lsa solve --method lsa-code` process never imports transformers."""
import json
import shutil
import subprocess
import sys

import pytest
import torch

from lsa.policy.config import EMBEDDED_DIRECT_DIR, EMBEDDED_POLICY_DIR
from lsa.policy.models import load_inference_policy, load_policy
from lsa.policy.prompts import code_prompt, direct_prompt
from lsa.policy.runtime import Qwen2Runtime, TextTokenizer, is_runtime, supports
from lsa.policy.sampling import PromptSampler
from lsa.policy.seeds import load_seed_programs
from lsa.sim.generate import generate_ppp

FOLDERS = [EMBEDDED_POLICY_DIR, EMBEDDED_DIRECT_DIR]


@pytest.fixture(scope="module")
def pairs():
    return {str(f): (load_policy(str(f), device="cpu"), load_inference_policy(str(f))) for f in FOLDERS}


def _prompts(policy):
    net = generate_ppp(60, 4, "dense", 3)
    return [code_prompt(net, tokenizer=policy.tokenizer, max_tokens=policy.prompt_max_tokens or 256),
            direct_prompt(net, tokenizer=policy.tokenizer, max_tokens=200),
            "".join(load_seed_programs(EMBEDDED_POLICY_DIR)), "  tabs\t\tand ünïcödé 0.125e-3 <|endoftext|> end"]


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda f: f.name)
def test_the_runtime_serves_the_shipped_policies(folder, pairs):
    hf, rt = pairs[str(folder)]
    assert supports(folder) and is_runtime(rt.model) and not is_runtime(hf.model)
    assert (rt.prompt_max_tokens, rt.api_doc, rt.vocabulary) == (hf.prompt_max_tokens, hf.api_doc, hf.vocabulary)
    assert (rt.tokenizer.eos_token_id, rt.tokenizer.pad_token_id, len(rt.tokenizer)) == \
        (hf.tokenizer.eos_token_id, hf.tokenizer.pad_token_id, len(hf.tokenizer))


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda f: f.name)
def test_token_ids_and_texts_match_transformers(folder, pairs):
    hf, rt = pairs[str(folder)]
    for text in _prompts(hf):
        ids = hf.tokenizer(text, add_special_tokens=False)["input_ids"]
        assert rt.tokenizer.encode(text) == ids
        assert rt.tokenizer.decode(ids) == hf.tokenizer.decode(ids, skip_special_tokens=True)


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda f: f.name)
def test_logits_match_transformers_full_and_cached(folder, pairs):
    hf, rt = pairs[str(folder)]
    prompt = _prompts(hf)[0]
    ids = hf.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
    assert ids.shape[1] > 100
    with torch.no_grad():
        reference = hf.model(input_ids=ids).logits[:, -1]
        full = rt.model.forward(ids, rt.model.new_cache(1, ids.shape[1]), 0)
        cache = rt.model.prefill(ids)                 # all but the last token, then one cached step
        buffers = rt.model.new_cache(1, ids.shape[1])
        for (keys, values), (k0, v0) in zip(buffers, cache):
            keys[:, :, :ids.shape[1] - 1], values[:, :, :ids.shape[1] - 1] = k0, v0
        step = rt.model.forward(ids[:, -1:], buffers, ids.shape[1] - 1)
    scale = float(reference.abs().max())
    assert float((full - reference).abs().max()) < 1e-4 * scale
    assert float((step - reference).abs().max()) < 1e-4 * scale


def test_greedy_continuation_matches_generate(pairs):
    hf, rt = pairs[str(EMBEDDED_POLICY_DIR)]
    prompt = _prompts(hf)[0]
    enc = hf.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = hf.model.generate(**enc, do_sample=False, max_new_tokens=48, pad_token_id=hf.tokenizer.pad_token_id,
                                eos_token_id=hf.tokenizer.eos_token_id)
    expected = hf.tokenizer.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    # a temperature this low makes every draw the argmax
    texts = PromptSampler(rt, prompt).sample(3, 48, 1e-5, 1.0, 60.0, seed=0)
    assert texts == [expected] * 3 and len(expected) > 10


def test_sampling_is_seeded_stops_at_eos_and_obeys_time(pairs):
    _, rt = pairs[str(EMBEDDED_POLICY_DIR)]
    prompt = _prompts(rt)[0]
    first = PromptSampler(rt, prompt).sample(4, 64, 3.0, 0.95, 60.0, seed=7)   # hot: the policy is peaked
    assert first == PromptSampler(rt, prompt).sample(4, 64, 3.0, 0.95, 60.0, seed=7)
    assert first != PromptSampler(rt, prompt).sample(4, 64, 3.0, 0.95, 60.0, seed=8)
    ids = rt.tokenizer(prompt, return_tensors="pt")["input_ids"]
    new = rt.model.sample(ids, rt.model.prefill(ids), 4, 200, 1.0, 1.0, 60.0, rt.tokenizer.eos_token_id,
                          rt.tokenizer.pad_token_id)
    for row in new.tolist():                       # after EOS a row only pads
        if rt.tokenizer.eos_token_id in row:
            tail = row[row.index(rt.tokenizer.eos_token_id) + 1:]
            assert set(tail) <= {rt.tokenizer.pad_token_id}
    one_step = rt.model.sample(ids, rt.model.prefill(ids), 4, 200, 1.0, 1.0, 0.0, None, None)
    assert one_step.shape == (4, 1)                # out of time: it stops after the first step


def test_nucleus_keeps_only_the_top_tokens():
    from lsa.policy.runtime import sample_tokens

    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    torch.manual_seed(0)
    draws = {int(sample_tokens(logits, 1.0, 0.7)) for _ in range(300)}
    assert draws == {0, 1}                         # 0.5 + 0.3 reach 0.7: tokens 2 and 3 are cut


def test_folders_it_does_not_run_go_to_transformers(tmp_path):
    for name, change in (("adapter", lambda d: (d / "adapter_config.json").write_text("{}")),
                         ("llama", lambda d: _edit(d / "config.json", architectures=["LlamaForCausalLM"],
                                                   model_type="llama")),
                         ("chat", lambda d: _edit(d / "tokenizer_config.json", chat_template="{{ x }}")),
                         ("sliding", lambda d: _edit(d / "config.json", use_sliding_window=True))):
        folder = tmp_path / name
        shutil.copytree(EMBEDDED_POLICY_DIR, folder)
        change(folder)
        assert not supports(folder), name
    assert not supports(tmp_path / "missing")
    forced = load_inference_policy(str(EMBEDDED_POLICY_DIR), runtime="transformers")
    assert not is_runtime(forced.model)
    assert isinstance(Qwen2Runtime(EMBEDDED_POLICY_DIR).config.vocab_size, int)
    assert TextTokenizer(EMBEDDED_POLICY_DIR).chat_template is None


def _edit(path, **values):
    data = json.loads(path.read_text())
    data.update(values)
    path.write_text(json.dumps(data))


def test_a_fresh_lsa_code_solve_never_imports_transformers(tmp_path):
    from lsa.sim import save_npz

    instance = save_npz(generate_ppp(200, 4, "dense", 11), tmp_path / "x.npz")
    code = ("import sys, json\nfrom lsa.cli import main\n"
            f"rc = main(['solve', {str(instance)!r}, '--method', 'lsa-code', '--budget', '0.5', '--json'])\n"
            "print(json.dumps({'rc': rc, 'transformers': 'transformers' in sys.modules}))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    lines = proc.stdout.strip().splitlines()
    row, check = json.loads(lines[0]), json.loads(lines[-1])
    assert check == {"rc": 0, "transformers": False}, proc.stderr[-500:]
    assert row["valid"] and not row["fallback_random"] and row["programs_tried"] >= 1
