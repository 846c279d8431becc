"""`lsa-code` and `lsa-direct` under the time-bounded protocol (SPEC §5, §7).

`prepare_*` loads the model once (outside the budget; models are memoised per path). `solve_*`
builds the prompt, samples best-of-n in batches while `run.remaining()` allows — generation counted
— executes programs in the sandbox with timeout ≤ remaining, offers every valid (possibly repaired)
assignment, and returns method-specific columns. Programs that ran ok are cached per model and
re-run first on later instances (`inference.reuse_cache`).
"""
from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path

import numpy as np

from lsa.errors import LSAError
from lsa.methods.registry import Method
from lsa.policy.config import EMBEDDED_DIRECT_DIR, EMBEDDED_POLICY_DIR, InferenceConfig
from lsa.policy.models import load_policy
from lsa.policy.prompts import DEFAULT_PROMPT_TOKENS, code_prompt, direct_prompt, program_source
from lsa.policy.rewards import parse_channel_list
from lsa.programs.runner import prepare_sandbox, run_programs

#: stop sampling when less than this is left (a program still needs its sandbox start-up)
MIN_EXEC_S = 0.05
#: a program's timeout is the remaining budget minus this (sandbox kill, result transfer, utility)
EXEC_MARGIN_S = 0.15
#: upper bound of the temperature raised after batches that bring no new program
MAX_TEMPERATURE = 1.5

_POLICIES: dict[str, object] = {}
_PROGRAM_CACHE: dict[str, "OrderedDict[str, float]"] = {}


def _inference_config(params: dict) -> InferenceConfig:
    known = set(InferenceConfig.__dataclass_fields__)
    values = dict(params.get("inference") or {})
    values.update({k: v for k, v in params.items() if k in known})
    return InferenceConfig.from_mapping(values)


def _load(path: str | None, default_dir: Path, dtype: str = "float32"):
    if path in (None, "", "embedded"):
        if not (default_dir / "config.json").is_file():
            raise LSAError(f"no shipped policy at {default_dir}; pass --model PATH "
                           f"(train one with `lsa pretrain` and `lsa train`)")
        path = str(default_dir)
    key = f"{path}|{dtype}"
    if key not in _POLICIES:
        _POLICIES[key] = load_policy(path, dtype=dtype)
    return _POLICIES[key]


def _prepare(params: dict, default_dir: Path) -> dict:
    params = params or {}
    cfg = _inference_config(params)
    policy = _load(params.get("model"), default_dir, params.get("dtype", "float32"))
    # the prompt the policy was trained with (recorded in its directory), unless the caller says otherwise
    budget = params.get("prompt_max_tokens") or policy.prompt_max_tokens or DEFAULT_PROMPT_TOKENS
    api_doc = params.get("api_doc_in_prompt", policy.api_doc)
    cache = _PROGRAM_CACHE.setdefault(policy.source, OrderedDict())
    return {"policy": policy, "cfg": cfg, "prompt_max_tokens": int(budget), "api_doc": api_doc, "cache": cache}


def prepare_code(net, params: dict) -> dict:
    """Load the code policy (params['model']: path or HF id; None → the shipped embedded policy)."""
    prepare_sandbox(net)                      # engine kernels, seccomp filter: outside the budget
    return _prepare(params, EMBEDDED_POLICY_DIR)


def prepare_direct(net, params: dict) -> dict:
    """Load the direct policy (params['model']; None → the shipped direct policy when present)."""
    return _prepare(params, EMBEDDED_DIRECT_DIR)


def _generate(policy, prompt: str, n: int, max_new_tokens: int, cfg: InferenceConfig, max_time: float,
              rng: np.random.Generator) -> list[str]:
    """Sample `n` completions of `prompt` (stops at EOS, at max_new_tokens or after max_time seconds)."""
    import torch

    tok = policy.tokenizer
    enc = tok([prompt] * n, return_tensors="pt", add_special_tokens=False, padding=True)
    limit = getattr(policy.model.config, "max_position_embeddings", None)
    if limit:
        max_new_tokens = max(1, min(max_new_tokens, limit - enc["input_ids"].shape[1]))
    torch.manual_seed(int(rng.integers(2 ** 31)))
    with torch.no_grad():
        out = policy.model.generate(**enc, do_sample=True, temperature=cfg.temperature, top_p=cfg.top_p,
                                    top_k=0, max_new_tokens=max_new_tokens, max_time=max(max_time, 0.01),
                                    pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    return tok.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)


class _Counters:
    def __init__(self):
        self.tried = self.valid = self.ok = self.repaired_offers = self.cache_hits = 0
        self.gen_s = self.exec_s = 0.0
        self.best_utility = -np.inf
        self.best_source = ""


