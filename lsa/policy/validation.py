"""Which weights a GRPO run ships: the best by a held-out validation reward measured during training.

Every `grpo.validation_every` steps (and at the last step) a `TrainerCallback` samples
`grpo.validation_generations` programs on each of `grpo.validation_instances` held-out instances
(every (N, K, regime) cell of the training grid in turn; seeds disjoint from training and
evaluation), scores them with the training reward
R = λ1·R_struct + λ2·R_perf + λ3·R_depth (`rewards.RewardContext`) and keeps a CPU copy of the
trainable weights whenever the mean reward is a new best (ties: the earlier step). At the end the
run loads those weights back before `final/` is written, and records the choice with the whole
validation history in `lsa_train.json` (`shipped_checkpoint`).

Sampling uses a fixed torch seed inside `torch.random.fork_rng`, so every validation draws with the
same random numbers (checkpoints are compared on equal terms) and training's own sampling stream
is untouched. Each checkpoint-<step>/ also holds the history and the best weights so far, so a
resumed run continues with the same choice.
"""
from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import numpy as np

from lsa.io import atomic_path, write_json
from lsa.policy.config import INSTANCE_SEED_STRIDE, TRAIN_INSTANCE_SEED, GRPOConfig
from lsa.policy.rewards import RewardContext
from lsa.sim.generate import generate_ppp
from lsa.sim.params import NetworkConfig

#: files the callback adds to every Trainer checkpoint directory
HISTORY_FILE = "lsa_validation.json"
BEST_WEIGHTS_FILE = "lsa_validation_best.safetensors"
#: completions generated per generate() call
_BATCH = 32


def validation_instances(grpo: GRPOConfig, network: NetworkConfig | None = None) -> list:
    """The held-out validation instances of a run: every (N, K, regime) cell of the training grid in
    turn (`grpo.validation_instances` of them: with at least as many as cells, each cell is seen),
    with the training seed sequence continued past the training instances — never a training or an
    evaluation instance."""
    cells = list(itertools.product(grpo.train_n, grpo.train_k, grpo.train_regimes))
    first = TRAIN_INSTANCE_SEED + grpo.seed * INSTANCE_SEED_STRIDE + grpo.n_train_instances
    return [generate_ppp(N, K, regime, seed=first + j, params=network)
            for j, (N, K, regime) in zip(range(grpo.validation_instances), itertools.cycle(cells))]


def ValidationCallback(grpo: GRPOConfig, nets: list, prompts: list[str], tokenizer):
    """A transformers `TrainerCallback` that validates the policy on `nets` (prompts: `prompts`) and
    keeps the best weights; transformers is imported only when one is made."""
    from transformers import TrainerCallback

    class _Callback(Validation, TrainerCallback):
        pass

    return _Callback(grpo, nets, prompts, tokenizer)


