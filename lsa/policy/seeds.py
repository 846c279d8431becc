"""Seed programs: a fixed set of programs recorded with a trained code policy, run first on every
instance so that an incumbent comes at once — the same programs for every instance.

After GRPO, the trained policy samples programs on prompts of its own training instances; each
distinct program runs in the sandbox on those instances and is scored with the training reward
(λ1·R_struct + λ2·R_perf + λ3·R_depth, so programs that offer early and beat greedy rank first).
The best few are written into the model directory (`SEED_PROGRAMS_FILE`) and travel with it.
Nothing here sees an evaluation instance, and nothing is learnt while evaluating: `lsa-code` reads
the file once when it loads the model and never writes it.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from lsa.errors import LSAError
from lsa.io import write_json

#: the file in a model directory that holds its seed programs
SEED_PROGRAMS_FILE = "lsa_seed_programs.json"
SEED_FORMAT = "lsa-seed-programs-v1"
#: a seed program must have offered a valid incumbent on every scoring instance (R_struct >= this)
MIN_STRUCT = 0.8


def load_seed_programs(model_dir: str | Path) -> list[str]:
    """The seed programs recorded in `model_dir`, best first ([] when it has none, e.g. a hub model)."""
    path = Path(model_dir) / SEED_PROGRAMS_FILE
    if not path.is_file():
        return []
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        programs = record["programs"]
        sources = [p["source"] for p in programs]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LSAError(f"{path}: not a seed-program record ({type(exc).__name__}: {exc})") from None
    if record.get("format") != SEED_FORMAT or not all(isinstance(s, str) and s for s in sources):
        raise LSAError(f"{path}: not a {SEED_FORMAT} record")
    return sources


def record_seed_programs(policy, ctx, prompts: list[str], out_dir: str | Path, *, keep: int = 4,
                         samples_per_prompt: int = 8, max_new_tokens: int = 256, temperature: float = 0.7,
                         weights=(1.0, 1.0, 1.0), seed: int = 0) -> dict:
    """Sample `samples_per_prompt` programs from `policy` on each of `prompts` (prompts of the
    training instances held by the reward context `ctx`, same order), score every distinct program
    on all of ctx's instances with the training reward, and write the best `keep` into
    `out_dir/SEED_PROGRAMS_FILE`. Returns the record (without the sources)."""
    from lsa.policy.config import InferenceConfig
    from lsa.policy.inference import sample_completions
    from lsa.policy.prompts import program_source

    rng = np.random.default_rng(seed)
    cfg = replace(InferenceConfig(), temperature=temperature)
    candidates: dict[str, str] = {}                # source -> one completion that holds it
    for prompt in prompts:
        for text in sample_completions(policy, prompt, samples_per_prompt, max_new_tokens, cfg, 600.0, rng):
            source = program_source(text)
            if source is not None:
                candidates.setdefault(source, text)
    n_inst = len(ctx.nets)
    scored = []
    for source, text in candidates.items():
        outcomes = ctx.outcomes([text] * n_inst, list(range(n_inst)))
        struct = [o.struct for o in outcomes]
        perf = [ctx.perf(o, i) for i, o in enumerate(outcomes)]
        depth = [ctx.depth(o) for o in outcomes]
        reward = float(np.mean(weights[0] * np.array(struct) + weights[1] * np.array(perf)
                               + weights[2] * np.array(depth)))
        if min(struct) >= MIN_STRUCT:
            scored.append({"source": source, "reward": round(reward, 4), "r_perf": round(float(np.mean(perf)), 4),
                           "r_struct": round(float(np.mean(struct)), 4), "r_depth": round(float(np.mean(depth)), 4)})
    scored.sort(key=lambda p: (-p["reward"], len(p["source"])))
    record = {"format": SEED_FORMAT, "programs": scored[:keep], "candidates": len(candidates),
              "qualified": len(scored), "instances": n_inst, "samples_per_prompt": samples_per_prompt,
              "prompts": len(prompts), "temperature": temperature, "seed": seed,
              "how": "sampled from the trained policy on its training instances, scored with the training reward"}
    write_json(Path(out_dir) / SEED_PROGRAMS_FILE, record)
    return {k: v for k, v in record.items() if k != "programs"} | {
        "kept": [{k: v for k, v in p.items() if k != "source"} for p in scored[:keep]]}


def record_after_training(model_dir: str | Path, grpo, model_cfg, network=None, nets=None) -> dict:
    """Record the seed programs of the trained code policy in `model_dir` on its training instances
    (the first `grpo.seed_instances` of them; `nets`: already generated ones, else regenerated from
    `grpo`), with `grpo`'s reward settings and a sandbox timeout of `grpo.exec_timeout_s`."""
    from lsa.policy.models import load_policy
    from lsa.policy.rewards import RewardContext
    from lsa.policy.train import prompt_for, training_instances

    if nets is None:
        nets = training_instances(grpo.n_train_instances, grpo.train_n, grpo.train_k, grpo.train_regimes,
                                  grpo.seed, network)
    nets = list(nets)[: grpo.seed_instances]
    policy = load_policy(str(model_dir), dtype=model_cfg.dtype, trust_remote_code=model_cfg.trust_remote_code)
    ctx = RewardContext(nets, paradigm="code", timeout_s=grpo.exec_timeout_s, workers=grpo.exec_workers,
                        perf_clip=grpo.perf_clip, depth_free_nodes=grpo.depth_free_nodes,
                        depth_scale_nodes=grpo.depth_scale_nodes, reference_methods=grpo.perf_reference,
                        reference_budget_s=grpo.perf_reference_budget_s)
    prompts = [prompt_for(net, "code", policy.tokenizer, model_cfg) for net in nets]
    return record_seed_programs(policy, ctx, prompts, model_dir, keep=grpo.seed_programs,
                                samples_per_prompt=grpo.seed_samples, max_new_tokens=grpo.max_completion_length,
                                temperature=grpo.temperature,
                                weights=(grpo.lambda_struct, grpo.lambda_perf, grpo.lambda_depth), seed=grpo.seed)
