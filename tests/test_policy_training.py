"""End-to-end policy tests with real tiny models: pretrain (Trainer), GRPO (TRL GRPOTrainer) with
resume, SFT (TRL SFTTrainer), and `lsa-code` / `lsa-direct` through the protocol harness."""
import csv
import json
from dataclasses import replace

import pytest

from lsa.policy.config import GRPOConfig, ModelConfig, PretrainConfig, SFTConfig
from lsa.sim.generate import generate_ppp

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def base_model(tmp_path_factory):
    from lsa.policy.pretrain import pretrain
    out = tmp_path_factory.mktemp("policy") / "base"
    pre = PretrainConfig(n_programs=160, n_instances=6, instance_n=[10, 20], instance_k=[3], max_steps=12,
                         batch_size=8, torch_threads=1, logging_steps=3)
    info = pretrain(ModelConfig(size="tiny", vocab_size=512, prompt_max_tokens=96), pre, out,
                    log_csv=out.parent / "pre.csv", progress=False)
    assert (out / "config.json").is_file() and (out / "model.safetensors").is_file()
    assert info["steps"] == 12
    return out


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_pretrain_log_and_reload(base_model):
    from lsa.policy.models import load_policy
    rows = _rows(base_model.parent / "pre.csv")
    assert rows and min(float(r["loss"]) for r in rows[1:]) < float(rows[0]["loss"])
    policy = load_policy(str(base_model))
    assert policy.model.config.model_type == "qwen2" and len(policy.tokenizer) <= 512
    assert not policy.chat


def test_grpo_logs_every_component_and_resumes(base_model, tmp_path):
    from lsa.policy.train import train_grpo
    out = tmp_path / "grpo"
    grpo = GRPOConfig(num_generations=4, max_steps=2, save_steps=1, n_train_instances=3, train_n=[10],
                      train_k=[3], max_completion_length=32, exec_workers=1, torch_threads=1, exec_timeout_s=0.5,
                      perf_reference_budget_s=0.1, seed_samples=3, validation_instances=2,
                      seed_screen_instances=1, seed_screen_keep=4)
    model_cfg = ModelConfig(prompt_max_tokens=96)
    info = train_grpo(model_cfg, grpo, base_model, out, log_csv=out / "log.csv")
    assert info["steps"] == 2 and info["resumed_from"] is None
    # the seed programs were recorded in the model directory from the training instances only
    from lsa.policy.seeds import SEED_PROGRAMS_FILE, load_seed_programs
    record = json.loads((out / "final" / SEED_PROGRAMS_FILE).read_text())
    assert record["instances"] == 3 and record["prompts"] == 3 and record["candidates"] >= 1
    # scored in one round of successive halving: every candidate on instance 0, the best 4 on all 3
    screen = record["screen"]
    assert screen["instances"] == [0] and screen["kept"] == min(4, screen["qualified"])
    assert record["qualified"] <= screen["kept"]
    assert load_seed_programs(out / "final") == [p["source"] for p in record["programs"]]
    assert len(record["programs"]) <= grpo.seed_programs
    assert all(p["r_struct"] >= 0.8 for p in record["programs"])
    assert info["seed_programs"]["candidates"] == record["candidates"]
    rows = _rows(out / "log.csv")
    assert [int(r["step"]) for r in rows] == [1, 2]
    for col in ("r_struct", "r_perf", "r_depth", "reward", "valid_share", "completion_length", "time_s"):
        assert rows[0][col] != "", col
    # "killed" after step 2: a second run to 3 steps resumes from checkpoint-2 and extends the same log
    info = train_grpo(model_cfg, replace(grpo, max_steps=3), base_model, out, log_csv=out / "log.csv")
    assert info["resumed_from"] and info["resumed_from"].endswith("checkpoint-2")
    assert [int(r["step"]) for r in _rows(out / "log.csv")] == [1, 2, 3]
    assert (out / "final" / "model.safetensors").is_file()


def test_sft_then_direct_grpo(base_model, tmp_path):
    from lsa.policy.sft import train_sft
    from lsa.policy.train import train_grpo
    sft = SFTConfig(n_instances=8, instance_n=[5], instance_k=[3], max_steps=3, batch_size=4)
    model_cfg = ModelConfig(prompt_max_tokens=96)
    info = train_sft(model_cfg, sft, base_model, tmp_path / "sft", log_csv=tmp_path / "sft.csv")
    assert info["steps"] == 3 and (tmp_path / "sft" / "config.json").is_file()
    grpo = GRPOConfig(paradigm="direct", num_generations=2, max_steps=1, n_train_instances=2, train_n=[5],
                      train_k=[3], max_completion_length=16, torch_threads=1, beta=0.04,
                      perf_reference_budget_s=0.1, validation_instances=2)
    info = train_grpo(model_cfg, grpo, tmp_path / "sft", tmp_path / "d", log_csv=tmp_path / "d" / "log.csv")
    assert info["steps"] == 1 and _rows(tmp_path / "d" / "log.csv")[0]["r_struct"] != ""


