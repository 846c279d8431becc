"""The primitives-only arm (issue 19's ablation): a policy pretrained and GRPO-trained like `main`
but with `model.vocabulary: primitives` (no complete search: local_search, ils, anneal, tabu_search,
restarts), evaluated as `lsa-code` on the instances of `workflow.primitives.instances`.

`evaluate_arm` runs it (lsa.workflow.studies.evaluate_policies: the LLM evaluation's settings) and
adds `share_of_best_known` against the best-known table raised to every evaluated utility, as the
figures read every other table; `program_census` records what its programs call: its seed programs
(run first by lsa-code on every instance) and programs sampled on every evaluated instance's prompt.
"""
from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pandas as pd

from lsa.errors import ConfigError
from lsa.policy.models import recorded_vocabulary
from lsa.policy.vocabulary import COMPLETE_SEARCHES, complete_searches_in, net_calls
from lsa.workflow.best_known import raise_to_evaluated, with_share
from lsa.workflow.figures.data import _not_refused
from lsa.workflow.studies import evaluate_policies

#: the census table's columns (one row per program: a seed program or a sampled one)
CENSUS_COLUMNS = ["origin", "rank", "instance", "N", "K", "regime", "seed", "parses", "calls", "complete_searches",
                  "reward", "r_perf", "program"]


def with_limit(table: pd.DataFrame, best_known: pd.DataFrame, others: list[pd.DataFrame]) -> pd.DataFrame:
    """`table` with `best_known`, `best_known_proven` and `share_of_best_known`: the best-known table
    raised to every evaluated utility above it (`others`: the baseline and LLM evaluations, and
    `table` itself), the yardstick the figures hold every method to."""
    rows = _not_refused(pd.concat([*others, table], ignore_index=True, sort=False))
    best, _ = raise_to_evaluated(best_known, rows)
    return with_share(table, best)


def evaluate_arm(config: dict, model_dir: str | Path, best_known: pd.DataFrame, others: list[pd.DataFrame],
                 progress: bool = True) -> pd.DataFrame:
    """The arm's policy as lsa-code on the slice's instances (columns of `evaluate_policies`,
    `vocabulary`, `programs_outside_vocabulary`, and the share of best-known)."""
    if (config.get("model") or {}).get("vocabulary") != "primitives":
        raise ConfigError("the primitives evaluation slice must have model.vocabulary: primitives")
    runs = list(config.get("policies") or {})
    if len(runs) != 1:
        raise ConfigError(f"the primitives evaluation slice must name one policy run, got {runs}")
    recorded = recorded_vocabulary(model_dir)
    if recorded != "primitives":   # lsa-code holds a policy to the vocabulary recorded with it
        raise ConfigError(f"{model_dir}: the policy records model.vocabulary {recorded!r}, not 'primitives' "
                          "(the arm's policy is trained by the grpo_primitives rule)")
    table = evaluate_policies(config, {runs[0]: str(model_dir)}, progress=progress)
    table["vocabulary"] = recorded
    table["programs_outside_vocabulary"] = table.get("programs_outside_vocabulary", 0)
    return with_limit(table, best_known, others)


def _grid(config: dict) -> list[tuple[int, int, str, int]]:
    """(N, K, regime, seed) of every instance of the slice's grids, in grid order."""
    out = []
    for grid in (config.get("evaluation") or {}).get("instances") or []:
        out += [(int(n), int(grid["K"]), r, int(s)) for n in grid["N"] for r in grid["regimes"] for s in grid["seeds"]]
    return list(dict.fromkeys(out))


def _row(origin: str, rank: int, source: str | None, **extra) -> dict:
    return {"origin": origin, "rank": rank, "parses": source is not None and _parses(source),
            "calls": ";".join(net_calls(source or "")), "complete_searches": ";".join(complete_searches_in(source or "")),
            "program": source, **extra}


def _parses(source: str) -> bool:
    try:
        ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    return True


def program_census(config: dict, model_dir: str | Path, samples: int | None = None, progress: bool = True,
                   seed: int = 0) -> pd.DataFrame:
    """What the arm's programs call: its recorded seed programs (origin `seed`, best first, with
    their training reward) and `samples` programs sampled (the inference settings) on the prompt of
    every instance of the slice (origin `sampled`). Columns CENSUS_COLUMNS; `calls`: the net methods
    a program calls, each once, `;`-separated; `complete_searches`: those among
    COMPLETE_SEARCHES (empty for every program the arm may run)."""
    from tqdm.auto import tqdm

    from lsa.policy.config import InferenceConfig
    from lsa.policy.inference import sample_completions
    from lsa.policy.models import load_policy
    from lsa.policy.prompts import code_prompt, program_source
    from lsa.policy.seeds import SEED_PROGRAMS_FILE
    from lsa.sim.generate import generate_ppp
    from lsa.sim.params import network_config

    samples = int(config.get("census_samples", 8) if samples is None else samples)
    record_path = Path(model_dir) / SEED_PROGRAMS_FILE
    record = json.loads(record_path.read_text()) if record_path.is_file() else {"programs": []}
    rows = [_row("seed", i, p["source"], reward=p.get("reward"), r_perf=p.get("r_perf"))
            for i, p in enumerate(record.get("programs") or [])]
    if samples:
        model = config.get("model") or {}
        policy = load_policy(str(model_dir), dtype=model.get("dtype", "float32"))
        cfg = InferenceConfig.from_mapping(config.get("inference") or {})
        rng = np.random.default_rng(seed)
        params = network_config(config)
        budget = policy.prompt_max_tokens or model.get("prompt_max_tokens") or 256
        for n, k, regime, s in tqdm(_grid(config), desc="program census", disable=not progress):
            net = generate_ppp(n, k, regime, s, params)
            prompt = code_prompt(net, tokenizer=policy.tokenizer, max_tokens=int(budget), api_doc=policy.api_doc,
                                 vocabulary=policy.vocabulary)
            texts = sample_completions(policy, prompt, samples, cfg.max_new_tokens, cfg, 120.0, rng)
            rows += [_row("sampled", i, program_source(t), instance=f"{regime}-N{n}-K{k}-s{s}", N=n, K=k,
                          regime=regime, seed=s) for i, t in enumerate(texts)]
    return pd.DataFrame(rows, columns=CENSUS_COLUMNS)


def call_counts(census: pd.DataFrame, origin: str | None = None) -> pd.Series:
    """How many programs (of `origin`, else all) call each net method, most called first."""
    rows = census if origin is None else census[census["origin"] == origin]
    calls = rows["calls"].fillna("").astype(str).str.split(";").explode()
    return calls[calls != ""].value_counts()


__all__ = ["CENSUS_COLUMNS", "COMPLETE_SEARCHES", "with_limit", "evaluate_arm", "program_census", "call_counts"]
