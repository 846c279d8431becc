"""Policy models: build the embedded model (own BPE tokenizer + small Qwen2 config) and load any HF causal LM.

Every model, embedded or not, is loaded for training through the same `from_pretrained` path
(`load_policy`); at inference the policies this project trains run on the torch-only runtime
(`load_inference_policy`, lsa.policy.runtime).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from lsa.errors import LSAError
from lsa.policy.config import EMBEDDED_POLICY_DIR, SIZES
from lsa.policy.named_models import is_named, resolve_named

EOS = "<|endoftext|>"
PAD = "<|pad|>"


def train_tokenizer(texts, vocab_size: int = 2048):
    """Byte-level BPE trained with `tokenizers` on the corpus (programs + prompts), wrapped as a fast HF tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS, PAD], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=PAD, bos_token=None,
                                   unk_token=None)
    fast.padding_side = "left"
    fast.model_max_length = 1024
    return fast


def build_model(size: str, tokenizer, max_position_embeddings: int = 1024, seed: int = 0):
    """A freshly initialised small Qwen2 causal LM sized for `tokenizer`."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    if size not in SIZES:
        raise ValueError(f"unknown embedded model size {size!r}; known: {', '.join(SIZES)}")
    torch.manual_seed(seed)
    config = Qwen2Config(vocab_size=len(tokenizer), max_position_embeddings=max_position_embeddings,
                         tie_word_embeddings=True, rope_theta=10000.0, use_sliding_window=False,
                         bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, **SIZES[size])
    return Qwen2ForCausalLM(config)


def n_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


#: files a training stage writes into a model directory; each records the prompt settings it used (the
#: conversion record of a named model holds the prompt settings that suit it, lsa.policy.named_models)
TRAINING_RECORDS = ("lsa_train.json", "lsa_sft.json", "lsa_pretrain.json", "lsa_named_model.json")


@dataclass
class Policy:
    """A loaded causal LM with its tokenizer, where it came from, and the prompt settings it was
    trained with (None when the directory records none, e.g. a model straight from the hub)."""

    model: object
    tokenizer: object
    source: str
    prompt_max_tokens: int | None = None
    api_doc: bool | None = None
    vocabulary: str = "full"
    """The program vocabulary it was trained with (lsa.policy.vocabulary; recorded model.vocabulary)."""

    @property
    def chat(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))


def resolve_model_path(name_or_path: str | None) -> str:
    """None → the shipped embedded policy; an existing local dir → itself; a named offline model
    (`smollm2-135m`, lsa.policy.named_models) → its converted HF folder, converted on first use;
    otherwise an HF id."""
    if name_or_path in (None, "", "embedded"):
        if not (EMBEDDED_POLICY_DIR / "config.json").is_file():
            raise LSAError(f"the embedded policy is missing at {EMBEDDED_POLICY_DIR}; build it with "
                           f"`lsa pretrain --config config/default.yaml` then `lsa train --config config/default.yaml`")
        return str(EMBEDDED_POLICY_DIR)
    if is_named(name_or_path) and not Path(name_or_path).is_dir():
        return resolve_named(name_or_path)
    return str(name_or_path)


def load_policy(name_or_path: str | None = None, dtype: str = "float32", trust_remote_code: bool = False,
                device: str = "auto") -> Policy:
    """Load tokenizer + causal LM by HF id or local path (`from_pretrained`). A local directory
    holding a peft adapter (adapter_config.json) is loaded on top of its base model. `device`
    'auto' puts the model on the GPU when there is one."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    path = resolve_model_path(name_or_path)
    torch_dtype = getattr(torch, dtype)
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()      # no "Loading weights" bar on the stderr of `lsa solve`
    try:
        if (Path(path) / "adapter_config.json").is_file():
            from peft import AutoPeftModelForCausalLM
            model = AutoPeftModelForCausalLM.from_pretrained(path, dtype=torch_dtype)
        else:
            model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:   # no such folder, an id not in the local cache (offline), no weights
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise LSAError(f"cannot load model {str(name_or_path)!r}: not a model folder, a named model "
                       f"(`lsa model list`) or a Hugging Face id in the local cache ({first})") from None
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device)
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    model.eval()
    prompt = recorded_prompt(path)
    return Policy(model=model, tokenizer=tokenizer, source=path, prompt_max_tokens=prompt.get("max_tokens"),
                  api_doc=prompt.get("api_doc"), vocabulary=recorded_vocabulary(path))


def load_inference_policy(name_or_path: str | None = None, dtype: str = "float32", runtime: str = "auto") -> Policy:
    """The policy `lsa-code` / `lsa-direct` sample from. `runtime` 'auto': a folder the torch-only
    runtime supports (every policy this project trains; lsa.policy.runtime) runs there, on the CPU,
    without importing transformers; anything else (a Hugging Face model, a named chat model, a LoRA
    adapter, dtype other than float32) goes through `load_policy`. 'transformers': always `load_policy`."""
    from lsa.policy import runtime as torch_runtime

    path = resolve_model_path(name_or_path)
    if runtime == "auto" and dtype == "float32" and torch_runtime.supports(path):
        try:
            model, tokenizer = torch_runtime.Qwen2Runtime(path), torch_runtime.TextTokenizer(path)
            model.check()                  # one token through every layer: weights that do not fit the config
        except Exception as exc:   # noqa: BLE001 - truncated weights, a config without a size or not fitting them, a bad tokenizer
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise LSAError(f"cannot load model {str(name_or_path)!r}: its files do not make a model "
                           f"({type(exc).__name__}: {first})") from None
        prompt = recorded_prompt(path)
        return Policy(model=model, tokenizer=tokenizer, source=path, prompt_max_tokens=prompt.get("max_tokens"),
                      api_doc=prompt.get("api_doc"), vocabulary=recorded_vocabulary(path))
    return load_policy(path, dtype=dtype)


def _record(path: str | Path) -> dict:
    """The first training record in model dir `path` ({} when it has none or it does not parse)."""
    for name in TRAINING_RECORDS:
        record = Path(path) / name
        if record.is_file():
            try:
                out = json.loads(record.read_text())
            except ValueError:
                return {}
            return out if isinstance(out, dict) else {}
    return {}


def recorded_prompt(path: str | Path) -> dict:
    """The prompt settings ({'max_tokens', 'api_doc'}) a training stage recorded in model dir `path`."""
    try:
        return dict(_record(path).get("prompt") or {})
    except (ValueError, AttributeError, TypeError):
        return {}


def recorded_vocabulary(path: str | Path) -> str:
    """The program vocabulary (model.vocabulary) a training stage recorded in model dir `path`
    ('full' when it records none, e.g. a model straight from the hub)."""
    model = _record(path).get("model")
    vocabulary = model.get("vocabulary") if isinstance(model, dict) else None
    return vocabulary if vocabulary in ("full", "primitives") else "full"


def prompt_record(model_cfg) -> dict:
    """What a training stage records about its prompts (see `recorded_prompt`)."""
    return {"max_tokens": model_cfg.prompt_max_tokens, "api_doc": model_cfg.api_doc_in_prompt}


def lora_config(r: int = 16, alpha: int = 32, dropout: float = 0.05, target_modules=None):
    from peft import LoraConfig
    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, task_type="CAUSAL_LM",
                      target_modules=list(target_modules or ["q_proj", "k_proj", "v_proj", "o_proj"]))
