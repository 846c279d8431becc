"""`lsa-code` and `lsa-direct` under the time-bounded protocol (docs/protocol.md, docs/policy.md).

`prepare_*` (outside the budget) loads the model once per path with its seed programs, warms it up
(a first forward pass and a first short `generate` on a dummy prompt, once per loaded model),
prepares the sandbox for the instance (engine kernels, indexes, the system-call filter) and primes
it (a first trivial program forked and run on it). `solve_code` then, inside the budget: runs the
model's seed programs first (a fixed set recorded after its training, `seeds.py`: the same for
every instance, so an incumbent comes at once and no instance depends on another); builds the
prompt and samples new programs in batches; and runs them one after another. How the time is
divided is `inference.allocation` (lsa.policy.allocation): `incumbent` (default) reruns the
incumbent's program from the incumbent while that gains more per second than other programs have
yielded, and samples only otherwise; `relay` gives every program a share of the remaining time,
each starting from the incumbent (`net.start()`). Programs stream offers that the harness takes
immediately, so a program stopped at its deadline still counts with its best offer. Nothing is
learnt across instances. `solve_direct` samples channel lists best-of-n.
"""
from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from lsa.errors import LSAError
from lsa.methods.registry import Method
from lsa.policy.allocation import Allocation, RunTrace, continuation, continue_timeout_s
from lsa.policy.config import EMBEDDED_DIRECT_DIR, EMBEDDED_POLICY_DIR, InferenceConfig
from lsa.policy.models import load_inference_policy
from lsa.policy.prompts import DEFAULT_PROMPT_TOKENS, code_prompt, direct_prompt, program_source
from lsa.policy.rewards import parse_channel_list
from lsa.policy.sampling import PromptSampler, prefill_rate
from lsa.policy.seeds import load_seed_programs
from lsa.policy.vocabulary import allowed
from lsa.programs.runner import prepare_sandbox, run_programs

#: do not start a program with less than this left (sandbox start-up and result transfer)
MIN_EXEC_S = 0.03
#: a program's timeout ends this long before the budget (the kill and the last offer's transfer)
EXEC_MARGIN_S = 0.02
#: do not sample new programs with less than this left
MIN_GENERATE_S = 0.15
#: upper bound of the temperature raised after batches that bring no new program
MAX_TEMPERATURE = 1.5
#: the margin kept for a program's start, kill and scoring is measured, but at most this share of the budget
MAX_OVERHEAD_SHARE = 0.2
#: a seed program gets at least this long (fork, start-up and a first offer at N in the thousands)
MIN_SEED_S = 0.3
#: what primes the sandbox in `prepare`: forked and run once per instance, its result discarded
PRIMING_PROGRAM = "def assign(net, rng):\n    return net.random_assignment(rng)\n"
#: a first priming run faster than this is run again and the second one measured (N = 2000: 0.09 s, then
#: 0.06 s); a slower one is the measure itself (N = 100,000: 0.2 s each, mostly the fork and the offer's
#: scoring: a second run would add 0.2 s of set-up to change the estimate by a tenth)
PRIMING_RERUN_S = 0.15
#: tokens of the dummy prompt that warms the model up (about the length of a real prompt)
WARMUP_PROMPT_TOKENS = 192

#: loaded models (weights only: nothing here changes while solving) and their seed programs
_POLICIES: dict[str, object] = {}
_SEEDS: dict[str, tuple[str, ...]] = {}
_WARM: set[str] = set()
#: seconds per prompt token of a loaded model's prefill (`_measure_prefill`, once per model)
_PREFILL_RATE: dict[str, float] = {}
#: models being loaded in a background thread (`load_code`/`load_direct`), joined by the first `_load`
_LOADING: dict[str, threading.Thread] = {}


def _inference_config(params: dict) -> InferenceConfig:
    known = set(InferenceConfig.__dataclass_fields__)
    values = dict(params.get("inference") or {})
    values.update({k: v for k, v in params.items() if k in known})
    return InferenceConfig.from_mapping(values)