def test_lsa_code_and_direct_under_the_protocol(base_model):
    from lsa.methods.protocol import run_method
    net = generate_ppp(30, 3, "dense", 5)
    params = {"model": str(base_model), "max_new_tokens": 48, "prompt_max_tokens": 96}
    row, assignment = run_method(net, "lsa-code", budget_s=1.5, seed=0, params=params)
    assert assignment.shape == (30,) and not row["overrun"]
    for col in ("programs_tried", "programs_valid", "gen_s", "exec_s", "setup_s"):
        assert col in row
    assert row["programs_tried"] >= 1
    row, assignment = run_method(net, "lsa-direct", budget_s=1.0, seed=0, params=params)
    assert assignment.shape == (30,) and "programs_tried" in row


def _weights(path):
    from safetensors.torch import load_file
    return load_file(str(path))


def test_the_run_ships_its_best_validated_checkpoint(tmp_path):
    """final/ holds the weights of the validation with the highest reward (the argmax of the history,
    ties: the earliest), which equal that step's Trainer checkpoint; lsa_train.json records the choice,
    and a resumed run continues the same history. Starts from the shipped policy (tiny, it writes
    programs), so rewards differ within a group and the weights move."""
    import json

    import numpy as np
    import torch

    from lsa.policy.config import EMBEDDED_POLICY_DIR
    from lsa.policy.train import train_grpo
    out = tmp_path / "grpo"
    grpo = GRPOConfig(num_generations=4, max_steps=3, save_steps=1, save_total_limit=10, n_train_instances=2,
                      train_n=[20], train_k=[3], max_completion_length=64, exec_workers=1, torch_threads=1,
                      exec_timeout_s=0.3, perf_reference_budget_s=0.1, learning_rate=1e-3, validation_every=1,
                      validation_instances=2, validation_generations=3, seed_samples=2)
    model_cfg = ModelConfig()
    base = EMBEDDED_POLICY_DIR
    train_grpo(model_cfg, replace(grpo, max_steps=2), base, out, log_csv=out / "log.csv")   # "killed" after step 2
    info = train_grpo(model_cfg, grpo, base, out, log_csv=out / "log.csv")                    # resumed
    assert info["resumed_from"].endswith("checkpoint-2")
    shipped = info["shipped_checkpoint"]
    history = shipped["validation_history"]
    assert [h["step"] for h in history] == [1, 2, 3]
    for h in history:
        assert h["reward"] == pytest.approx(h["r_struct"] + h["r_perf"] + h["r_depth"])
    best = history[int(np.argmax([h["reward"] for h in history]))]
    assert shipped["step"] == best["step"] and shipped["validation_reward"] == best["reward"]
    assert shipped["selected_by"] == "validation_reward" and len(shipped["validation_instances"]) == 2
    assert json.loads((out / "final" / "lsa_train.json").read_text())["shipped_checkpoint"] == shipped
    # held-out: validation seeds continue the training seed sequence, never an evaluation seed
    assert all(inst["seed"] >= 10_000_000 + 2 for inst in shipped["validation_instances"])
    final = _weights(out / "final" / "model.safetensors")
    chosen = _weights(out / f"checkpoint-{shipped['step']}" / "model.safetensors")
    assert final.keys() == chosen.keys() and all(torch.equal(final[k], chosen[k]) for k in final)
    # training moved the weights, so the equality above is a choice, not a tautology
    steps = [_weights(out / f"checkpoint-{s}" / "model.safetensors") for s in (1, 2, 3)]
    assert any(not torch.equal(steps[0][k], steps[2][k]) for k in steps[0])


def test_validation_off_ships_the_last_step(base_model, tmp_path):
    from lsa.policy.train import train_grpo
    grpo = GRPOConfig(num_generations=2, max_steps=1, n_train_instances=1, train_n=[10], train_k=[3],
                      max_completion_length=16, exec_workers=1, torch_threads=1, perf_reference_budget_s=0.1,
                      validation_every=0)
    info = train_grpo(ModelConfig(prompt_max_tokens=96), grpo, base_model, tmp_path / "g")
    assert info["shipped_checkpoint"] == {"step": 1, "selected_by": "last_step", "validation_reward": None,
                                          "validation_history": []}


@pytest.mark.parametrize("change", [{"validation_every": -1}, {"validation_instances": 0},
                                    {"validation_generations": 0}, {"validation_instances": 100_003}])
def test_bad_validation_settings_are_a_config_error(change):
    from lsa.errors import ConfigError
    with pytest.raises(ConfigError, match="validation"):
        GRPOConfig(**change)
