"""Pretraining of the embedded base model: corpus (corpus.py) → byte-level BPE tokenizer →
transformers `Trainer` causal-LM training → `save_pretrained` (config, tokenizer, safetensors).
"""
from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

from lsa.io import write_json
from lsa.policy.config import ModelConfig, PretrainConfig
from lsa.policy.corpus import build_corpus
from lsa.policy.logs import LM_COLUMNS, CsvLogCallback
from lsa.policy.models import build_model, n_parameters, prompt_record, train_tokenizer
from lsa.sim.params import NetworkConfig

#: written last into the base model directory (the workflow's completion marker)
PRETRAIN_DONE = "lsa_pretrain.json"


class _CausalCollator:
    """Right-pads input_ids/labels; labels −100 on padding (and on the prompt unless loss_on_prompt)."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, features):
        import torch

        width = max(len(f["input_ids"]) for f in features)
        ids = torch.full((len(features), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(features), width), -100, dtype=torch.long)
        mask = torch.zeros((len(features), width), dtype=torch.long)
        for row, f in enumerate(features):
            n = len(f["input_ids"])
            ids[row, :n] = torch.tensor(f["input_ids"])
            labels[row, :n] = torch.tensor(f["labels"])
            mask[row, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def tokenize_pairs(pairs, tokenizer, max_length: int, loss_on_prompt: bool = False) -> list[dict]:
    out = []
    eos = tokenizer.eos_token_id
    for pair in pairs:
        p = tokenizer(pair["prompt"], add_special_tokens=False)["input_ids"]
        c = tokenizer(pair["completion"], add_special_tokens=False)["input_ids"] + [eos]
        ids = (p + c)[:max_length]
        labels = (p if loss_on_prompt else [-100] * len(p)) + c
        out.append({"input_ids": ids, "labels": labels[:max_length]})
    return out


def pretrain(model_cfg: ModelConfig, pre: PretrainConfig, output_dir: str | Path, log_csv: str | Path | None = None,
             network: NetworkConfig | None = None, progress: bool = True) -> dict:
    """Build corpus, tokenizer and model; train; save into `output_dir` (loss log: `log_csv`,
    default `output_dir/pretrain_log.csv`). Returns a summary dict."""
    import torch
    from transformers import Trainer, TrainingArguments

    if pre.torch_threads:
        torch.set_num_threads(pre.torch_threads)
    t_start = time.perf_counter()
    out_dir = Path(output_dir)
    log_csv = Path(log_csv) if log_csv else out_dir / "pretrain_log.csv"
    # pass 1: prompts budgeted with the whitespace counter, to learn the vocabulary
    draft = build_corpus(min(pre.n_programs, 4000), min(pre.n_instances, 120), pre.instance_n, pre.instance_k,
                         seed=pre.seed + 7919, tokenizer=None, prompt_max_tokens=model_cfg.prompt_max_tokens,
                         direct_share=pre.direct_share, network=network, progress=progress,
                         vocabulary=model_cfg.vocabulary)
    texts = [d["prompt"] for d in draft[:400]] + [d["completion"] for d in draft]
    tokenizer = train_tokenizer(texts, vocab_size=model_cfg.vocab_size)
    tokenizer.model_max_length = model_cfg.max_position_embeddings
    # pass 2: the real corpus, prompts budgeted with the model's own tokenizer
    pairs = build_corpus(pre.n_programs, pre.n_instances, pre.instance_n, pre.instance_k, seed=pre.seed,
                         tokenizer=tokenizer, prompt_max_tokens=model_cfg.prompt_max_tokens,
                         direct_share=pre.direct_share, network=network, progress=progress,
                         vocabulary=model_cfg.vocabulary)
    data = tokenize_pairs(pairs, tokenizer, model_cfg.max_position_embeddings, pre.loss_on_prompt)
    model = build_model(model_cfg.size, tokenizer, model_cfg.max_position_embeddings, seed=pre.seed)
    work_dir = out_dir.parent / f".{out_dir.name}-trainer"
    args = TrainingArguments(
        output_dir=str(work_dir), per_device_train_batch_size=pre.batch_size, num_train_epochs=pre.epochs,
        max_steps=pre.max_steps, learning_rate=pre.learning_rate, weight_decay=pre.weight_decay,
        lr_scheduler_type="cosine", warmup_steps=0.03, logging_steps=pre.logging_steps, save_strategy="no",
        report_to=[], disable_tqdm=not progress, seed=pre.seed, use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0, remove_unused_columns=False)
    log_cb = CsvLogCallback(log_csv, LM_COLUMNS, extra={"size": model_cfg.size})
    trainer = Trainer(model=model, args=args, train_dataset=data, data_collator=_CausalCollator(tokenizer.pad_token_id),
                      callbacks=[log_cb])
    result = trainer.train()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    n_tokens = sum(len(d["input_ids"]) for d in data)
    info = {"output_dir": str(out_dir), "size": model_cfg.size, "parameters": n_parameters(model),
            "vocab_size": len(tokenizer), "corpus_pairs": len(data), "corpus_tokens": n_tokens,
            "steps": result.global_step, "final_loss": float(log_cb.rows[-1]["loss"]) if log_cb.rows else None,
            "train_s": round(time.perf_counter() - t_start, 1), "pretrain": asdict(pre), "prompt": prompt_record(model_cfg)}
    write_json(out_dir / PRETRAIN_DONE, info)
    return info