def _key(path: str | None, default_dir: Path, dtype: str, runtime: str = "auto") -> tuple[str, str]:
    if path in (None, "", "embedded"):
        if not (default_dir / "config.json").is_file():
            raise LSAError(f"no shipped policy at {default_dir}; pass --model PATH "
                           f"(train one with `lsa pretrain` and `lsa train`)")
        path = str(default_dir)
    return path, f"{path}|{dtype}|{runtime}"


def _load(path: str | None, default_dir: Path, dtype: str = "float32", runtime: str = "auto"):
    path, key = _key(path, default_dir, dtype, runtime)
    loader = _LOADING.pop(key, None)
    if loader is not None:        # started by `_start_loading`: wait for it (its errors are raised below)
        loader.join()
    if key not in _POLICIES:
        _cache(path, key, dtype, runtime)
    return _POLICIES[key], _SEEDS[key], key


def _cache(path: str, key: str, dtype: str, runtime: str = "auto") -> None:
    """Load the model at `path` and its seed programs into the per-process caches under `key`."""
    seeds = tuple(load_seed_programs(path)) if Path(path).is_dir() else ()
    policy = load_inference_policy(path, dtype=dtype, runtime=runtime)
    _SEEDS[key] = seeds
    _POLICIES[key] = policy


def _start_loading(params: dict, default_dir: Path) -> None:
    """Load the model in a background thread while the caller reads the instance and builds its
    indexes (the imports of torch and transformers are most of a fresh process's set-up). Errors are
    left to `_load`, which raises them in the caller's thread. Joined before anything forks."""
    params = params or {}
    try:
        cfg = _inference_config(params)
        path, key = _key(params.get("model"), default_dir, params.get("dtype", "float32"), cfg.runtime)
    except LSAError:
        return
    if key in _POLICIES or key in _LOADING:
        return

    def load() -> None:
        try:
            _cache(path, key, params.get("dtype", "float32"), cfg.runtime)
            _warm_up(_POLICIES[key], key, cfg)   # part of loading: off the caller's path too
        except Exception:             # noqa: BLE001 - `_load` loads again in the caller and raises there
            return

    thread = threading.Thread(target=load, name=f"lsa-load-{Path(path).name}", daemon=True)
    _LOADING[key] = thread
    thread.start()


def load_code(params: dict) -> None:
    """Start loading the code policy (`Method.load`): what `prepare_code` would load first."""
    _start_loading(params, EMBEDDED_POLICY_DIR)


def load_direct(params: dict) -> None:
    """Start loading the direct policy (`Method.load`)."""
    _start_loading(params, EMBEDDED_DIRECT_DIR)


def _warm_up(policy, key: str, cfg: InferenceConfig) -> None:
    """A first forward pass and a first short `generate` on a dummy prompt (once per loaded model):
    what the first real call would otherwise pay inside the budget (allocations, kernel choice)."""
    if key in _WARM:
        return
    import torch

    torch.set_num_threads(max(1, cfg.torch_threads))
    dummy = " ".join(["channel"] * WARMUP_PROMPT_TOKENS)
    PromptSampler(policy, dummy).sample(cfg.batch_size, 8, cfg.temperature, cfg.top_p, 30.0, 0)
    _WARM.add(key)


def _measure_prefill(policy, key: str) -> float:
    """Seconds per prompt token of the model's prefill, measured once per model in the caller's
    thread after loading and indexing are over (taken in the loader thread while the instance was
    read beside it, the rate came out up to 5 x too slow, and a slow rate refuses generations that
    would fit)."""
    if key not in _PREFILL_RATE:       # the quicker of two: one pause of the thread does not count
        _PREFILL_RATE[key] = min(prefill_rate(policy, WARMUP_PROMPT_TOKENS) for _ in range(2))
    return _PREFILL_RATE[key]


