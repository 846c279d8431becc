"""The cold-start experiment on a real pretrained chat model, zero-shot (no SFT, no pretraining on
our program grammar): on the same instances and the same serialized state, how often does the
model's first answer work in the code paradigm (a program that runs in the sandbox and returns N
valid channels without repair) and in the direct paradigm (a list that parses to N channels in
[0, K) without repair)? Valid shares come with 95 % Wilson intervals; the utility of what the
model wrote is put on the scale of the same instance's random (0) and greedy (1) assignments.

Sampling: per instance one prompt per paradigm (the state text is identical: serialized once with
`state_tokens`), `samples / len(instance_seeds)` completions each, drawn in batches sharing one
prefill (lsa.policy.sampling). A code completion stops at its closing fence, a direct one at its
closing bracket. The direct paradigm needs about 3 tokens per link (SmolLM2 tokenizer): a cell
whose shortest valid list is longer than `direct_max_new_tokens` cannot produce a valid answer
here; its rows say so (`tokens_needed` > `max_new_tokens`) and the summary marks it untestable.
Completions stopped by the token cap (`cut`) are invalid as written, but some might have become
valid with more tokens (`undetermined`: a direct list still open, a code answer without a complete
`assign` that parses): `valid_upper` = (valid + undetermined) / n bounds the valid share the model
would reach without the cap, so an untestable cell still says how far the model got.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

from lsa.config import Section, option, section
from lsa.policy.models import load_policy
from lsa.policy.prompts import prompt_builder
from lsa.policy.rewards import parse_channel_list, reference_utilities
from lsa.policy.sampling import sample
from lsa.policy.serializer import count_tokens, serialize
from lsa.programs.runner import run_programs
from lsa.sim.generate import generate_ppp
from lsa.sim.utility import sum_rate

PARADIGMS = ("code", "direct")
SUMMARY_COLUMNS = ["paradigm", "N", "K", "n", "valid", "valid_share", "valid_lo", "valid_hi", "usable_share",
                   "cut_share", "valid_upper", "valid_upper_hi", "testable", "tokens_needed", "max_new_tokens", "mean_new_tokens",
                   "rel_utility_valid", "beats_greedy_share", "beats_random_share", "model"]


@dataclass(frozen=True)
class ColdStartConfig(Section):
    """Zero-shot valid share of a pretrained chat model, code vs direct paradigm (the cold-start claim)."""

    SECTION = "cold_start"

    model: str = option("smollm2-135m", "The chat model: a named offline model (`lsa model list`), HF id or local folder.")
    n_links: list[int] = option([20, 200, 2000], "Instance sizes N.")
    channels: int = option(8, "Channels K of every instance.")
    regime: str = option("dense", "Density regime of the instances.")
    instance_seeds: list[int] = option([0, 1], "Instance seeds per N (the samples are split evenly among them).")
    samples: int = option(64, "Completions per paradigm and N (all instances together).")
    batch_size: int = option(32, "Completions per generate() call (one shared prefill per prompt).")
    temperature: float = option(0.7, "Sampling temperature.")
    top_p: float = option(1.0, "Nucleus sampling mass.")
    state_tokens: int = option(128, "Token budget of the serialized state (the same text in both paradigms).")
    api_doc: str = option("compact", "API documentation in the code prompt: full, compact (signatures of the main methods), "
                                        "example (compact + one valid program: one-shot) or none.")
    code_max_new_tokens: int = option(128, "Cap on the tokens of a code completion (it stops at its closing fence).")
    direct_max_new_tokens: int = option(96, "Cap on the tokens of a direct completion (it stops at its closing bracket): "
                                            "min(shortest valid list + 16, this). Cells whose shortest valid list is "
                                            "longer are untestable (valid_upper bounds them).")
    exec_timeout_s: float = option(2.0, "Sandbox timeout per program (s).")
    exec_workers: int | None = option(2, "Parallel sandbox workers (null: all cores).")
    torch_threads: int | None = option(None, "torch.set_num_threads while sampling (null: torch default).")
    dtype: str = option("float32", "Weights dtype (bfloat16 on a GPU).")
    seed: int = option(0, "Sampling seed.")

    def check(self) -> None:
        if not self.n_links or min(self.n_links) < 2 or not 2 <= self.channels <= 64:
            self.fail("n_links must be sizes >= 2 and channels in [2, 64]")
        if not self.instance_seeds or self.samples < len(self.instance_seeds):
            self.fail("need instance_seeds and samples >= len(instance_seeds)")
        if self.batch_size < 1 or self.state_tokens < 32 or self.temperature <= 0 or not 0 < self.top_p <= 1:
            self.fail("need batch_size >= 1, state_tokens >= 32, temperature > 0 and top_p in (0, 1]")
        if self.api_doc not in ("full", "compact", "example", "none"):
            self.fail(f"api_doc must be full, compact, example or none, got {self.api_doc!r}")
        if min(self.code_max_new_tokens, self.direct_max_new_tokens) < 1 or not 0 < self.exec_timeout_s <= 60:
            self.fail("max_new_tokens must be >= 1 and exec_timeout_s in (0, 60]")


def cold_start_config(config: dict | None) -> ColdStartConfig:
    return section(config, ColdStartConfig)


def wilson(k: int, n: int) -> tuple[float, float]:
    """95 % Wilson score interval of k successes in n trials."""
    from scipy.stats import binomtest

    if n == 0:
        return float("nan"), float("nan")
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


def shortest_valid_list_tokens(N: int, tokenizer) -> int:
    """Tokens of the shortest valid direct answer of N links ("[0, 0, ..., 0]")."""
    return count_tokens("[" + ", ".join(["0"] * N) + "]", tokenizer)


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (i < total % parts) for i in range(parts)]


def run_cold_start(cfg: ColdStartConfig, network=None, progress: bool = True) -> list[dict]:
    """Sample, execute / parse and score every completion; one row per completion."""
    import torch
    from tqdm.auto import tqdm

    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    policy = load_policy(cfg.model, dtype=cfg.dtype)
    tok = policy.tokenizer
    api_doc = {"full": True, "compact": "compact", "example": "example", "none": False}[cfg.api_doc]
    builders = {"code": prompt_builder("code", tok, api_doc), "direct": prompt_builder("direct", tok)}
    total = 2 * cfg.samples * len(cfg.n_links)
    bar = tqdm(total=total, desc="cold start: completions", disable=not progress)
    rows: list[dict] = []
    for N in cfg.n_links:
        for seed, count in zip(cfg.instance_seeds, _split(cfg.samples, len(cfg.instance_seeds))):
            if count == 0:
                continue
            net = generate_ppp(N, cfg.channels, cfg.regime, seed, network)
            refs = reference_utilities(net, seed=seed, methods=("greedy",), budget_s=1.0)
            state = serialize(net, max_tokens=cfg.state_tokens, tokenizer=tok).text
            needed = shortest_valid_list_tokens(N, tok)
            for paradigm in PARADIGMS:
                prompt = builders[paradigm](state)
                if paradigm == "code":
                    cap, stops = cfg.code_max_new_tokens, ["```"]
                else:
                    cap, stops = min(needed + 16, cfg.direct_max_new_tokens), ["]"]
                t0 = time.perf_counter()
                got = sample(policy, prompt, count, cap, temperature=cfg.temperature, top_p=cfg.top_p,
                             batch_size=cfg.batch_size, seed=cfg.seed + 7919 * seed + N, stop_strings=stops,
                             progress=bar.update)
                scored = _score_code(got.texts, net, cfg) if paradigm == "code" else _score_direct(got.texts, net)
                for i, (text, (valid, usable, utility, status, complete)) in enumerate(zip(got.texts, scored)):
                    rel = None if utility is None else (utility - refs.random) / max(refs.greedy - refs.random, 1e-12)
                    rows.append({"paradigm": paradigm, "N": N, "K": net.K, "instance_seed": seed, "sample": i,
                                 "valid": bool(valid), "usable": bool(usable), "status": status,
                                 "utility": utility, "rel_utility": rel, "u_random": refs.random,
                                 "u_greedy": refs.greedy, "new_tokens": got.new_tokens[i], "cut": got.cut[i],
                                 "undetermined": bool(got.cut[i] and not complete),
                                 "max_new_tokens": cap, "tokens_needed": needed if paradigm == "direct" else 0,
                                 "prompt_tokens": got.prompt_tokens, "prefill_s": round(got.prefill_s, 3),
                                 "sample_s": round(got.sample_s, 3), "wall_s": round(time.perf_counter() - t0, 3),
                                 "model": cfg.model, "completion": text})
    bar.close()
    return rows


def _score_code(texts, net, cfg: ColdStartConfig):
    """(valid, usable, utility, status, complete) per completion: the program runs once in the
    sandbox; `complete`: the extracted program parses (so the token cap did not decide its fate)."""
    import ast

    from lsa.policy.prompts import program_source

    sources = [program_source(t) for t in texts]
    todo = [i for i, s in enumerate(sources) if s is not None]
    results = run_programs([sources[i] for i in todo], net, cfg.exec_timeout_s, seeds=todo,
                           workers=cfg.exec_workers) if todo else []
    out = [(False, False, None, "no-code", False)] * len(texts)
    for i, res in zip(todo, results):
        utility = None if res.best_utility is None else float(res.best_utility)
        try:
            complete = "def assign" in sources[i] and ast.parse(sources[i]) is not None
        except (SyntaxError, ValueError):
            complete = False
        out[i] = (res.status == "ok" and not res.repaired, utility is not None, utility, res.status, complete)
    return out


def _score_direct(texts, net):
    out = []
    for text in texts:
        struct, assignment, valid = parse_channel_list(text, net.N, net.K)
        utility = None if assignment is None else float(sum_rate(net, assignment))
        out.append((bool(valid), assignment is not None, utility, f"struct={struct:.2f}", False))
    return out


def summarize(rows) -> list[dict]:
    """One row per (paradigm, N): valid share with its Wilson interval, and the utility of what was written."""
    import pandas as pd

    df = pd.DataFrame(rows)
    out = []
    for (paradigm, N), g in df.groupby(["paradigm", "N"], sort=True):
        n, k = len(g), int(g["valid"].sum())
        lo, hi = wilson(k, n)
        cut = int((g["undetermined"] & ~g["valid"]).sum())
        cap = int(g["max_new_tokens"].max())
        needed = int(g["tokens_needed"].max())
        valid_rel = g.loc[g["valid"], "rel_utility"].dropna()
        rel_all = g["rel_utility"].astype(float)
        out.append({"paradigm": paradigm, "N": int(N), "K": int(g["K"].iloc[0]), "n": n, "valid": k,
                    "valid_share": k / n, "valid_lo": lo, "valid_hi": hi, "usable_share": float(g["usable"].mean()),
                    "cut_share": float(g["cut"].mean()), "valid_upper": (k + cut) / n,
                    "valid_upper_hi": wilson(k + cut, n)[1], "testable": bool(needed <= cap),
                    "tokens_needed": needed, "max_new_tokens": cap, "mean_new_tokens": float(g["new_tokens"].mean()),
                    "rel_utility_valid": float(valid_rel.mean()) if len(valid_rel) else float("nan"),
                    "beats_greedy_share": float((g["valid"] & (rel_all >= 1.0 - 1e-9)).mean()),
                    "beats_random_share": float((g["valid"] & (rel_all > 0.0)).mean()),
                    "model": str(g["model"].iloc[0])})
    return out


__all__ = ["ColdStartConfig", "cold_start_config", "run_cold_start", "summarize", "wilson", "cold_start_verdict",
           "SUMMARY_COLUMNS"]


def cold_start_verdict(summary) -> dict:
    """The cold-start claim on a real pretrained model, from a summary table (`summarize` rows or
    the summary CSV as a DataFrame): "zero-shot, the code paradigm is valid more often than the
    direct one". Per N where the direct cell is testable: holds when the code share's 95 % Wilson
    interval lies above the direct one's; fails when it lies below; otherwise not shown. Over all
    N: holds if it holds at every testable N, fails if it fails at any, else not shown. `value`,
    `low`, `high`, `n`: the code valid share at the smallest testable N with its interval."""
    import pandas as pd

    df = pd.DataFrame(summary)
    code = df[df["paradigm"] == "code"].set_index("N")
    direct = df[df["paradigm"] == "direct"].set_index("N")
    per_n = {}
    for N in sorted(set(code.index) & set(direct.index)):
        c, d = code.loc[N], direct.loc[N]
        if not bool(d["testable"]):
            # the direct answer cannot fit the token cap: bounded by valid_upper only
            per_n[int(N)] = "holds" if c["valid_lo"] > d["valid_upper_hi"] else "not testable"
            continue
        per_n[int(N)] = ("holds" if c["valid_lo"] > d["valid_hi"] else
                         "fails" if c["valid_hi"] < d["valid_lo"] else "not shown")
    tested = [v for v in per_n.values() if v != "not testable"]
    verdict = ("fails" if "fails" in tested else "holds" if tested and all(v == "holds" for v in tested)
               else "not shown")
    first = min((N for N, v in per_n.items() if v != "not testable"), default=None)
    row = code.loc[first] if first is not None else None
    detail = "; ".join(
        f"N={N}: code {code.loc[N, 'valid']}/{code.loc[N, 'n']} vs direct {direct.loc[N, 'valid']}/{direct.loc[N, 'n']}"
        f" ({v})" for N, v in per_n.items())
    return {"verdict": verdict, "per_n": per_n, "N": first,
            "value": math.nan if row is None else float(row["valid_share"]),
            "low": math.nan if row is None else float(row["valid_lo"]),
            "high": math.nan if row is None else float(row["valid_hi"]),
            "n": 0 if row is None else int(row["n"]), "detail": detail}
