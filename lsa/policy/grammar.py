"""The grammar of heuristic programs the embedded model is pretrained on: a construction, one-shot
improvement steps, and anytime loops that stream offers until `net.time_left()` runs low.

Every production is drawn uniformly at random (fixed probabilities that say nothing about
quality), so the corpus teaches the model the API and the shape of a program, never which
programs are good: that is GRPO's job. The grammar uses only the allow-listed language: the `np`
facade, `math`, `rng` and the documented `net` methods.
"""
from __future__ import annotations

import re

import numpy as np

from lsa.policy.vocabulary import allowed

_ORDERS = ["net.order_by_signal()", "net.order_by_coupling()", "rng.permutation(net.N)",
           "net.order_by_coupling()[::-1]", "net.order_by_signal()[::-1]"]
_COUNTS = ["1", "2", "3", "5", "8"]
_MOVES = ["5", "10", "20", "50", "net.N", "2 * net.N"]
_SHARES = ["max(1, net.N // 10)", "max(1, net.N // 5)", "max(1, net.N // 20)", "3"]
_MARGINS = ["0.01", "0.02", "0.05", "0.1"]
_FRACTIONS = ["0.2", "0.3", "0.5", "0.7", "0.9"]
_KICKS = ["2", "3", "4", "6"]
_CLUSTERS = ["2", "3", "4"]
_TEMPERATURES = ["0.1", "0.3", "0.5", "1.0"]
_TABU_STEPS = ["100", "300", "1000", "net.N"]


def _pick(rng: np.random.Generator, options: list[str]) -> str:
    return str(options[int(rng.integers(len(options)))])


def _time(rng: np.random.Generator) -> str:
    """A time allowance argument: none (the call runs until little time is left), a share of what
    is left, or all of it but a margin."""
    draw = rng.random()
    if draw < 0.5:
        return ""
    if draw < 0.75:
        return f", time_s={_pick(rng, _FRACTIONS)} * net.time_left()"
    return f", time_s=max(0.0, net.time_left() - {_pick(rng, _MARGINS)})"


def _init(rng: np.random.Generator) -> list[str]:
    kind = int(rng.choice(9, p=[0.1, 0.15, 0.1, 0.05, 0.05, 0.05, 0.1, 0.15, 0.25]))
    if kind == 8:
        return ["a = net.start()"]
    if kind == 0:
        return ["a = net.greedy()"]
    if kind == 1:
        return [f"order = {_pick(rng, _ORDERS)}", "a = net.greedy(order=order)"]
    if kind == 2:
        return ["a = net.random_assignment(rng)"]
    if kind == 3:
        return ["a = np.arange(net.N) % net.K"]
    if kind == 4:
        return ["a = np.zeros(net.N, dtype=int)"]
    if kind == 5:
        return ["ci = net.channel_interference(np.zeros(net.N, dtype=int))",
                "a = np.argmin(ci / net.signal_w, axis=1)"]
    if kind == 6:
        return [f"a = net.restarts(rng{_time(rng)})"]
    return [f"a = net.local_search(rng=rng{_time(rng)})"]