def _prepare(net, params: dict, default_dir: Path, paradigm: str) -> dict:
    params = params or {}
    cfg = _inference_config(params)
    if paradigm == "code":        # the instance's indexes first: a model loading in the background overlaps them
        prepare_sandbox(net)
    policy, seeds, key = _load(params.get("model"), default_dir, params.get("dtype", "float32"), cfg.runtime)
    _warm_up(policy, key, cfg)
    prefill_s_per_token = _measure_prefill(policy, key)
    overhead_s = 0.0
    if paradigm == "code":
        t0 = time.perf_counter()          # the first fork and run (it pays the parent's first-time costs)
        run_programs([PRIMING_PROGRAM], net, timeout_s=5.0, workers=1)
        overhead_s = time.perf_counter() - t0
        if overhead_s < PRIMING_RERUN_S:  # small instance: those costs are a large share; a second,
            t0 = time.perf_counter()      # primed run costs what one program run costs
            run_programs([PRIMING_PROGRAM], net, timeout_s=5.0, workers=1)
            overhead_s = time.perf_counter() - t0
    # the prompt the policy was trained with (recorded in its directory), unless the caller says otherwise
    budget = params.get("prompt_max_tokens") or policy.prompt_max_tokens or DEFAULT_PROMPT_TOKENS
    api_doc = params.get("api_doc_in_prompt", policy.api_doc)
    return {"policy": policy, "cfg": cfg, "prompt_max_tokens": int(budget), "api_doc": api_doc,
            "seeds": seeds[: cfg.seed_programs], "exec_overhead_s": overhead_s,
            "prefill_s_per_token": prefill_s_per_token}


def prepare_code(net, params: dict) -> dict:
    """Load the code policy (params['model']: path or HF id; None → the shipped embedded policy)."""
    return _prepare(net, params, EMBEDDED_POLICY_DIR, "code")


def prepare_direct(net, params: dict) -> dict:
    """Load the direct policy (params['model']; None → the shipped direct policy)."""
    return _prepare(net, params, EMBEDDED_DIRECT_DIR, "direct")


def sample_completions(policy, prompt: str, n: int, max_new_tokens: int, cfg: InferenceConfig, max_time: float,
                       rng: np.random.Generator) -> list[str]:
    """Sample `n` completions of `prompt` (stops at EOS, at max_new_tokens or after max_time seconds),
    through the same one-prefill sampler as the solve (either runtime)."""
    texts = PromptSampler(policy, prompt).sample(n, max_new_tokens, cfg.temperature, cfg.top_p, max(max_time, 0.01),
                                                 int(rng.integers(2 ** 31)))
    return texts or []


_generate = sample_completions   # the name scripts/heldout.py imports


