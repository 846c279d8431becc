"""LoRA-GRPO of a real pretrained chat model on the CPU (the `lora_grpo:` section of a profile):
the named offline model `smollm2-135m` (or any HF id / local folder) gets a peft LoRA adapter and
is trained with TRL's GRPOTrainer on our rewards and sandbox (`train.train_grpo`, the same code as
the embedded policy's runs). The trained adapter is then evaluated under the time-bounded protocol
against classical methods on the same instances and budgets (`lsa.workflow.lora`).

The section is self-contained: `model:` and `grpo:` are full `ModelConfig` / `GRPOConfig` mappings
(their defaults where a key is absent), `inference:` the settings `lsa-code` runs the adapter with,
`evaluation:` the instance grid, the classical methods beside it and the budgets. `enabled: false`
(or no section at all) switches the stage off in a profile.
"""
from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from pathlib import Path

from lsa.config import Section, option, section
from lsa.errors import ConfigError
from lsa.policy.config import GRPOConfig, InferenceConfig, ModelConfig

#: the run name of the LoRA-GRPO stage: its per-step log is results/training/grpo-<LORA_RUN>.csv,
#: beside the embedded policy's runs (never a `workflow.grpo_runs` name)
LORA_RUN = "lora-llm"
#: the `policy` column of the adapter's rows in the LoRA evaluation table
LORA_POLICY = "lora-grpo"


@dataclass(frozen=True)
class LoraGRPOConfig(Section):
    """LoRA-GRPO of a real pretrained chat model, and the evaluation of its adapter (`lsa lora-grpo`,
    `lsa lora-eval`)."""

    SECTION = "lora_grpo"

    enabled: bool = option(True, "Run the stage in the workflow (false: the profile has no LoRA-GRPO stage).")
    model: dict = option({"name_or_path": "smollm2-135m", "lora": True},
                         "The model: section of the run (lsa/policy/config.py ModelConfig; lora must be true).")
    grpo: dict = option({}, "The grpo: section of the run (GRPOConfig; paradigm code).")
    inference: dict = option({}, "How lsa-code runs the adapter in the evaluation (InferenceConfig).")
    evaluation: dict = option(
        {"instances": [{"N": [200, 2000], "K": 8, "regimes": ["dense"], "seeds": [0, 1, 2],
                        "budgets_s": [2.0, 5.0, 30.0]}], "methods": ["greedy", "local-search"]},
        "The evaluation of the adapter (an evaluation: section: instances, budgets_s, threads, workers); "
        "methods: the classical methods run beside it on the same instances and budgets.")

    def check(self) -> None:
        model, grpo = self.model_config, self.grpo_config
        _built(InferenceConfig, self.inference, "lora_grpo.inference")
        if not model.lora or not model.name_or_path:
            self.fail("model.lora must be true and model.name_or_path a pretrained model (named, HF id or folder)")
        if grpo.paradigm != "code":
            self.fail(f"grpo.paradigm must be code, got {grpo.paradigm!r}")
        if not isinstance(self.evaluation, dict) or not self.evaluation.get("instances"):
            self.fail("evaluation must be a mapping with instances (an evaluation: section)")
        if "lsa-code" in (self.evaluation.get("methods") or []):
            self.fail("evaluation.methods lists the classical methods beside the adapter, not lsa-code")

    @property
    def model_config(self) -> ModelConfig:
        return _built(ModelConfig, self.model, "lora_grpo.model")

    @property
    def grpo_config(self) -> GRPOConfig:
        return _built(GRPOConfig, self.grpo, "lora_grpo.grpo")

    def with_overrides(self, model: str | None = None, max_steps: int | None = None,
                       bf16: bool | None = None) -> "LoraGRPOConfig":
        """The section with the command line's overrides: another model (HF id or folder), fewer or
        more steps, bfloat16 (weights and mixed precision, a GPU)."""
        m, g = dict(self.model), dict(self.grpo)
        if model:
            m["name_or_path"] = model
        if max_steps is not None:
            g["max_steps"] = int(max_steps)
        if bf16:
            m["dtype"], g["bf16"] = "bfloat16", True
        return dataclasses.replace(self, model=m, grpo=g)


def _built(cls, values, where: str):
    try:
        return cls.from_mapping(values, where)
    except ConfigError as exc:
        message = " ".join(str(exc).split())
        raise ConfigError(message if where in message else f"{where}: {message}") from None


def lora_grpo_config(config: dict | None) -> LoraGRPOConfig | None:
    """The profile's `lora_grpo:` section, validated; None when it is absent or `enabled: false`."""
    if not config or config.get("lora_grpo") is None:
        return None
    cfg = section(config, LoraGRPOConfig)
    return cfg if cfg.enabled else None


def train_lora_grpo(cfg: LoraGRPOConfig, run_dir: str | Path, network=None, callbacks=None) -> dict:
    """LoRA-GRPO from `cfg.model` into `run_dir` (checkpoints, the in-run log train_log.csv, and
    final/: the adapter, its tokenizer, its seed programs and lsa_train.json); resumes from the last
    checkpoint there. Returns `train_grpo`'s summary."""
    from lsa.policy.train import train_grpo

    return train_grpo(cfg.model_config, cfg.grpo_config, None, run_dir, network=network, callbacks=callbacks)


def install_adapter(final_dir: str | Path, dest: str | Path, marker: str) -> Path:
    """Copy a finished run's final/ (adapter, tokenizer, records) to `dest`, replacing it whole: the
    copy is written beside it and renamed, `marker` (the completion record) last."""
    final_dir, dest = Path(final_dir), Path(dest)
    if not (final_dir / marker).is_file():
        raise FileNotFoundError(f"no finished run in {final_dir} ({marker} is absent)")
    tmp = dest.parent / f".{dest.name}.part"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(final_dir, tmp, ignore=shutil.ignore_patterns("training_args.bin", "checkpoint-*", marker))
    shutil.copy2(final_dir / marker, tmp / marker)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return dest


__all__ = ["LoraGRPOConfig", "lora_grpo_config", "train_lora_grpo", "install_adapter", "LORA_RUN", "LORA_POLICY"]
