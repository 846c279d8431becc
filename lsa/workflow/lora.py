"""The LoRA-GRPO stage of the workflow (`lora_grpo:`, lsa.policy.lora_grpo): train the adapter and
put its per-step log beside the embedded policy's (results/training/grpo-lora-llm.csv) and the
adapter under results/models/; then evaluate the adapter as `lsa-code` under the time-bounded
protocol with `lsa.methods.evaluate.evaluate` — the same harness, instances and budgets as the
classical methods it is compared with, which run in the same call (results/lora_evaluation.csv).

`lsa lora-grpo` and `lsa lora-eval` call `train_stage` and `evaluate_stage`; so does the Snakefile
(through them) and tests/test_lora_grpo.py.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from lsa.errors import ConfigError
from lsa.methods.evaluate import check_evaluation, evaluate
from lsa.policy.lora_grpo import (
    LORA_POLICY,
    LORA_RUN,
    LoraGRPOConfig,
    install_adapter,
    lora_grpo_config,
    train_lora_grpo,
)
from lsa.policy.models import resolve_model_path
from lsa.policy.train import TRAIN_DONE
from lsa.sim.params import network_config
from lsa.workflow.provenance import write_table
from lsa.workflow.studies import count_parameters, export_log

#: the policy method the adapter runs as
POLICY_METHOD = "lsa-code"


def stage_config(config: dict, **overrides) -> LoraGRPOConfig:
    """The profile's (or slice's) enabled `lora_grpo:` section with the command line's overrides
    (`LoraGRPOConfig.with_overrides`); a profile without one is a ConfigError saying so."""
    cfg = lora_grpo_config(config)
    if cfg is None:
        raise ConfigError("the config has no enabled lora_grpo: section (see config/default.yaml)")
    return cfg.with_overrides(**overrides) if any(v is not None for v in overrides.values()) else cfg


def train_stage(config: dict, run_dir: str | Path, log_output: str | Path, adapter_output: str | Path,
                config_path: str | Path | None = None, **overrides) -> dict:
    """Train (or resume) the LoRA-GRPO run in `run_dir`, then write its per-step log to `log_output`
    (with a provenance sidecar) and install the adapter at `adapter_output` (its completion record
    lsa_train.json written last). Returns the training summary."""
    cfg = stage_config(config, **overrides)
    info = train_lora_grpo(cfg, run_dir, network=network_config(config))
    export_log(Path(run_dir) / "train_log.csv", log_output, {"lora_grpo": cfg.to_dict()}, config_path,
               run=LORA_RUN, base_model=cfg.model_config.name_or_path, steps=info["steps"], train_s=info["train_s"])
    install_adapter(Path(run_dir) / "final", adapter_output, TRAIN_DONE)
    return info


def evaluation_config(config: dict, adapter: str | Path, cfg: LoraGRPOConfig | None = None) -> dict:
    """The `network:` + `evaluation:` config that runs the adapter (lsa-code) and the section's
    classical methods on the same instances and budgets; checked like any evaluation."""
    cfg = cfg or stage_config(config)
    ev = dict(cfg.evaluation)
    methods = [POLICY_METHOD, *(ev.get("methods") or ["greedy", "local-search"])]
    params = {k: dict(v) for k, v in (ev.get("method_params") or {}).items()}
    params[POLICY_METHOD] = {**params.get(POLICY_METHOD, {}), "model": str(adapter), "inference": dict(cfg.inference),
                             "prompt_max_tokens": cfg.model_config.prompt_max_tokens}
    instances = [{k: v for k, v in g.items() if k != "methods"} for g in ev["instances"]]
    out = {"network": dict(config.get("network") or {}),
           "evaluation": {**ev, "instances": instances, "methods": methods, "method_params": params}}
    check_evaluation(out, methods)
    return out


def adapter_record(adapter: str | Path) -> dict:
    """What the adapter's directory says about its training (lsa_train.json) and its base model."""
    adapter = Path(adapter)
    record = json.loads((adapter / TRAIN_DONE).read_text()) if (adapter / TRAIN_DONE).is_file() else {}
    peft = adapter / "adapter_config.json"
    base = json.loads(peft.read_text()).get("base_model_name_or_path") if peft.is_file() else None
    return {"train_steps": record.get("steps"), "base_model": record.get("base_model") or base, "base_dir": base}


def evaluate_stage(config: dict, adapter: str | Path, progress: bool = True) -> pd.DataFrame:
    """The adapter (lsa-code) and the classical methods under the protocol, one tidy table with the
    columns of `evaluate` and: policy (lora-grpo on the adapter's rows, else the method), run,
    base_model, n_params (the base model's), adapter_params, train_steps."""
    cfg = stage_config(config)
    adapter = Path(adapter)
    if not (adapter / "adapter_config.json").is_file():
        raise ConfigError(f"no LoRA adapter at {adapter} (adapter_config.json is absent; run `lsa lora-grpo` first)")
    table = evaluate(evaluation_config(config, adapter, cfg), progress=progress)
    record = adapter_record(adapter)
    base = record["base_dir"] or resolve_model_path(cfg.model_config.name_or_path)
    policy = table["method"] == POLICY_METHOD
    table["policy"] = table["method"].where(~policy, LORA_POLICY)
    table["run"] = pd.Series(LORA_RUN, index=table.index).where(policy)
    table["base_model"] = pd.Series(record["base_model"] or cfg.model_config.name_or_path, index=table.index).where(policy)
    table["n_params"] = pd.Series(count_parameters(base) if Path(str(base)).is_dir() else None,
                                  index=table.index, dtype="Int64").where(policy)
    table["adapter_params"] = pd.Series(count_parameters(adapter), index=table.index, dtype="Int64").where(policy)
    table["train_steps"] = pd.Series(record["train_steps"], index=table.index, dtype="Int64").where(policy)
    return table


def write_evaluation(table: pd.DataFrame, output: str | Path, config: dict, config_path=None, **extra) -> Path:
    return write_table(table, output, config, config_path, **extra)


__all__ = ["train_stage", "evaluate_stage", "evaluation_config", "stage_config", "adapter_record", "write_evaluation",
           "POLICY_METHOD"]
