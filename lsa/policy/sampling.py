"""Batched sampling of many completions of ONE prompt with the prompt's prefill done once.

`generate()` with a batch of identical prompts prefills the prompt once per row; on a CPU the
prefill of a ~1000-token prompt costs as much as ~100 sampled tokens per row. Here the prompt
(all but its last token) runs once through the model, its key/value cache is repeated across the
batch, and `generate()` continues from it. Rows stop at EOS (or at `stop_strings`); a batch ends
when every row has stopped or at `max_new_tokens`.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

from lsa.policy.runtime import is_runtime


@dataclass
class Samples:
    """Completions of one prompt and what they cost."""

    texts: list[str] = field(default_factory=list)
    new_tokens: list[int] = field(default_factory=list)     # tokens sampled per completion (to EOS/stop)
    cut: list[bool] = field(default_factory=list)           # stopped by max_new_tokens, not by itself
    prompt_tokens: int = 0
    prefill_s: float = 0.0
    sample_s: float = 0.0
    steps: int = 0                                          # decoding steps over all batches

    @property
    def tokens_per_s(self) -> float:
        return sum(self.new_tokens) / self.sample_s if self.sample_s > 0 else 0.0


#: tokens at the end of each row that the stop-string check decodes (a stop string is a few characters)
STOP_TAIL_TOKENS = 8


def _stop_on_text(tokenizer, stops, prompt_tokens: int):
    """A StoppingCriteria that ends a row once its new text contains one of `stops`. It decodes only
    the last few tokens of each row per step (transformers' `stop_strings` first preprocesses the
    whole vocabulary, minutes for a 49k-token vocabulary on a busy CPU)."""
    import torch
    from transformers import StoppingCriteria

    class _StopOnText(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            start = max(prompt_tokens, input_ids.shape[1] - STOP_TAIL_TOKENS)
            tails = tokenizer.batch_decode(input_ids[:, start:], skip_special_tokens=True)
            return torch.tensor([any(s in t for s in stops) for t in tails], dtype=torch.bool, device=input_ids.device)

    return _StopOnText()


def cache_kwarg(model) -> str:
    """The keyword of the key/value cache in this transformers version: `cache` (v5.x, where
    `past_key_values` is deprecated) or `past_key_values` (v4)."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model   # a peft model: its base's
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


def prefill(policy, prompt: str):
    """(input ids of `prompt`, the KV cache of all its tokens but the last)."""
    import torch

    ids = policy.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"].to(policy.model.device)
    if is_runtime(policy.model):
        return ids, policy.model.prefill(ids)
    from transformers import DynamicCache

    cache = DynamicCache(config=policy.model.config)
    with torch.no_grad():
        policy.model(input_ids=ids[:, :-1], use_cache=True, **{cache_kwarg(policy.model): cache})
    return ids, cache


def sample(policy, prompt: str, n: int, max_new_tokens: int, temperature: float = 0.7, top_p: float = 1.0,
           batch_size: int = 16, seed: int = 0, stop_strings=None, progress=None, min_new_tokens: int = 0) -> Samples:
    """`n` sampled completions of `prompt` in batches of `batch_size`, sharing one prefill.
    Seeded: the same call gives the same texts on the same machine and torch build."""
    import torch

    tok, model = policy.tokenizer, policy.model
    out = Samples()
    t0 = time.perf_counter()
    ids, cache = prefill(policy, prompt)
    out.prefill_s = time.perf_counter() - t0
    out.prompt_tokens = int(ids.shape[1])
    limit = getattr(model.config, "max_position_embeddings", None)
    if limit:
        max_new_tokens = max(1, min(max_new_tokens, limit - out.prompt_tokens))
    eos = tok.eos_token_id
    criteria = None
    if stop_strings:
        from transformers import StoppingCriteriaList
        criteria = StoppingCriteriaList([_stop_on_text(tok, list(stop_strings), out.prompt_tokens)])
    done = 0
    while done < n:
        b = min(batch_size, n - done)
        batch_cache = copy.deepcopy(cache)
        batch_cache.batch_repeat_interleave(b)
        batch_ids = ids.repeat(b, 1)
        torch.manual_seed(seed * 1_000_003 + done)
        t1 = time.perf_counter()
        with torch.no_grad():
            gen = model.generate(input_ids=batch_ids, attention_mask=torch.ones_like(batch_ids),
                                 **{cache_kwarg(model): batch_cache}, do_sample=True, temperature=temperature, top_p=top_p,
                                 top_k=0, max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens or None, pad_token_id=tok.pad_token_id,
                                 eos_token_id=eos, stopping_criteria=criteria)
        out.sample_s += time.perf_counter() - t1
        new = gen[:, out.prompt_tokens:]
        out.steps += int(new.shape[1])
        for row in new.tolist():
            ended = [i for i, t in enumerate(row) if t == eos]
            length = ended[0] + 1 if ended else len(row)
            text = tok.decode(row[:length], skip_special_tokens=True)
            stopped = bool(ended) or bool(stop_strings and any(s in text for s in stop_strings))
            out.texts.append(text)
            out.new_tokens.append(length)
            out.cut.append(not stopped and length >= max_new_tokens)
        done += b
        if progress is not None:
            progress(b)
    return out


