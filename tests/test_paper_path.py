"""The GPU profile's code path at toy scale, so that the first run on a GPU is not the first run:
a tiny chat model built here (Qwen2 architecture, a tokenizer with a chat template, saved with
`save_pretrained`), the `paper` profile's settings (chat prompt with the API documentation within
model.prompt_max_tokens, LoRA through peft, GRPO with TRL), then `lsa solve --method lsa-code --model DIR`.
Only what a CPU cannot do is changed: float32 instead of bfloat16 (LSA_TEST_DTYPE=bfloat16 keeps the
profile's dtype, for a run on a GPU), and toy sizes and step counts."""
import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from lsa.config import load_yaml
from lsa.policy.config import policy_config
from lsa.policy.grammar import sample_program
from lsa.policy.prompts import CODE_INSTRUCTION, code_prompt
from lsa.policy.serializer import count_tokens
from lsa.programs.primitives import API_DOC
from lsa.sim import generate_ppp, save_npz

pytestmark = pytest.mark.slow
#: float32 on a CPU; `LSA_TEST_DTYPE=bfloat16` runs the profile's bf16 path (a GPU)
DTYPE = os.environ.get("LSA_TEST_DTYPE", "float32")

#: the ChatML layout of the Qwen2.5 instruct models
CHAT_TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
                 "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


@pytest.fixture(scope="module")
def chat_model(tmp_path_factory):
    from lsa.policy.models import build_model, train_tokenizer

    rng = np.random.default_rng(0)
    texts = [sample_program(rng) for _ in range(300)] + [API_DOC, CODE_INSTRUCTION] * 5
    tok = train_tokenizer(texts, vocab_size=1024)
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tok.chat_template = CHAT_TEMPLATE
    tok.model_max_length = 4096
    model = build_model("micro", tok, max_position_embeddings=4096)
    out = tmp_path_factory.mktemp("chat") / "toy-chat"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def paper():
    return policy_config(load_yaml("config/paper.yaml")), load_yaml("config/paper.yaml")


def test_chat_prompt_carries_the_api_doc_within_the_budget(chat_model, paper):
    from lsa.policy.models import load_policy

    cfg, _ = paper
    policy = load_policy(str(chat_model))
    assert policy.chat and cfg.model.api_doc_in_prompt
    for n in (20, 2000):
        prompt = code_prompt(generate_ppp(n, 8, "ultra-dense", 0), policy.tokenizer, cfg.model.prompt_max_tokens,
                             api_doc=cfg.model.api_doc_in_prompt)
        assert prompt.startswith("<|im_start|>user\n") and API_DOC.splitlines()[0] in prompt
        assert count_tokens(prompt, policy.tokenizer) <= cfg.model.prompt_max_tokens


def test_lora_grpo_then_lsa_solve_with_the_trained_adapter(chat_model, paper, tmp_path):
    from lsa.policy.train import train_grpo

    cfg, raw = paper
    assert cfg.model.lora and cfg.grpo.gradient_checkpointing
    model_cfg = dataclasses.replace(cfg.model, name_or_path=str(chat_model), dtype=DTYPE)
    grpo = dataclasses.replace(cfg.grpo, bf16=DTYPE == "bfloat16", max_steps=2, num_generations=2, prompts_per_step=1,
                               max_completion_length=24, n_train_instances=2, train_n=[20], exec_workers=1,
                               exec_timeout_s=1.0, perf_reference_budget_s=0.1, save_steps=10, torch_threads=1)
    info = train_grpo(model_cfg, grpo, None, tmp_path / "run")
    final = tmp_path / "run" / "final"
    assert info["steps"] == 2 and (final / "adapter_config.json").is_file()      # a LoRA adapter, not a full model
    instance = save_npz(generate_ppp(60, 4, "dense", 1), tmp_path / "net.npz")
    # a 3072-token chat prompt on a CPU: prefill alone takes seconds, so a 10-s budget
    proc = subprocess.run([sys.executable, "-m", "lsa.cli", "solve", str(instance), "--method", "lsa-code",
                           "--model", str(final), "--budget", "10", "--json"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    row = json.loads(proc.stdout)
    assert row["setup_s"] > 0 and row["programs_tried"] >= 1 and not row["overrun"]
