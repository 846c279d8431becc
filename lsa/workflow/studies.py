"""Workflow studies that are neither training nor the baseline evaluation: the prompt-length study,
the evaluation of every trained policy under the protocol, and tidy copies of training logs.

Each function takes a loaded config slice (see `lsa.workflow.stages`) and the paths it needs as
arguments, and returns a tidy table; the stage notebooks write it with `provenance.write_table`.
"""
from __future__ import annotations

import itertools
import json
import struct
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from lsa.errors import ConfigError
from lsa.methods.evaluate import evaluate
from lsa.policy.prompt_coverage import TOP_ITEMS, coverage
from lsa.policy.serializer import load_tokenizer, serialize, serialize_naive
from lsa.sim.generate import generate_ppp
from lsa.sim.params import network_config
from lsa.workflow.provenance import write_table
from lsa.workflow.sections import PromptStudy


def prompt_length_study(config: dict, tokenizer_dir: str | Path | None = None, progress: bool = True) -> pd.DataFrame:
    """Prompt tokens of the hierarchical serialization (with its token budget) and of the naive full
    serialization (up to N = `naive_max_n` if given: it grows with N and takes long to tokenise), for
    every N x regime x seed of `prompt_study`, counted with the tokenizer in `tokenizer_dir` (None:
    the regex counter).

    Columns: instance, N, K, regime, seed, serializer (hierarchical | naive), tokens, max_tokens,
    within_budget, chars, tokenizer; and what the hierarchical prompt keeps
    (`lsa.policy.prompt_coverage`): top_pairs, top_pairs_named (of the instance's TOP_ITEMS strongest
    interferer pairs), top_links, top_links_named (of its most-interfered links); the naive prompt
    names everything, so these are empty on its rows.
    """
    study = PromptStudy.from_mapping(config.get("prompt_study"))   # omitted keys: PromptStudy's defaults
    params = network_config(config)
    tokenizer = load_tokenizer(str(tokenizer_dir)) if tokenizer_dir else None
    # max_tokens: else model.prompt_max_tokens, the budget the policy is trained with, else 1024
    max_tokens = int(study.max_tokens or (config.get("model") or {}).get("prompt_max_tokens") or 1024)
    grid = list(itertools.product(study.N, study.regimes, study.seeds))
    rows = []
    for n, regime, seed in tqdm(grid, desc="prompt length", disable=not progress):
        net = generate_ppp(int(n), int(study.K), regime, int(seed), params)
        # both counted with the policy's own tokenizer, on the final text
        prompts = [("hierarchical", serialize(net, max_tokens, tokenizer=tokenizer))]
        if study.naive_max_n is None or n <= study.naive_max_n:
            prompts.append(("naive", serialize_naive(net, tokenizer=tokenizer)))
        kept = coverage(net, prompts[0][1].text, TOP_ITEMS)
        for name, prompt in prompts:
            info = ({"top_pairs": kept.pairs_top, "top_pairs_named": kept.pairs_named, "top_links": kept.links_top,
                     "top_links_named": kept.links_named} if name == "hierarchical" else {})
            rows.append({"instance": f"{regime}-N{n}-K{study.K}-s{seed}", "N": int(n), "K": int(study.K),
                         "regime": regime, "seed": int(seed), "serializer": name, "tokens": int(prompt.tokens),
                         "max_tokens": max_tokens, "within_budget": int(prompt.tokens) <= max_tokens,
                         "chars": len(prompt.text), "tokenizer": str(tokenizer_dir or "default"), **info})
    return pd.DataFrame(rows)


def count_parameters(model_dir: str | Path) -> int | None:
    """Parameter count from the safetensors header(s) of a saved model, without loading it."""
    total = 0
    for f in sorted(Path(model_dir).glob("*.safetensors")):
        with open(f, "rb") as fh:
            (size,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(size))
        for key, meta in header.items():
            if key != "__metadata__":
                n = 1
                for d in meta["shape"]:
                    n *= d
                total += n
    return total or None


def with_models(config: dict, models: dict[str, str | Path]) -> dict:
    """`config` with each method of `models` (method -> model file or directory) given that model."""
    ev = dict(config["evaluation"])
    params = {name: dict(values) for name, values in (ev.get("method_params") or {}).items()}
    for method, model in models.items():
        params[method] = {**params.get(method, {}), "model": str(model)}
    return {**config, "evaluation": {**ev, "method_params": params}}