def _step(rng: np.random.Generator, depth: int = 0) -> list[str]:
    """A one-shot improvement of `a` (never an endless loop)."""
    kind = int(rng.integers(12 if depth == 0 else 10))
    if kind == 0:
        return [f"a = net.best_response(a, rounds={_pick(rng, _COUNTS)})"]
    if kind == 1:
        return [f"a = net.improve(a, sweeps={_pick(rng, _COUNTS)})"]
    if kind == 2:
        return ["a = net.descend(a)"]
    if kind == 3:
        return [f"a = net.improve_swaps(a, partners={_pick(rng, _KICKS)})"]
    if kind == 4:
        return [f"a = net.tabu_search(a, rng, steps={_pick(rng, _TABU_STEPS)}, tenure={_pick(rng, ['5', '10', '20'])})"]
    if kind == 5:
        return ["r = net.rates(a)",
                f"worst = np.argsort(r)[:{_pick(rng, _SHARES)}]",
                f"a = net.improve(a, links=worst, sweeps={_pick(rng, _COUNTS)})"]
    if kind == 6:
        return ["r = net.rates(a)",
                f"for i in np.argsort(r)[:{_pick(rng, ['3', '5', '10', '20'])}]:",
                f"    a = net.solve_cluster(a, net.cluster(i, size={_pick(rng, _CLUSTERS)}))"]
    if kind == 7:
        return [f"for _ in range({_pick(rng, _MOVES)}):",
                "    g = net.move_gains(a)",
                "    i, k = np.unravel_index(np.argmax(g), g.shape)",
                "    if g[i, k] <= 0:",
                "        break",
                "    a[i] = k"]
    if kind == 8:
        return ["r = net.rates(a)",
                f"worst = np.argsort(r)[:{_pick(rng, _SHARES)}]",
                "ci = net.channel_interference(a)",
                "a[worst] = np.argmin(ci[worst], axis=1)"]
    if kind == 9:
        return ["g = net.move_gains(a)",
                "k = np.argmax(g, axis=1)",
                "better = g[np.arange(net.N), k] > 0",
                f"pick = better & (rng.random(net.N) < {_pick(rng, ['0.1', '0.2', '0.5'])})",
                "a[pick] = k[pick]"]
    if kind == 10:                            # perturb and repair, keep the better
        return [f"b = net.kick(a, rng, size={_pick(rng, _KICKS)})",
                f"b = {_pick(rng, ['net.descend(b)', 'net.improve(b, sweeps=2)', 'net.best_response(b, rounds=3)'])}",
                "if net.utility(b) > net.utility(a):",
                "    a = b"]
    nested = _step(rng, depth + 1)            # keep-if-better wrapper around another step
    return ["b = a.copy()", *[re.sub(r"\ba\b", "b", line) for line in nested],
            "if net.utility(b) > net.utility(a):", "    a = b"]


def _anytime(rng: np.random.Generator) -> list[str]:
    """An improvement that runs until little time is left, offering what it finds."""
    kind = int(rng.integers(6))
    margin = _pick(rng, _MARGINS)
    if kind == 0:
        kick = f", kick_size={_pick(rng, _KICKS)}" if rng.random() < 0.5 else ""
        return [f"a = net.ils(a, rng{_time(rng)}{kick})"]
    if kind == 1:
        temperature = f", temperature={_pick(rng, _TEMPERATURES)}" if rng.random() < 0.5 else ""
        return [f"a = net.anneal(a, rng{_time(rng)}{temperature})"]
    if kind == 2:
        return [f"a = net.local_search(a, rng{_time(rng)})"]
    if kind == 3:
        repair = _pick(rng, ["net.descend(b)", "net.improve(b, sweeps=2)",
                             f"net.tabu_search(b, rng, steps={_pick(rng, _TABU_STEPS)})"])
        return ["best = net.utility(a)",
                f"while net.time_left() > {margin}:",
                f"    b = net.kick(a, rng, size={_pick(rng, _KICKS)})",
                f"    b = {repair}",
                "    u = net.utility(b)",
                "    if u > best:",
                "        a, best = b, u",
                "        net.offer(a)"]
    if kind == 4:
        return [f"while net.time_left() > {margin}:",
                "    i = int(rng.integers(net.N))",
                f"    a = net.solve_cluster(a, net.cluster(i, size={_pick(rng, _CLUSTERS)}))",
                "net.offer(a)"]
    return ["best = net.utility(a)",
            f"while net.time_left() > {margin}:",
            f"    b = net.tabu_search(a, rng, steps={_pick(rng, _TABU_STEPS)})",
            "    u = net.utility(b)",
            "    if u > best:",
            "        a, best = b, u",
            "        net.offer(a)"]


def sample_program(rng: np.random.Generator, vocabulary: str = "full") -> str:
    """One random program, as the completion the model learns to write: the prompt ends with the
    opening fence, so the completion is the function followed by the closing fence. Under the
    `primitives` vocabulary, programs that call a complete search are drawn again."""
    while True:
        program = _sample_program(rng)
        if allowed(program.removesuffix("```"), vocabulary):
            return program


def _sample_program(rng: np.random.Generator) -> str:
    body = _init(rng)
    if body[-1].startswith(("a = np.arange", "a = np.zeros", "a = net.random", "a = np.argmin")):
        body.append("a = np.array(a)")
    if rng.random() < 0.5:
        body.append("net.offer(a)")
    for _ in range(int(rng.choice([0, 1, 1, 2, 3]))):
        body += _step(rng)
    if rng.random() < 0.6:
        body += _anytime(rng)
    body.append("return a")
    return "\n".join(["def assign(net, rng):"] + ["    " + line for line in body]) + "\n```"
