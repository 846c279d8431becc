"""Workflow study drivers that are neither training nor the baseline evaluation: the prompt-length
study, the evaluation of every trained policy under the protocol, and tidy copies of training logs.

Each function takes a per-stage config slice (see `lsa.paths.stage_configs`) and writes one tidy CSV
with a provenance sidecar; the stage notebooks call them.
"""
from __future__ import annotations

import itertools
import json
import struct
from pathlib import Path

import pandas as pd

from lsa.config import load_yaml
from lsa.errors import ConfigError
from lsa.sim.params import network_config
from lsa.workflow.provenance import provenance, write_table

#: prompt-length study defaults (used when a profile's workflow.prompt_study omits a key)
#: (max_tokens defaults to model.prompt_max_tokens, the budget the policy is trained with, else 1024)
PROMPT_STUDY_DEFAULTS = {"N": [10, 100, 1000, 2000], "K": 8, "regimes": ["dense"], "seeds": [0]}


def _load(config_or_path) -> tuple[dict, str | None]:
    if isinstance(config_or_path, (str, Path)):
        return load_yaml(config_or_path), str(config_or_path)
    return dict(config_or_path), None


def prompt_length_study(config_or_path, output: str | Path | None = None, progress: bool = True) -> pd.DataFrame:
    """Prompt tokens of the hierarchical serialization (with its token budget) and of the naive full
    serialization, for every N x regime x seed of `prompt_study`, counted with the policy's tokenizer.

    Columns: instance, N, K, regime, seed, serializer (hierarchical | naive), tokens, max_tokens,
    within_budget, chars, tokenizer.
    """
    from tqdm.auto import tqdm

    from lsa.policy.serializer import load_tokenizer, serialize, serialize_naive
    from lsa.sim.generate import generate_ppp

    config, config_path = _load(config_or_path)
    study = {**PROMPT_STUDY_DEFAULTS, **(config.get("prompt_study") or {})}
    params = network_config(config)
    tokenizer = load_tokenizer(str(config["tokenizer"])) if config.get("tokenizer") else None
    max_tokens = int(study.get("max_tokens") or (config.get("model") or {}).get("prompt_max_tokens") or 1024)
    grid = list(itertools.product(study["N"], study["regimes"], study["seeds"]))
    if not grid:
        raise ConfigError("workflow.prompt_study: N, regimes and seeds must be non-empty")
    rows = []
    for n, regime, seed in tqdm(grid, desc="prompt length", disable=not progress):
        net = generate_ppp(int(n), int(study["K"]), regime, int(seed), params)
        # both counted with the policy's own tokenizer, on the final text
        for name, prompt in (("hierarchical", serialize(net, max_tokens, tokenizer=tokenizer)),
                             ("naive", serialize_naive(net, tokenizer=tokenizer))):
            text, tokens = prompt.text, int(prompt.tokens)
            rows.append({"instance": f"{regime}-N{n}-K{study['K']}-s{seed}", "N": int(n), "K": int(study["K"]),
                         "regime": regime, "seed": int(seed), "serializer": name, "tokens": tokens,
                         "max_tokens": max_tokens, "within_budget": tokens <= max_tokens, "chars": len(text),
                         "tokenizer": str(config.get("tokenizer") or "default")})
    df = pd.DataFrame(rows)
    out = output or config.get("output")
    if out:
        write_table(df, out, provenance(config, config_path, rows=len(df)))
    return df


def count_parameters(model_dir: str | Path) -> int | None:
    """Parameter count from the safetensors header(s) of a saved model, without loading it."""
    total = 0
    files = sorted(Path(model_dir).glob("*.safetensors"))
    for f in files:
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


def evaluate_policies(config_or_path, output: str | Path | None = None, progress: bool = True) -> pd.DataFrame:
    """Every policy of the slice (name → model dir) as `lsa-code` on the same instances and budgets,
    plus the reference methods once; one tidy table with the columns of `lsa evaluate` and
    `policy` (the reference rows carry the method name), `model_size`, `n_params`, and the training
    grid of the GRPO runs (`train_n_max`, `train_regimes`) for the generalisation figure."""
    from lsa.methods.evaluate import evaluate

    config, config_path = _load(config_or_path)
    ev = dict(config["evaluation"])
    policies = dict(config.get("policies") or {})
    sizes = dict(config.get("policy_sizes") or {})
    frames = []
    refs = list(ev.get("methods") or [])
    if refs:
        df = evaluate({**config, "evaluation": {**ev, "output": None}}, config_path, output=None,
                      methods=refs, progress=progress)
        df["policy"] = df["method"]
        frames.append(df)
    for name, model_dir in policies.items():
        params = dict(ev.get("method_params") or {})
        # the policy sees prompts with the budget it was trained with, and the profile's inference settings
        params["lsa-code"] = {**params.get("lsa-code", {}), "model": str(model_dir),
                              "inference": dict(config.get("inference") or {}),
                              "prompt_max_tokens": (config.get("model") or {}).get("prompt_max_tokens")}
        cfg = {**config, "evaluation": {**ev, "output": None, "method_params": params, "methods": ["lsa-code"]}}
        df = evaluate(cfg, config_path, output=None, methods=["lsa-code"], progress=progress)
        df["policy"] = name
        df["model_size"] = sizes.get(name)
        df["n_params"] = count_parameters(model_dir)
        frames.append(df)
    table = pd.concat(frames, ignore_index=True, sort=False)
    grid = config.get("train_grid") or {}
    table["train_n_max"] = max(grid["train_n"]) if grid.get("train_n") else None
    table["train_regimes"] = ",".join(grid["train_regimes"]) if grid.get("train_regimes") else None
    out = output or ev.get("output")
    if out:
        write_table(table, out, provenance(config, config_path, rows=len(table)))
    return table


def export_log(source: str | Path, output: str | Path, config_or_path=None, **extra) -> pd.DataFrame:
    """Copy a training log (rewritten by the trainer while it runs) to its tidy results file,
    with a provenance sidecar; raises if the trainer left no log."""
    source = Path(source)
    if not source.is_file():
        raise FileNotFoundError(f"training log not found: {source} (did the training stage finish?)")
    df = pd.read_csv(source)
    config, config_path = _load(config_or_path) if config_or_path is not None else (None, None)
    write_table(df, output, provenance(config, config_path, rows=len(df), source=str(source), **extra))
    return df