def _execute(sources, net, run, rng, cfg, counters, cache, from_cache=False):
    """Run `sources` in waves of `exec_workers` programs; every wave's timeout is what is left of
    the budget (minus the sandbox margin), so the programs together never outlast the budget.
    Each finished wave's valid assignments are offered before the next wave starts."""
    wave = max(1, cfg.exec_workers or 1)
    for start in range(0, len(sources), wave):
        chunk = sources[start:start + wave]
        timeout = min(cfg.exec_timeout_s, run.remaining() - EXEC_MARGIN_S)
        if timeout <= MIN_EXEC_S:
            return
        t0 = time.perf_counter()
        results = run_programs(chunk, net, timeout, seeds=[int(s) for s in rng.integers(2 ** 31, size=len(chunk))],
                               workers=wave)
        counters.exec_s += time.perf_counter() - t0
        for source, res in zip(chunk, results):
            counters.tried += 1
            if res.status != "ok" or res.assignment is None:
                continue
            counters.ok += 1
            counters.valid += int(not res.repaired)
            counters.cache_hits += int(from_cache)
            if run.offer(res.assignment, res.utility):
                counters.repaired_offers = int(bool(res.repaired))
                counters.best_source = source
            counters.best_utility = max(counters.best_utility, float(res.utility))
            cache[source] = float(res.utility)
            cache.move_to_end(source)
            while len(cache) > cfg.cache_size:
                cache.popitem(last=False)


def solve_code(net, run, rng, state=None, **params) -> dict:
    """Best-of-n code policy under the budget of `run`; returns method-specific result columns."""
    import torch

    state = state or prepare_code(net, params)
    policy, cfg, cache = state["policy"], state["cfg"], state["cache"]
    torch.set_num_threads(max(1, cfg.torch_threads))
    c = _Counters()
    t0 = time.perf_counter()
    prompt = code_prompt(net, tokenizer=policy.tokenizer, max_tokens=state["prompt_max_tokens"],
                         api_doc=state["api_doc"])
    prompt_s = time.perf_counter() - t0
    seen: set[str] = set()
    if cfg.reuse_cache and cache:
        cached = list(reversed(cache))[: cfg.batch_size]
        seen.update(cached)
        _execute(cached, net, run, rng, cfg, c, cache, from_cache=True)
    batches = 0
    sampling = cfg
    while run.remaining() > MIN_EXEC_S and c.tried < cfg.max_programs:
        t1 = time.perf_counter()
        completions = _generate(policy, prompt, cfg.batch_size, cfg.max_new_tokens, sampling, run.remaining(), rng)
        c.gen_s += time.perf_counter() - t1
        batches += 1
        sources = []
        for text in completions:
            source = program_source(text)
            if source is None:
                c.tried += 1
                continue
            if source in seen:
                continue
            seen.add(source)
            sources.append(source)
        if not sources:  # a trained policy is peaked: when a batch brings nothing new, sample hotter
            sampling = replace(sampling, temperature=min(MAX_TEMPERATURE, sampling.temperature * 1.25))
        # shorter programs first: they tend to be the cheap ones, so a slow program cannot starve
        # the batch of its budget before anything valid was offered
        _execute(sorted(sources, key=len), net, run, rng, cfg, c, cache)
    return {"programs_tried": c.tried, "programs_ok": c.ok, "programs_valid": c.valid,
            "final_temperature": round(sampling.temperature, 3),
            "repaired": c.repaired_offers, "cache_hits": c.cache_hits, "generate_batches": batches,
            "gen_s": round(c.gen_s, 4), "exec_s": round(c.exec_s, 4), "prompt_s": round(prompt_s, 4),
            "model": Path(policy.source).name}


def solve_direct(net, run, rng, state=None, **params) -> dict:
    """Best-of-n direct policy: the model writes the channel list; parsed, repaired, offered."""
    import torch

    state = state or prepare_direct(net, params)
    policy, cfg = state["policy"], state["cfg"]
    torch.set_num_threads(max(1, cfg.torch_threads))
    t0 = time.perf_counter()
    prompt = direct_prompt(net, tokenizer=policy.tokenizer, max_tokens=state["prompt_max_tokens"])
    prompt_s = time.perf_counter() - t0
    tried = valid = parsed = repaired = 0
    gen_s = 0.0
    max_new = max(cfg.max_new_tokens, 4 * net.N + 8)
    while run.remaining() > MIN_EXEC_S and tried < cfg.max_programs:
        t1 = time.perf_counter()
        completions = _generate(policy, prompt, cfg.batch_size, max_new, cfg, run.remaining(), rng)
        gen_s += time.perf_counter() - t1
        for text in completions:
            tried += 1
            struct, assignment, ok = parse_channel_list(text, net.N, net.K)
            if assignment is None:
                continue
            parsed += 1
            valid += int(ok)
            if run.offer(assignment):
                repaired = int(not ok)
    return {"programs_tried": tried, "programs_ok": parsed, "programs_valid": valid, "repaired": repaired,
            "gen_s": round(gen_s, 4), "prompt_s": round(prompt_s, 4), "model": Path(policy.source).name}


#: the two LLM methods; `pyproject.toml` declares them as entry points of the `lsa.methods` group
CODE_METHOD = Method("lsa-code", "LLM writes assign(net, rng) code, run in the sandbox, best-of-n under the budget",
                     solve_code, prepare_code, accepts_model=True)
DIRECT_METHOD = Method("lsa-direct", "LLM writes the channel list directly, best-of-n under the budget",
                       solve_direct, prepare_direct, accepts_model=True)