class _Relay:
    """The programs of one `solve_code` call and the bookkeeping of its result columns."""

    def __init__(self, net, run, rng, cfg: InferenceConfig, overhead_s: float = 0.0):
        self.net, self.run, self.rng, self.cfg = net, run, rng, cfg
        #: time a program run takes beyond its timeout (start, kill, scoring): kept free before the deadline
        self.max_margin_s = max(EXEC_MARGIN_S, MAX_OVERHEAD_SHARE * run.budget_s)
        self.margin_s = min(self.max_margin_s, max(EXEC_MARGIN_S, overhead_s))
        self.queue: list[tuple[str, bool]] = []         # (source, is a seed program)
        self.seen: set[str] = set()
        self.tried = self.ok = self.valid = self.seeds_run = self.repaired_best = self.outside = 0
        self.gen_s = self.exec_s = 0.0
        self.winner = ""
        self.starved = False                            # a program ended before any incumbent existed
        self.alloc = Allocation()                       # the `incumbent` rule's measures (allocation.py)

    def add(self, sources, seed: bool = False, vocabulary: str = "full") -> int:
        """Queue the programs not seen before; those outside `vocabulary` (a complete search under
        `primitives`) are never run: they count as tried (`outside`)."""
        new = [s for s in dict.fromkeys(sources) if s not in self.seen]
        self.seen.update(new)
        kept = [s for s in new if allowed(s, vocabulary)]
        self.outside += len(new) - len(kept)
        self.tried += len(new) - len(kept)
        self.queue += [(s, seed) for s in kept]
        return len(new)

    def run_next(self) -> None:
        source, seed = self.queue.pop(0)
        remaining = self.run.remaining()
        # the first program (no incumbent yet) may use all that is left; later ones share it
        slots = 1 if self.run.best_assignment is None else min(len(self.queue) + 1, self.cfg.relay_programs)
        timeout = min(self.cfg.exec_timeout_s, remaining / max(1, slots) - self.margin_s)
        if seed:      # seeds leave time to the policy's own programs, but get long enough for an offer
            timeout = min(timeout, max(self.cfg.seed_share * self.run.budget_s, MIN_SEED_S))
        by_incumbent = self.cfg.allocation == "incumbent"
        if by_incumbent and self.run.best_assignment is None:   # `incumbent`: the first program is the one the
            timeout = self._continuation_timeout_s(remaining)   # rule continues; it gets what a continuation gets
        if self.starved and self.run.best_assignment is None:   # a program ran out of time before any offer
            timeout = remaining - self.margin_s               # (a large instance): the next one gets it all
        if timeout <= 0:
            return
        # `incumbent`: once there is an incumbent, a program's search starts from it (net.start())
        runnable = continuation(source) if by_incumbent and self.run.best_assignment is not None else source
        self._execute(runnable, source, timeout, seed=seed)

    def _continuation_timeout_s(self, remaining_s: float) -> float:
        return min(self.cfg.exec_timeout_s, continue_timeout_s(remaining_s, self.margin_s, self.cfg.continue_share))

    def continue_best(self) -> bool:
        """Run the incumbent's program again from the incumbent (`allocation: incumbent`) for its
        share of the time left; False when no time is left for it."""
        timeout = self._continuation_timeout_s(self.run.remaining())
        if timeout <= 0:
            return False
        self._execute(continuation(self.alloc.best_source), self.alloc.best_source, timeout, continued=True)
        return True

    def rest_to_best(self) -> bool:
        """No more programs will be sampled: under `allocation: incumbent` the incumbent's program
        gets the time left (True when it ran)."""
        return self.cfg.allocation == "incumbent" and bool(self.alloc.best_source) and self.continue_best()

    def _execute(self, source: str, written: str, timeout: float, seed: bool = False, continued: bool = False) -> None:
        """Run `source` (`written`: the program as the policy wrote it) from the incumbent for `timeout` s."""
        before = self.run.best_utility
        first = self.run.best_assignment is None
        t0 = time.perf_counter()
        trace = RunTrace(before)

        def on_offer(_index, assignment, utility):
            if self.run.offer(assignment, utility):
                trace.gains.append((time.perf_counter() - t0, float(self.run.best_utility)))

        res = run_programs([source], self.net, timeout, seeds=[int(self.rng.integers(2 ** 31))], workers=1,
                           on_offer=on_offer, starts=[self.run.best_assignment])[0]
        took = time.perf_counter() - t0
        self.exec_s += took
        self.margin_s = min(self.max_margin_s, max(self.margin_s, took - timeout))
        raised = self.run.best_utility > before
        self.alloc.record(written, continued, trace, took, raised, first)
        if continued:
            self.winner = "continued" if raised else self.winner
            return
        self.tried += 1
        self.seeds_run += int(seed)
        if res.best_utility is None:
            self.starved = self.starved or self.run.best_assignment is None
            return
        self.ok += 1
        self.valid += int(res.status == "ok" and not res.repaired)
        if raised:
            self.winner = "seed" if seed else "sampled"
            self.repaired_best = int(res.repaired)


