"""GRPO rewards (docs/policy.md): R_struct, R_perf, R_depth as plain TRL reward functions.

R = λ1·R_struct + λ2·R_perf + λ3·R_depth; TRL applies the λ (reward_weights) and logs each
component's mean every step. A shared `RewardContext` executes each (completion, instance) once in
the sandbox (parallel) and caches the result, so the three functions never run a program three times.

Formulas (code paradigm):
- R_struct ∈ [0, 1], graded: 0.2 code block present, 0.4 parses, 0.6 passes the allow-list,
  0.8 offered a valid incumbent before its deadline (possibly repaired, possibly then stopped),
  1.0 returned in time and its output is valid without repair.
- R_perf, piecewise linear in the utility U of the best assignment the program offered before its
  deadline (repaired): −1 at U_rand (the mean of 8 random assignments), 0 at U_greedy (the greedy
  heuristic), 1 at U_ref (the strong classical reference — by default the better of `local-search`
  and `ils` — run with the same time budget as the program), continued linearly beyond and clipped to [lo, hi]:
      U ≥ U_greedy: (U − U_greedy) / (U_ref − U_greedy);   U < U_greedy: (U − U_greedy) / (U_greedy − U_rand).
  So programs above greedy still get a gradient all the way up to (and past) the strong reference.
  A program that offered nothing gets lo.
- R_depth ∈ [−1, 0], a complexity / latency regulariser:
  −0.5·clip((nodes − free) / scale, 0, 1) − 0.5·clip(first_offer_s / timeout_s, 0, 1),
  nodes = AST node count, first_offer_s = when the first valid incumbent arrived (the timeout when
  none did): anytime programs may use their whole time, but should offer something early. 0 for
  text that never ran.
Direct paradigm: R_struct 0.25 list present, 0.5 all entries integers, 0.75 length N, 1.0 all in
[0, K); R_perf as above on the repaired list; R_depth = 0.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass

import numpy as np

from lsa.engine.state import greedy_assign
from lsa.methods.protocol import run_method
from lsa.policy.prompts import program_source
from lsa.policy.vocabulary import allowed
from lsa.programs.repair import repair_assignment
from lsa.programs.runner import run_programs
from lsa.sim.utility import sum_rate

N_RANDOM_REFERENCE = 8


@dataclass
class Outcome:
    """What one completion did on one instance (cached)."""

    struct: float
    utility: float | None
    runtime_s: float     # code: seconds to the first valid incumbent (timeout when none)
    ast_nodes: int
    valid: bool          # ok and no repair needed
    status: str


@dataclass(frozen=True)
class References:
    """The three utilities R_perf is normalised with on one training instance (bit/s/Hz)."""

    random: float
    greedy: float
    strong: float

    def perf(self, utility: float) -> float:
        """R_perf before clipping: −1 at random, 0 at greedy, 1 at the strong reference."""
        scale = max(abs(self.greedy), 1.0) * 1e-9
        if utility >= self.greedy:
            return (utility - self.greedy) / max(self.strong - self.greedy, scale)
        return (utility - self.greedy) / max(self.greedy - self.random, scale)


def reference_utilities(net, seed: int = 0, methods=("local-search",), budget_s: float = 1.0) -> References:
    """U_rand (mean of random assignments), U_greedy, and the strong reference: the best of
    `methods`, each run under the protocol with `budget_s` (the time a program gets in training)."""
    rng = np.random.default_rng(seed)
    u_rand = float(np.mean([sum_rate(net, rng.integers(0, net.K, size=net.N)) for _ in range(N_RANDOM_REFERENCE)]))
    u_greedy = float(sum_rate(net, greedy_assign(net)))
    strong = max(float(run_method(net, method, budget_s, seed=seed)[0]["utility"]) for method in methods)
    return References(u_rand, u_greedy, max(strong, u_greedy))


_LIST_RE = re.compile(r"\[([^\[\]]*)\]")


def parse_channel_list(completion: str, N: int, K: int) -> tuple[float, np.ndarray | None, bool]:
    """(R_struct, assignment or None, valid without repair) of a direct-paradigm completion."""
    m = _LIST_RE.search(completion)
    if not m:
        return 0.0, None, False
    items = [x.strip() for x in m.group(1).split(",") if x.strip()]
    if not items:
        return 0.25, None, False
    values = []
    all_int = True
    for x in items:
        try:
            values.append(int(x))
        except ValueError:
            all_int = False
            try:
                values.append(float(x))
            except ValueError:
                values.append(np.nan)
    struct = 0.25
    if all_int:
        struct = 0.5
        if len(values) == N:
            struct = 0.75
            if all(0 <= v < K for v in values):
                struct = 1.0
    assignment, _ = repair_assignment(np.asarray(values, dtype=np.float64), N, K)
    return struct, assignment, struct == 1.0


class RewardContext:
    """Training instances, their reference utilities and the evaluation cache shared by the reward functions."""

    def __init__(self, nets, paradigm: str = "code", timeout_s: float = 2.0, workers: int | None = None,
                 perf_clip=(-1.0, 2.0), depth_free_nodes: int = 120, depth_scale_nodes: int = 240,
                 reference_methods=("local-search",), reference_budget_s: float | None = None,
                 cache_size: int = 20000, vocabulary: str = "full"):
        self.nets = list(nets)
        self.vocabulary = vocabulary
        self.paradigm = paradigm
        self.timeout_s = float(timeout_s)
        self.workers = workers
        self.perf_clip = tuple(perf_clip)
        self.depth_free_nodes = depth_free_nodes
        self.depth_scale_nodes = depth_scale_nodes
        budget = self.timeout_s if reference_budget_s is None else float(reference_budget_s)
        self.refs = [reference_utilities(net, seed=i, methods=tuple(reference_methods), budget_s=budget)
                     for i, net in enumerate(self.nets)]
        self.cache: dict[tuple[str, int], Outcome] = {}
        self.cache_size = cache_size
        self.executions = 0

    # ---- evaluation -------------------------------------------------------------------------
    def outcomes(self, completions, instances) -> list[Outcome]:
        keys = [(_text(c), int(i)) for c, i in zip(completions, instances)]
        missing = list(dict.fromkeys(k for k in keys if k not in self.cache))
        if missing:
            if self.paradigm == "code":
                self._run_code(missing)
            else:
                self._run_direct(missing)
            if len(self.cache) > self.cache_size:  # drop the oldest half
                for k in list(self.cache)[: len(self.cache) // 2]:
                    del self.cache[k]
        return [self.cache[k] for k in keys]

    def _run_code(self, keys):
        todo, todo_keys = [], []
        for key in keys:
            text, idx = key
            source = program_source(text)
            if source is None:
                self.cache[key] = Outcome(0.0, None, 0.0, 0, False, "no-code")
                continue
            try:
                ast.parse(source)
            except (SyntaxError, ValueError):
                self.cache[key] = Outcome(0.2, None, 0.0, 0, False, "syntax")
                continue
            if not allowed(source, self.vocabulary):   # a complete search under `primitives`: the allow-list's reward
                self.cache[key] = Outcome(0.4, None, 0.0, 0, False, "vocabulary")
                continue
            todo.append(source)
            todo_keys.append(key)
        if not todo:
            return
        # identical programs on the same instance run once
        uniq = list(dict.fromkeys(zip(todo, (k[1] for k in todo_keys))))
        results = run_programs([s for s, _ in uniq], [self.nets[i] for _, i in uniq], self.timeout_s,
                               seeds=[i for _, i in uniq], workers=self.workers)
        self.executions += len(uniq)
        by_prog = dict(zip(uniq, results))
        for source, key in zip(todo, todo_keys):
            res = by_prog[(source, key[1])]
            offered = res.best_utility is not None
            if res.status == "rejected":
                struct = 0.4
            elif res.status == "ok":
                struct = 0.8 if res.repaired else 1.0
            else:                                 # error or timeout: an incumbent offered in time still counts
                struct = 0.8 if offered else 0.6
            runtime = res.first_offer_s if offered and res.first_offer_s is not None else self.timeout_s
            self.cache[key] = Outcome(struct, res.best_utility if offered else None, float(runtime),
                                      int(res.ast_nodes or 0), res.status == "ok" and not res.repaired, res.status)

    def _run_direct(self, keys):
        for key in keys:
            text, idx = key
            net = self.nets[idx]
            struct, assignment, valid = parse_channel_list(text, net.N, net.K)
            utility = sum_rate(net, assignment) if assignment is not None else None
            self.cache[key] = Outcome(struct, utility, 0.0, 0, valid, "ok" if valid else "invalid")

    # ---- components ---------------------------------------------------------------------------
    def perf(self, outcome: Outcome, idx: int) -> float:
        if outcome.utility is None:
            return float(self.perf_clip[0])
        return float(np.clip(self.refs[idx].perf(outcome.utility), *self.perf_clip))

    def depth(self, outcome: Outcome) -> float:
        if self.paradigm != "code" or outcome.status in ("no-code", "syntax"):
            return 0.0
        nodes = np.clip((outcome.ast_nodes - self.depth_free_nodes) / self.depth_scale_nodes, 0.0, 1.0)
        runtime = np.clip(outcome.runtime_s / self.timeout_s, 0.0, 1.0)
        return float(-0.5 * nodes - 0.5 * runtime)

    def reward_functions(self) -> list:
        """[r_struct, r_perf, r_depth], TRL reward functions (prompts, completions, instance=..., **kw)."""
        ctx = self

        def r_struct(prompts, completions, instance, **kwargs):
            out = ctx.outcomes(completions, instance)
            log_metric = kwargs.get("log_metric")
            if log_metric is not None:
                log_metric("valid_share", float(np.mean([o.valid for o in out])))
                log_metric("ok_share", float(np.mean([o.utility is not None for o in out])))
            return [o.struct for o in out]

        def r_perf(prompts, completions, instance, **kwargs):
            out = ctx.outcomes(completions, instance)
            return [ctx.perf(o, int(i)) for o, i in zip(out, instance)]

        def r_depth(prompts, completions, instance, **kwargs):
            out = ctx.outcomes(completions, instance)
            return [ctx.depth(o) for o in out]

        return [r_struct, r_perf, r_depth]


def _text(completion) -> str:
    """TRL passes strings for plain prompts and message lists for conversational ones."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[0], dict):
        return "".join(str(m.get("content", "")) for m in completion)
    return str(completion)
