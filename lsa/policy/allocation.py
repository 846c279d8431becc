"""How `lsa-code` divides its budget between trying another program and continuing the best one
(docs/policy.md, "Time allocation at inference"): the rule behind `inference.allocation`.

`relay` (the behaviour up to this rule): every program, seed or sampled, gets its share of the
remaining time and starts its own search; generation goes on while time remains.

`incumbent`: after the first program has offered, each decision compares two rates, both measured
in this solve only (nothing is learnt across instances):

- `continue_rate_per_s`: what running the incumbent's program again, from the incumbent, is worth:
  the incumbent's gain during the second half of that program's last run, per second;
- `explore_rate_per_s`: what trying another program (a seed program not yet run, or a newly sampled
  one) has yielded: the sum of the incumbent's gains made by such programs, over the seconds they
  and the generation before them took; 0 before any was tried, since a program that restarts its
  own search is expected to reach what the first one reached in the same time, not more.

The incumbent's program is continued while `continue_rate_per_s > explore_rate_per_s` (it still
improves and no other program has done better per second); otherwise the next seed program runs,
or a new batch is sampled. A continuation gets `inference.continue_share` of the remaining time
(the whole of it when less than twice MIN_CONTINUE_S would be left), so the rule is checked again
after it (continue_share 1: the incumbent's program keeps all the time once chosen).

Continuing a program from the incumbent: programs receive the incumbent as `net.start()`, but many
build their own start (`a = np.zeros(net.N)` handed to a complete search, or `net.greedy()` improved
by a loop of their own). `continuation` rewrites the first of those in the program to `net.start()`;
a program with neither (`restarts`, a constant start improved by hand) runs unchanged. Under
`incumbent` every program that runs once an incumbent exists runs so rewritten; the first one runs
as written (from the greedy start, `net.start()` before any incumbent, it did worse in ultra-dense
networks at T = 0.5 s than the seed programs' own start).
"""
from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field

from lsa.policy.vocabulary import COMPLETE_SEARCHES

#: a continuation of the incumbent's program gets at least this long; with less than twice this left, it gets all of it
MIN_CONTINUE_S = 0.3
#: complete searches whose first argument is the starting assignment (`restarts` builds its own)
SEARCHES_FROM_AN_ASSIGNMENT = tuple(name for name in COMPLETE_SEARCHES if name != "restarts")
#: constructive calls whose result a program improves: its start, when no complete search comes first
START_BUILDERS = ("greedy", "random_assignment")


def continuation(source: str) -> str:
    """`source` started from `net.start()`, the incumbent: the first place in the program (in source
    order) that sets where its search starts is rewritten — the starting assignment handed to a
    complete search (`net.local_search(a, ...)`, `net.ils(a, ...)`, ...), or a constructive call
    (`net.greedy(...)`, `net.random_assignment(rng)`) that becomes `net.start()`. `source` itself
    when it has neither (or does not parse)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return source
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
             and node.func.attr in (*SEARCHES_FROM_AN_ASSIGNMENT, *START_BUILDERS)
             and isinstance(node.func.value, ast.Name) and node.func.value.id == "net"]
    if not calls:
        return source
    call = min(calls, key=lambda c: (c.lineno, c.col_offset))
    start = ast.Call(func=ast.Attribute(value=ast.Name(id="net", ctx=ast.Load()), attr="start", ctx=ast.Load()),
                     args=[], keywords=[])
    if call.func.attr in START_BUILDERS:       # the start it builds becomes the incumbent
        call.func.attr, call.args, call.keywords = "start", [], []
    elif call.args:
        call.args[0] = start
    else:
        keyword = next((k for k in call.keywords if k.arg == "assignment"), None)
        if keyword is None:          # local_search() with no start already starts from net.start()
            return source
        keyword.value = start
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


@dataclass
class RunTrace:
    """The incumbent's utility over one program run: (seconds since the run started, utility) of
    every offer that raised it."""

    started_utility: float
    gains: list[tuple[float, float]] = field(default_factory=list)

    def rate_per_s(self, took_s: float) -> float:
        """The incumbent's gain during the second half of the run, per second (0 for a run that
        raised nothing there; infinite for a first run whose offers all came in its second half)."""
        if took_s <= 0:
            return 0.0
        half = took_s / 2
        before = self.started_utility
        for t, utility in self.gains:
            if t <= half:
                before = utility
        after = self.gains[-1][1] if self.gains else before
        if before == -float("inf"):         # the first run offered nothing in its first half: it was still
            return math.inf if self.gains else 0.0   # starting (a late fork, a long descent), not stalling
        return max(0.0, after - before) / half


@dataclass
class Allocation:
    """The bookkeeping of the `incumbent` rule for one solve."""

    best_source: str = ""            # the program (as the policy wrote it) whose run last raised the incumbent
    continue_rate_per_s: float = 0.0
    explore_gain: float = 0.0
    explore_s: float = 0.0
    pending_generation_s: float = 0.0   # generation not yet charged to a program tried
    continued: int = 0

    @property
    def explore_rate_per_s(self) -> float:
        return self.explore_gain / self.explore_s if self.explore_s > 0 else 0.0

    def should_continue(self) -> bool:
        """Whether the incumbent's program is worth more, per second, than another program."""
        return bool(self.best_source) and self.continue_rate_per_s > self.explore_rate_per_s

    def record(self, source: str, is_continuation: bool, trace: RunTrace, took_s: float, raised: bool,
               first: bool) -> None:
        """Account one program run (`first`: no incumbent existed when it started)."""
        if is_continuation:
            self.continued += 1
            self.continue_rate_per_s = trace.rate_per_s(took_s)
            return
        if not first:                   # the first run has nothing to beat: it says nothing about exploring
            gain = (trace.gains[-1][1] - trace.started_utility) if trace.gains else 0.0
            self.explore_gain += max(0.0, gain)
            self.explore_s += took_s + self.pending_generation_s
            self.pending_generation_s = 0.0
        if raised:
            self.best_source = source
            self.continue_rate_per_s = trace.rate_per_s(took_s)


def continue_timeout_s(remaining_s: float, margin_s: float, share: float) -> float:
    """A continuation's time limit: `share` of what is left (all of it near the end)."""
    usable = remaining_s - margin_s
    if usable < 2 * MIN_CONTINUE_S:
        return usable
    return max(MIN_CONTINUE_S, share * usable)


__all__ = ["MIN_CONTINUE_S", "continuation", "RunTrace", "Allocation",
           "continue_timeout_s"]
