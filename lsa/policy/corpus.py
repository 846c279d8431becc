"""Pretraining corpus of the embedded model: compositional heuristic programs against the primitives API.

Programs are sampled from a small grammar (ordering → construction → improvement steps → return),
paired at random with prompts of random instances. Nothing in a pair says how good the program is
on that instance: no reward, no utility, no ranking — GRPO has to discover quality itself.
"""
from __future__ import annotations

import re

import numpy as np
from tqdm.auto import tqdm

from lsa.policy.prompts import CODE_CLOSE, code_prompt, direct_prompt
from lsa.sim.generate import generate_ppp
from lsa.sim.network import REGIMES
from lsa.sim.params import NetworkConfig

_ORDERS = [
    "net.order_by_signal()",
    "net.order_by_coupling()",
    "rng.permutation(net.N)",
    "net.order_by_coupling()[::-1]",
    "net.order_by_signal()[::-1]",
]
_COUNTS = ["1", "2", "3", "5", "8"]
_MOVES = ["5", "10", "20", "50", "net.N", "2 * net.N"]
_SHARES = ["max(1, net.N // 10)", "max(1, net.N // 5)", "max(1, net.N // 20)", "3"]


def _init(rng: np.random.Generator) -> list[str]:
    kind = rng.choice(6, p=[0.25, 0.25, 0.15, 0.15, 0.1, 0.1])
    if kind == 0:
        return ["a = net.greedy()"]
    if kind == 1:
        return [f"order = {rng.choice(_ORDERS)}", "a = net.greedy(order=order)"]
    if kind == 2:
        return ["a = net.random_assignment(rng)"]
    if kind == 3:
        return ["a = np.arange(net.N) % net.K"]
    if kind == 4:
        return ["a = np.zeros(net.N, dtype=int)"]
    return ["ci = net.channel_interference(np.zeros(net.N, dtype=int))",
            "a = rng.integers(0, net.K, size=net.N)"]


def _step(rng: np.random.Generator, depth: int = 0) -> list[str]:
    kinds = 7 if depth == 0 else 5
    kind = rng.integers(kinds)
    if kind == 0:
        return [f"a = net.best_response(a, rounds={rng.choice(_COUNTS)})"]
    if kind == 1:
        return [f"for _ in range({rng.choice(_MOVES)}):",
                "    g = net.move_gains(a)",
                "    i, k = np.unravel_index(np.argmax(g), g.shape)",
                "    if g[i, k] <= 0:",
                "        break",
                "    a[i] = k"]
    if kind == 2:
        return ["r = net.rates(a)",
                f"worst = np.argsort(r)[:{rng.choice(_SHARES)}]",
                "ci = net.channel_interference(a)",
                "a[worst] = np.argmin(ci[worst], axis=1)"]
    if kind == 3:
        return ["r = net.rates(a)",
                f"worst = np.argsort(r)[:{rng.choice(_SHARES)}]",
                f"a = net.best_response(a, links=worst, rounds={rng.choice(_COUNTS)})"]
    if kind == 4:
        return ["g = net.move_gains(a)",
                "k = np.argmax(g, axis=1)",
                "better = g[np.arange(net.N), k] > 0",
                f"pick = better & (rng.random(net.N) < {rng.choice(['0.1', '0.2', '0.5'])})",
                "a[pick] = k[pick]"]
    if kind == 5:  # random restarts, keep the best
        start = rng.choice(["net.random_assignment(rng)", "net.greedy(order=rng.permutation(net.N))"])
        inner = [f"    b = {start}",
                 f"    b = net.best_response(b, rounds={rng.choice(_COUNTS)})"]
        return ["best = net.utility(a)",
                f"for _ in range({rng.choice(_COUNTS)}):",
                *inner,
                "    u = net.utility(b)",
                "    if u > best:",
                "        a, best = b, u"]
    # keep-if-better wrapper around a nested step
    nested = _step(rng, depth + 1)
    return ["b = a.copy()",
            *[_rename(line) for line in nested],
            "if net.utility(b) > net.utility(a):",
            "    a = b"]


def _rename(line: str) -> str:
    """Rewrite a step so that it works on the copy `b` instead of `a`."""
    return re.sub(r"\ba\b", "b", line)


def sample_program(rng: np.random.Generator) -> str:
    """One random heuristic program, as the completion the model learns to write: the prompt ends
    with the opening fence, so the completion is the function followed by the closing fence."""
    body = _init(rng)
    if body[0].startswith("a = np.") or body[0].startswith("a = net.random") or body[-1].startswith("a = rng"):
        body.append("a = np.array(a)")
    n_steps = int(rng.choice([0, 1, 1, 2, 2, 3]))
    for _ in range(n_steps):
        body += _step(rng)
    body.append("return a")
    lines = ["def assign(net, rng):"] + ["    " + line for line in body]
    return "\n".join(lines) + "\n" + CODE_CLOSE


def sample_channel_list(N: int, K: int, rng: np.random.Generator) -> str:
    """A channel list completion for the direct paradigm (used only if pretrain.direct_share > 0)."""
    return "[" + ", ".join(str(int(c)) for c in rng.integers(0, K, size=N)) + "]"


def build_corpus(n_programs: int, n_instances: int, instance_n, instance_k, seed: int,
                 tokenizer=None, prompt_max_tokens: int | None = 256, direct_share: float = 0.0,
                 api_doc: bool = False, network: NetworkConfig | None = None, progress: bool = True) -> list[dict]:
    """Pairs {'prompt', 'completion'}: prompts from `n_instances` random PPP instances, completions
    drawn independently from the program grammar (or random channel lists for `direct_share`)."""
    rng = np.random.default_rng(seed)
    prompts_code, prompts_direct, sizes = [], [], []
    for idx in tqdm(range(n_instances), desc="corpus instances", disable=not progress):
        N = int(rng.choice(instance_n))
        K = int(rng.choice(instance_k))
        regime = str(rng.choice(REGIMES))
        net = generate_ppp(N, K, regime, seed=int(seed * 1_000_003 + idx), params=network)
        prompts_code.append(code_prompt(net, tokenizer=tokenizer, max_tokens=prompt_max_tokens, api_doc=api_doc))
        if direct_share > 0:
            prompts_direct.append(direct_prompt(net, tokenizer=tokenizer, max_tokens=prompt_max_tokens))
        sizes.append((N, K))
    out = []
    for _ in range(n_programs):
        j = int(rng.integers(n_instances))
        if direct_share > 0 and rng.random() < direct_share:
            out.append({"prompt": prompts_direct[j], "completion": sample_channel_list(*sizes[j], rng)})
        else:
            out.append({"prompt": prompts_code[j], "completion": sample_program(rng)})
    return out
