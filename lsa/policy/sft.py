"""SFT warm start of the direct paradigm (TRL `SFTTrainer`) on the exact optima of small instances."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from lsa.io import write_json
from lsa.methods import exact
from lsa.methods.protocol import Anytime
from lsa.policy.config import ModelConfig, SFTConfig
from lsa.policy.logs import LM_COLUMNS, CsvLogCallback
from lsa.policy.models import load_policy, prompt_record
from lsa.policy.train import prompt_for, training_instances
from lsa.sim.params import NetworkConfig

#: written last into the SFT model directory (the workflow's completion marker)
SFT_DONE = "lsa_sft.json"


def exact_optimum(net, budget_s: float = 2.0) -> np.ndarray:
    """The optimum by branch and bound; when it cannot prove one within the budget, by enumeration."""
    run = Anytime(net, budget_s)
    info = exact.solve(net, run, np.random.default_rng(0)) or {}
    if info.get("optimal") and run.best_assignment is not None:
        return run.best_assignment
    return exact.brute_force(net, max_assignments=2_000_000)[0]


def train_sft(model_cfg: ModelConfig, sft: SFTConfig, base_model: str | Path | None, output_dir: str | Path,
              log_csv: str | Path | None = None, network: NetworkConfig | None = None) -> dict:
    """SFTTrainer on (direct prompt, exact optimal channel list) pairs; saves into `output_dir`."""
    import torch
    from datasets import Dataset
    from trl import SFTConfig as TRLSFTConfig
    from trl import SFTTrainer

    t_start = time.perf_counter()
    out_dir = Path(output_dir)
    log_csv = Path(log_csv) if log_csv else out_dir / "sft_log.csv"
    policy = load_policy(str(base_model) if base_model else model_cfg.name_or_path, dtype=model_cfg.dtype)
    nets = training_instances(sft.n_instances, sft.instance_n, sft.instance_k,
                              ["sparse", "dense", "ultra-dense"], seed=sft.seed + 50_000, network=network)
    rows = {"prompt": [], "completion": []}
    for net in nets:
        rows["prompt"].append(prompt_for(net, "direct", policy.tokenizer, model_cfg))
        best = exact_optimum(net, sft.exact_budget_s)
        rows["completion"].append("[" + ", ".join(str(int(c)) for c in best) + "]")
    t_targets = time.perf_counter() - t_start
    args = TRLSFTConfig(output_dir=str(out_dir / "trainer"), num_train_epochs=sft.epochs,
                        max_steps=sft.max_steps, per_device_train_batch_size=sft.batch_size,
                        learning_rate=sft.learning_rate, logging_steps=5, save_strategy="no", report_to=[],
                        seed=sft.seed, use_cpu=not torch.cuda.is_available(), completion_only_loss=True,
                        max_length=model_cfg.max_position_embeddings, packing=False, dataset_num_proc=None)
    log_cb = CsvLogCallback(log_csv, LM_COLUMNS)
    policy.tokenizer.padding_side = "right"
    trainer = SFTTrainer(model=policy.model, args=args, train_dataset=Dataset.from_dict(rows),
                         processing_class=policy.tokenizer, callbacks=[log_cb])
    result = trainer.train()
    policy.tokenizer.padding_side = "left"
    trainer.save_model(str(out_dir))
    policy.tokenizer.save_pretrained(out_dir)
    info = {"output_dir": str(out_dir), "instances": len(nets), "steps": result.global_step,
            "targets_s": round(t_targets, 1), "train_s": round(time.perf_counter() - t_start, 1),
            "final_loss": float(log_cb.rows[-1]["loss"]) if log_cb.rows else None, "prompt": prompt_record(model_cfg)}
    write_json(out_dir / SFT_DONE, info)
    return info