class PromptSampler:
    """Sampled completions of one solve's prompt under a deadline. The prompt is prefilled once, on
    the first call, and every call continues from a copy of that cache (a batch of identical prompts
    would prefill it once per row: for a 135 M model on one CPU thread, 4 x 576 prompt tokens took
    8 s, longer than a 2-s budget). A call whose prefill cannot end within the time it is given
    (estimated at `prefill_s_per_token`, measured once the model is loaded) is not started."""

    def __init__(self, policy, prompt: str, prefill_s_per_token: float = 0.0):
        self.policy, self.prompt = policy, prompt
        self.prefill_s_per_token = prefill_s_per_token
        self._ids = self._cache = None
        self.prompt_tokens = len(policy.tokenizer(prompt, add_special_tokens=False)["input_ids"])
        self.prefill_s = 0.0

    def prefill_estimate_s(self) -> float:
        """Seconds the prefill still costs (0 once done)."""
        return 0.0 if self._cache is not None else self.prompt_tokens * self.prefill_s_per_token

    def sample(self, n: int, max_new_tokens: int, temperature: float, top_p: float, max_time_s: float,
               seed: int) -> list[str] | None:
        """`n` completions (each stops at EOS, at `max_new_tokens` or when `max_time_s` is spent, one
        decoding step late at worst); None when the prefill would not end within `max_time_s`."""
        import torch

        if self.prefill_estimate_s() > max_time_s:
            return None
        t0 = time.perf_counter()
        if self._cache is None:
            self._ids, self._cache = prefill(self.policy, self.prompt)
            self.prefill_s = time.perf_counter() - t0
        tok, model = self.policy.tokenizer, self.policy.model
        limit = getattr(model.config, "max_position_embeddings", None)
        if limit:
            max_new_tokens = max(1, min(max_new_tokens, limit - self.prompt_tokens))
        left_s = max_time_s - (time.perf_counter() - t0)
        if left_s <= 0:
            return None
        torch.manual_seed(seed)
        if is_runtime(model):     # the torch-only runtime: it copies the cache into its batch buffers itself
            new = model.sample(self._ids, self._cache, n, max_new_tokens, temperature, top_p, max(left_s, 0.01),
                               tok.eos_token_id, tok.pad_token_id)
            return tok.batch_decode(new, skip_special_tokens=True)
        cache = copy.deepcopy(self._cache)
        cache.batch_repeat_interleave(n)
        ids = self._ids.repeat(n, 1)
        with torch.no_grad():
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **{cache_kwarg(model): cache},
                                 do_sample=True, temperature=temperature, top_p=top_p, top_k=0,
                                 max_new_tokens=max_new_tokens, max_time=max(left_s, 0.01),
                                 pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
        return tok.batch_decode(out[:, ids.shape[1]:], skip_special_tokens=True)


def prefill_rate(policy, tokens: int = 192) -> float:
    """Seconds per prompt token of one prefill of a `tokens`-long dummy prompt."""
    text = " ".join(["channel"] * tokens)
    t0 = time.perf_counter()
    ids, _ = prefill(policy, text)
    return (time.perf_counter() - t0) / max(1, int(ids.shape[1]) - 1)
