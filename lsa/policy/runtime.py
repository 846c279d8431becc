"""A torch-only inference runtime for the policies this project trains (small Qwen2 causal LMs).

`lsa-code` and `lsa-direct` only need a forward pass with a key/value cache and a sampler. Going
through transformers for that costs a fresh `lsa solve` about 3 s of imports (its modelling code
pulls in torch.distributed, torch._dynamo, sympy and scipy.optimize), longer than the whole model
load and the instance read together. This module reads the same folder (`config.json`,
`model.safetensors`, `tokenizer.json`) with `safetensors` and `tokenizers` and runs the Qwen2
decoder in plain torch: the logits agree with transformers' to float rounding and the token ids of
the tokenizer are the same (tests/test_runtime.py checks both on the shipped policies).

It serves folders it fully understands (`supports`): a Qwen2 config with full attention, default
RoPE, SiLU MLP, float32 weights in one safetensors file, a tokenizer without a chat template. Every
other model (SmolLM2, any Hugging Face model, a LoRA adapter) is loaded by transformers as before
(`lsa.policy.models.load_policy`). Training always uses transformers (TRL).

Sampling follows `generate(do_sample=True, top_k=0)`: temperature, then nucleus (top-p) filtering,
then one multinomial draw per row from torch's global generator; a row that emitted EOS emits PAD
afterwards; a call ends when every row has stopped, at `max_new_tokens`, or once `max_time_s` has
passed (checked after each decoding step, as transformers' MaxTimeCriteria does).
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

#: the one architecture this runtime implements
ARCHITECTURE = "Qwen2ForCausalLM"
WEIGHTS = "model.safetensors"
TOKENIZER = "tokenizer.json"


def _read_json(path: Path) -> dict:
    try:
        out = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return out if isinstance(out, dict) else {}


def supports(path: str | Path) -> bool:
    """True when the folder at `path` is a model this runtime runs exactly as transformers would."""
    folder = Path(path)
    if not folder.is_dir() or (folder / "adapter_config.json").exists():
        return False
    if not (folder / WEIGHTS).is_file() or not (folder / TOKENIZER).is_file():
        return False
    config = _read_json(folder / "config.json")
    rope = config.get("rope_parameters") or {"rope_type": "default"}
    layer_types = config.get("layer_types") or ["full_attention"]
    tokenizer_config = _read_json(folder / "tokenizer_config.json")
    return (config.get("architectures") == [ARCHITECTURE] and config.get("model_type") == "qwen2"
            and config.get("hidden_act") == "silu" and not config.get("use_sliding_window")
            and set(layer_types) == {"full_attention"} and rope.get("rope_type", "default") == "default"
            and config.get("dtype", config.get("torch_dtype", "float32")) == "float32"
            and not tokenizer_config.get("chat_template") and not (folder / "chat_template.jinja").exists())


def _token_text(token) -> str | None:
    """A special token as tokenizer_config.json writes it: a string, or an AddedToken's fields."""
    if isinstance(token, dict):
        token = token.get("content")
    return token if isinstance(token, str) and token else None


class TextTokenizer:
    """The part of a Hugging Face tokenizer that inference uses, on a `tokenizers.Tokenizer`."""

    chat_template = None
    padding_side = "left"

    def __init__(self, folder: str | Path):
        from tokenizers import Tokenizer

        folder = Path(folder)
        self._tok = Tokenizer.from_file(str(folder / TOKENIZER))
        special = _read_json(folder / "tokenizer_config.json")
        self.eos_token = _token_text(special.get("eos_token"))
        self.pad_token = _token_text(special.get("pad_token")) or self.eos_token
        self.eos_token_id = self._tok.token_to_id(self.eos_token) if self.eos_token else None
        self.pad_token_id = self._tok.token_to_id(self.pad_token) if self.pad_token else None

    def __len__(self) -> int:
        return self._tok.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return self._tok.encode(text, add_special_tokens=add_special_tokens).ids

    def __call__(self, text: str, add_special_tokens: bool = False, return_tensors: str | None = None) -> dict:
        ids = self.encode(text, add_special_tokens)
        if return_tensors == "pt":
            import torch
            return {"input_ids": torch.tensor([ids], dtype=torch.long)}
        return {"input_ids": ids}

    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        return self._tok.decode(list(map(int, ids)), skip_special_tokens=skip_special_tokens)

    def batch_decode(self, rows, skip_special_tokens: bool = True) -> list[str]:
        rows = rows.tolist() if hasattr(rows, "tolist") else rows
        return self._tok.decode_batch([list(map(int, r)) for r in rows], skip_special_tokens=skip_special_tokens)