class Validation:
    """The validation bookkeeping of `ValidationCallback` (the Trainer events it handles)."""

    def __init__(self, grpo: GRPOConfig, nets: list, prompts: list[str], tokenizer):
        if len(nets) != len(prompts) or not nets:
            raise ValueError("validation needs one prompt per validation instance (at least one)")
        self.grpo = grpo
        self.prompts = list(prompts)
        self.tokenizer = tokenizer
        self.instances = [{"N": int(n.N), "K": int(n.K), "regime": str(n.regime), "seed": n.meta.get("seed")}
                          for n in nets]
        self.ctx = RewardContext(nets, paradigm=grpo.paradigm, timeout_s=grpo.exec_timeout_s, workers=grpo.exec_workers,
                                 perf_clip=grpo.perf_clip, depth_free_nodes=grpo.depth_free_nodes,
                                 depth_scale_nodes=grpo.depth_scale_nodes, reference_methods=grpo.perf_reference,
                                 reference_budget_s=grpo.perf_reference_budget_s)
        self.history: list[dict] = []
        self.best: dict | None = None          # the history entry whose weights are kept
        self.best_weights: dict | None = None  # parameter name -> CPU tensor (trainable parameters)

    # ---------------------------------------------------------------- Trainer events
    def on_step_end(self, args, state, control, model=None, **kwargs):
        step = state.global_step
        if step > 0 and (step % self.grpo.validation_every == 0 or step >= state.max_steps):
            self.validate(model, step)

    def on_save(self, args, state, control, **kwargs):
        """Store the history and the best weights in the checkpoint just written (for a resume)."""
        checkpoint = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if checkpoint.is_dir():
            self.save(checkpoint)

    # ---------------------------------------------------------------- validation
    def validate(self, model, step: int) -> dict:
        """Sample, run and score programs on the validation instances with the current weights;
        keep them if their mean reward is a new best. Returns the history entry."""
        t0 = time.perf_counter()
        texts, index = self.sample(model)
        outcomes = self.ctx.outcomes(texts, index)
        g = self.grpo
        struct = np.array([o.struct for o in outcomes])
        perf = np.array([self.ctx.perf(o, i) for o, i in zip(outcomes, index)])
        depth = np.array([self.ctx.depth(o) for o in outcomes])
        reward = g.lambda_struct * struct + g.lambda_perf * perf + g.lambda_depth * depth
        entry = {"step": int(step), "reward": float(reward.mean()), "r_struct": float(struct.mean()),
                 "r_perf": float(perf.mean()), "r_depth": float(depth.mean()),
                 "valid_share": float(np.mean([o.valid for o in outcomes])),
                 "ok_share": float(np.mean([o.utility is not None for o in outcomes])),
                 "time_s": round(time.perf_counter() - t0, 3)}
        self.history.append(entry)
        if self.best is None or entry["reward"] > self.best["reward"]:
            self.best = entry
            self.best_weights = {name: p.detach().to("cpu", copy=True)
                                 for name, p in model.named_parameters() if p.requires_grad}
        return entry

    def sample(self, model) -> tuple[list[str], list[int]]:
        """`validation_generations` completions per validation prompt at the training temperature,
        with a fixed seed that leaves the global random state as it was."""
        import torch

        tok, g = self.tokenizer, self.grpo
        devices = [model.device.index or 0] if model.device.type == "cuda" else []
        index = [i for i in range(len(self.prompts)) for _ in range(g.validation_generations)]
        was_training = model.training
        model.eval()
        texts = []
        try:
            with torch.no_grad(), torch.random.fork_rng(devices=devices):
                torch.manual_seed(g.seed)
                for start in range(0, len(index), _BATCH):   # prompts differ in length: padded on the left
                    enc = tok([self.prompts[i] for i in index[start:start + _BATCH]], return_tensors="pt",
                              add_special_tokens=False, padding=True, padding_side="left").to(model.device)
                    out = model.generate(**enc, do_sample=True, temperature=g.temperature, top_k=0, top_p=1.0,
                                         max_new_tokens=g.max_completion_length, pad_token_id=tok.pad_token_id,
                                         eos_token_id=tok.eos_token_id)
                    texts += tok.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        finally:
            model.train(was_training)
        return texts, index

    # ---------------------------------------------------------------- the shipped weights
    def load_best(self, model) -> dict:
        """Put the best validated weights into `model` (before `final/` is written); returns the
        record for lsa_train.json."""
        import torch

        if self.best is None:
            raise RuntimeError("no validation ran: nothing to choose from")
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name in self.best_weights:
                    p.copy_(self.best_weights[name].to(p.device))
        return self.record()

    def record(self) -> dict:
        return {"step": self.best["step"], "selected_by": "validation_reward",
                "validation_reward": self.best["reward"], "validation_instances": self.instances,
                "validation_generations": self.grpo.validation_generations, "validation_history": list(self.history)}

    # ---------------------------------------------------------------- resume
    def save(self, directory: str | Path) -> None:
        from safetensors.torch import save_file

        directory = Path(directory)
        if self.best_weights is not None:
            with atomic_path(directory / BEST_WEIGHTS_FILE) as tmp:
                save_file({k: v.contiguous() for k, v in self.best_weights.items()}, str(tmp))
        write_json(directory / HISTORY_FILE, {"history": self.history, "best": self.best})

    def restore(self, checkpoint: str | Path) -> None:
        """Continue from what `save` stored in a checkpoint (nothing there: start afresh)."""
        from safetensors.torch import load_file

        checkpoint = Path(checkpoint)
        if not (checkpoint / HISTORY_FILE).is_file():
            return
        data = json.loads((checkpoint / HISTORY_FILE).read_text())
        self.history, self.best = list(data["history"]), data["best"]
        if self.best is not None:
            self.best_weights = load_file(str(checkpoint / BEST_WEIGHTS_FILE))


def last_step_record(step: int) -> dict:
    """lsa_train.json's record when validation is off: the last weights ship."""
    return {"step": int(step), "selected_by": "last_step", "validation_reward": None, "validation_history": []}


__all__ = ["ValidationCallback", "Validation", "validation_instances", "last_step_record", "HISTORY_FILE", "BEST_WEIGHTS_FILE"]