def solve_code(net, run, rng, state=None, **params) -> dict:
    """The code policy under the budget of `run`; returns method-specific result columns. Every
    call starts from the same state: the model's fixed seed programs, nothing from earlier calls."""
    import torch

    state = state or prepare_code(net, params)
    policy, cfg = state["policy"], state["cfg"]
    torch.set_num_threads(max(1, cfg.torch_threads))
    relay = _Relay(net, run, rng, cfg, state.get("exec_overhead_s", 0.0))
    vocabulary = getattr(policy, "vocabulary", "full")   # recorded with the policy (model.vocabulary)
    relay.add(state["seeds"], seed=True, vocabulary=vocabulary)   # the first incumbent comes before any prompt
    start_state = _digest(relay.queue)
    sampler, prompt_s = None, 0.0
    sampling, batches = cfg, 0
    while run.remaining() > MIN_EXEC_S + relay.margin_s and relay.tried < cfg.max_programs:
        if cfg.allocation == "incumbent" and relay.alloc.should_continue():   # the incumbent's program is worth more than another
            if not relay.continue_best():
                break
            continue
        if not relay.queue:
            if run.remaining() < MIN_GENERATE_S + relay.margin_s and relay.tried:
                if relay.rest_to_best():      # no time to sample: the best program gets it
                    continue
                break
            if sampler is None:
                t0 = time.perf_counter()
                prompt = code_prompt(net, tokenizer=policy.tokenizer, max_tokens=state["prompt_max_tokens"],
                                     api_doc=state["api_doc"], vocabulary=vocabulary)
                sampler = PromptSampler(policy, prompt, state.get("prefill_s_per_token", 0.0))
                prompt_s = time.perf_counter() - t0
                relay.alloc.pending_generation_s += prompt_s
            t1 = time.perf_counter()
            completions = sampler.sample(cfg.batch_size, cfg.max_new_tokens, sampling.temperature, sampling.top_p,
                                         run.remaining() * cfg.generate_share, int(rng.integers(2 ** 31)))
            took = time.perf_counter() - t1
            relay.gen_s += took
            relay.alloc.pending_generation_s += took
            if completions is None:    # its prefill would outlast the time a call may take: nothing more to sample
                if relay.rest_to_best():
                    continue
                break
            batches += 1
            sources = [s for s in map(program_source, completions) if s is not None]
            relay.tried += cfg.batch_size - len(sources)
            if not relay.add(sorted(sources, key=len), vocabulary=vocabulary):   # a peaked policy: sample hotter
                sampling = replace(sampling, temperature=min(MAX_TEMPERATURE, sampling.temperature * 1.25))
            continue
        relay.run_next()
    return {"programs_tried": relay.tried, "programs_ok": relay.ok, "programs_valid": relay.valid,
            "final_temperature": round(sampling.temperature, 3), "repaired": relay.repaired_best,
            "seeds_run": relay.seeds_run, "start_state": start_state, "best_from": relay.winner, "generate_batches": batches,
            "programs_continued": relay.alloc.continued, "gen_s": round(relay.gen_s, 4), "exec_s": round(relay.exec_s, 4), "prompt_s": round(prompt_s, 4),
            "model": Path(policy.source).name,
            **({"programs_outside_vocabulary": relay.outside, "vocabulary": vocabulary} if vocabulary != "full" else {})}


def _digest(queue) -> str:
    """Short hash of the programs queued when a solve starts: equal on every instance (no learning)."""
    return hashlib.sha256("\0".join(source for source, _ in queue).encode()).hexdigest()[:12]


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
    sampler = PromptSampler(policy, prompt, state.get("prefill_s_per_token", 0.0))
    while run.remaining() > MIN_EXEC_S and tried < cfg.max_programs:
        t1 = time.perf_counter()
        completions = sampler.sample(cfg.batch_size, max_new, cfg.temperature, cfg.top_p, run.remaining(),
                                     int(rng.integers(2 ** 31)))
        gen_s += time.perf_counter() - t1
        if completions is None:        # its prefill would outlast the budget
            break
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
CODE_METHOD = Method("lsa-code", "LLM writes anytime assign(net, rng) programs, run in the sandbox as a relay under the budget",
                     solve_code, prepare_code, accepts_model=True, load=load_code)
DIRECT_METHOD = Method("lsa-direct", "LLM writes the channel list directly, best-of-n under the budget",
                       solve_direct, prepare_direct, accepts_model=True, load=load_direct)