class Qwen2Runtime:
    """The Qwen2 decoder of a model folder in plain torch (inference only, CPU, float32)."""

    lsa_runtime = True

    def __init__(self, folder: str | Path):
        import torch
        from safetensors.torch import load_file

        folder = Path(folder)
        cfg = _read_json(folder / "config.json")
        self.config = SimpleNamespace(**cfg)
        self.device = torch.device("cpu")
        self.heads = int(cfg["num_attention_heads"])
        self.kv_heads = int(cfg.get("num_key_value_heads") or self.heads)
        self.head_dim = int(cfg.get("head_dim") or cfg["hidden_size"] // self.heads)
        self.eps = float(cfg.get("rms_norm_eps", 1e-6))
        w = load_file(str(folder / WEIGHTS))
        self.embed = w["model.embed_tokens.weight"]
        self.lm_head = self.embed if cfg.get("tie_word_embeddings", True) else w["lm_head.weight"]
        self.norm = w["model.norm.weight"]
        self.layers = []
        for i in range(int(cfg["num_hidden_layers"])):
            p = f"model.layers.{i}."
            a = p + "self_attn."
            self.layers.append(SimpleNamespace(
                in_norm=w[p + "input_layernorm.weight"], post_norm=w[p + "post_attention_layernorm.weight"],
                q=w[a + "q_proj.weight"], q_b=w.get(a + "q_proj.bias"), k=w[a + "k_proj.weight"],
                k_b=w.get(a + "k_proj.bias"), v=w[a + "v_proj.weight"], v_b=w.get(a + "v_proj.bias"),
                o=w[a + "o_proj.weight"], o_b=w.get(a + "o_proj.bias"), gate=w[p + "mlp.gate_proj.weight"],
                up=w[p + "mlp.up_proj.weight"], down=w[p + "mlp.down_proj.weight"]))
        theta = float((cfg.get("rope_parameters") or {}).get("rope_theta", cfg.get("rope_theta", 10000.0)))
        inv_freq = 1.0 / (theta ** (torch.arange(0, self.head_dim, 2, dtype=torch.float) / self.head_dim))
        positions = torch.arange(int(cfg.get("max_position_embeddings", 1024)), dtype=torch.float)
        angles = torch.cat([positions[:, None] * inv_freq] * 2, dim=-1)
        self.cos, self.sin = angles.cos(), angles.sin()

    def _rms(self, x, weight):
        import torch
        return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))

    @staticmethod
    def _rotate(x, cos, sin):
        import torch
        half = x.shape[-1] // 2
        return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin

    def forward(self, ids, cache: list, pos: int):
        """Logits of the last position of `ids` ([rows, tokens]) whose first token sits at position
        `pos`; their keys and values are written into `cache` (per layer, [rows, kv heads, length,
        head dim] buffers) at pos.., and attention reads the cache up to them."""
        import torch
        import torch.nn.functional as F

        rows, length = ids.shape
        h = self.embed[ids]
        cos, sin = self.cos[pos:pos + length], self.sin[pos:pos + length]
        end = pos + length
        mask = None if length == 1 else torch.ones(length, end, dtype=torch.bool).tril(diagonal=pos)
        for layer, (keys, values) in zip(self.layers, cache):
            x = self._rms(h, layer.in_norm)
            q = F.linear(x, layer.q, layer.q_b).view(rows, length, self.heads, self.head_dim).transpose(1, 2)
            k = F.linear(x, layer.k, layer.k_b).view(rows, length, self.kv_heads, self.head_dim).transpose(1, 2)
            v = F.linear(x, layer.v, layer.v_b).view(rows, length, self.kv_heads, self.head_dim).transpose(1, 2)
            keys[:, :, pos:end] = self._rotate(k, cos, sin)
            values[:, :, pos:end] = v
            att = F.scaled_dot_product_attention(self._rotate(q, cos, sin), keys[:, :, :end], values[:, :, :end],
                                                 attn_mask=mask, scale=self.head_dim ** -0.5,
                                                 enable_gqa=self.kv_heads != self.heads)
            h = h + F.linear(att.transpose(1, 2).reshape(rows, length, -1), layer.o, layer.o_b)
            x = self._rms(h, layer.post_norm)
            h = h + F.linear(F.silu(F.linear(x, layer.gate)) * F.linear(x, layer.up), layer.down)
        return F.linear(self._rms(h[:, -1], self.norm), self.lm_head)

    def check(self) -> None:
        """Run one token through every layer (raises when the weights do not fit the config)."""
        import torch

        with torch.no_grad():
            logits = self.forward(torch.zeros((1, 1), dtype=torch.long), self.new_cache(1, 1), 0)
        if logits.shape != (1, self.embed.shape[0]) or not bool(torch.isfinite(logits).all()):
            raise ValueError(f"logits of shape {tuple(logits.shape)} (finite: {bool(torch.isfinite(logits).all())})")

    def new_cache(self, rows: int, length: int) -> list:
        import torch
        shape = (rows, self.kv_heads, length, self.head_dim)
        return [(torch.zeros(shape), torch.zeros(shape)) for _ in self.layers]

    def prefill(self, ids) -> list:
        """The key/value cache of `ids` ([1, tokens]) but its last token (the first decoding step feeds it)."""
        import torch

        cache = self.new_cache(1, max(0, ids.shape[1] - 1))
        if ids.shape[1] > 1:
            with torch.no_grad():
                self.forward(ids[:, :-1], cache, 0)
        return cache

    def sample(self, ids, cache: list, rows: int, max_new_tokens: int, temperature: float, top_p: float,
               max_time_s: float, eos_id: int | None, pad_id: int | None):
        """[rows, steps] new token ids continuing `ids` ([1, tokens], `cache` its `prefill`)."""
        import torch

        t0 = time.perf_counter()
        start = ids.shape[1] - 1
        buffers = self.new_cache(rows, start + max_new_tokens)
        for (keys, values), (k0, v0) in zip(buffers, cache):
            keys[:, :, :start] = k0
            values[:, :, :start] = v0
        pad = pad_id if pad_id is not None else (eos_id if eos_id is not None else 0)
        out = torch.full((rows, max_new_tokens), pad, dtype=torch.long)
        done = torch.zeros(rows, dtype=torch.bool)
        token = ids[:, -1:].expand(rows, 1)
        steps = 0
        with torch.no_grad():
            for step in range(max_new_tokens):
                nxt = sample_tokens(self.forward(token, buffers, start + step), temperature, top_p)
                nxt = torch.where(done, torch.full_like(nxt, pad), nxt)
                out[:, step] = nxt
                steps = step + 1
                if eos_id is not None:
                    done |= nxt == eos_id
                if bool(done.all()) or time.perf_counter() - t0 > max_time_s:
                    break
                token = nxt[:, None]
        return out[:, :steps]


def sample_tokens(logits, temperature: float, top_p: float):
    """One token per row: temperature, then nucleus filtering (the smallest set of most likely tokens
    whose probability exceeds `top_p`, at least one), then a draw from the global generator."""
    import torch

    scores = logits / temperature if temperature != 1.0 else logits
    if top_p < 1.0:
        ordered, order = torch.sort(scores, descending=False)
        drop = ordered.softmax(dim=-1).cumsum(dim=-1) <= 1 - top_p
        drop[..., -1:] = False
        scores = scores.masked_fill(drop.scatter(1, order, drop), float("-inf"))
    return torch.multinomial(scores.softmax(dim=-1), num_samples=1).squeeze(1)


def is_runtime(model) -> bool:
    return bool(getattr(model, "lsa_runtime", False))