def evaluate_policies(config: dict, models: dict[str, str | Path], progress: bool = True,
                      runs: list[str] | None = None) -> pd.DataFrame:
    """Every policy run of the slice (`policies`: run -> policy family, train_seed, model_size, grid)
    as `lsa-code` with its model (`models`: run -> directory), on the evaluation grid (the main
    family: paired with the baselines per instance and budget) or the family grid; one tidy table
    with the columns of `evaluate` and `policy` (family), `train_seed`, `run`, `model_size`,
    `n_params`, and the training grid of the GRPO runs (`train_n_max`, `train_regimes`). `runs`: only
    these policy runs (one workflow job each; `gather_policies` joins their tables)."""
    ev = dict(config["evaluation"])
    grids = {"evaluation": ev["instances"], "family": config.get("family_instances") or ev["instances"]}
    policies = dict(config.get("policies") or {})
    unknown = sorted(set(runs or []) - set(policies))
    if unknown:
        raise ConfigError(f"the LLM evaluation slice has no policy run(s) {', '.join(unknown)}")
    policies = {run: meta for run, meta in policies.items() if runs is None or run in runs}
    missing = sorted(set(policies) - set(models))
    if missing:
        raise ConfigError(f"no model directory given for the policy run(s) {', '.join(missing)}")
    frames = []
    for run, meta in policies.items():
        params = dict(ev.get("method_params") or {})
        # the policy sees prompts with the budget it was trained with, and the profile's inference settings
        params["lsa-code"] = {**params.get("lsa-code", {}), "model": str(models[run]),
                              "inference": dict(config.get("inference") or {}),
                              "prompt_max_tokens": (config.get("model") or {}).get("prompt_max_tokens")}
        cfg = {**config, "evaluation": {**ev, "instances": grids[meta["grid"]], "method_params": params,
                                        "methods": ["lsa-code"]}}
        df = evaluate(cfg, methods=["lsa-code"], progress=progress)
        frames.append(df.assign(policy=meta["policy"], train_seed=meta.get("train_seed"), run=run,
                                model_size=meta.get("model_size"), n_params=count_parameters(models[run])))
    if not frames:
        raise ConfigError("the LLM evaluation slice names no policy run")
    return _with_training_grid(pd.concat(frames, ignore_index=True, sort=False), config)


#: columns `evaluate_policies` adds to the whole table (not per policy run)
_GRID_COLUMNS = ("train_n_max", "train_regimes")


def _with_training_grid(table: pd.DataFrame, config: dict) -> pd.DataFrame:
    table = table.drop(columns=[c for c in _GRID_COLUMNS if c in table.columns])
    table["train_seed"] = table["train_seed"].astype("Int64")
    grid = config.get("train_grid") or {}
    table["train_n_max"] = max(grid["train_n"]) if grid.get("train_n") else None
    table["train_regimes"] = ",".join(grid["train_regimes"]) if grid.get("train_regimes") else None
    return table


def gather_policies(config: dict, tables: list[pd.DataFrame]) -> pd.DataFrame:
    """The tables of `evaluate_policies(..., runs=...)` jobs as the one table of `evaluate_policies` on
    the whole slice: every policy run from exactly one table, runs in the slice's order."""
    policies = list((config.get("policies") or {}))
    seen = [sorted(set(t["run"])) for t in tables if len(t)]
    runs = [run for group in seen for run in group]
    if sorted(runs) != sorted(policies):
        raise ConfigError(f"the LLM evaluation tables hold the runs {sorted(runs)}, the slice has {sorted(policies)}")
    table = pd.concat([t for t in tables if len(t)], ignore_index=True, sort=False)
    order = table["run"].map({run: i for i, run in enumerate(policies)})
    table = table.iloc[order.argsort(kind="stable")].reset_index(drop=True)
    return _with_training_grid(table.drop(columns=[c for c in _GRID_COLUMNS if c in table.columns]), config)


def export_log(source: str | Path, output: str | Path, config: dict | None = None,
               config_path: str | Path | None = None, **extra) -> pd.DataFrame:
    """Copy a training log (rewritten by the trainer while it runs) to its tidy results file, with
    a provenance sidecar; a trainer that left no log is an error naming the file."""
    source = Path(source)
    if not source.is_file():
        raise FileNotFoundError(f"training log not found: {source} (did the training stage finish?)")
    df = pd.read_csv(source)
    write_table(df, output, config, config_path, source=str(source), **extra)
    return df


__all__ = ["prompt_length_study", "evaluate_policies", "gather_policies", "with_models", "count_parameters", "export_log"]
