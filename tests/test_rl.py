"""The RL baselines (issue 11): environment, batched rollouts, training, model loading, methods."""
import subprocess
import sys
import tempfile
import zipfile

import numpy as np
import pandas as pd
import pytest

from lsa.cli import main
from lsa.config import load_yaml
from lsa.errors import ConfigError, LSAError
from lsa.methods.protocol import run_method
from lsa.rl.agent import Agent, load_agent, spaces
from lsa.rl.config import RLConfig, rl_config, shipped_model
from lsa.rl.env import ChannelAssignmentEnv
from lsa.rl.features import EpisodeContext, observation_size
from lsa.rl.methods import rollout
from lsa.rl.train import train_agent
from lsa.sim.formats import save_npz
from lsa.sim.generate import from_edges, generate_ppp
from lsa.sim.utility import sum_rate


def random_agent(algorithm: str, max_channels: int = 8, seed: int = 0) -> Agent:
    """An untrained SB3 policy (random weights): enough to test rollouts against the environment."""
    import torch

    from lsa.rl.policies import SlotActorCriticPolicy, SlotDQNPolicy

    torch.manual_seed(seed)
    cls = SlotDQNPolicy if algorithm == "dqn" else SlotActorCriticPolicy
    policy = cls(*spaces(max_channels), lambda _: 0.0, net_arch=[16])
    policy.set_training_mode(False)
    return Agent(algorithm, policy, max_channels, "random", {})


def play(env: ChannelAssignmentEnv, choose) -> tuple[float, dict]:
    obs, _ = env.reset(seed=0)
    total, done = 0.0, False
    while not done:
        obs, reward, done, truncated, info = env.step(choose(obs))
        assert not truncated
        total += reward
    return total, info


@pytest.mark.parametrize("K", [1, 3, 8])
def test_episode_rewards_sum_to_final_sum_rate(K):
    nets = [generate_ppp(40, K, regime, seed) for seed, regime in enumerate(["sparse", "ultra-dense"])]
    env = ChannelAssignmentEnv(nets, max_channels=8, permute_channels=True)
    for episode in range(4):
        total, info = play(env, lambda obs: env.action_space.sample())
        final = env.assignment
        assert final.min() >= 0 and final.max() < K          # every link placed, on a real channel
        assert total == pytest.approx(sum_rate(env.contexts[env.instance].net, final), rel=1e-9, abs=1e-9)
        assert info["utility"] == pytest.approx(total, rel=1e-9, abs=1e-9)


def test_environment_passes_the_gymnasium_checker():
    from gymnasium.utils.env_checker import check_env

    env = ChannelAssignmentEnv([generate_ppp(20, 4, "dense", 0)], max_channels=8)
    check_env(env, skip_render_check=True)
    assert env.observation_space.shape == (observation_size(8),)


def test_observation_is_the_same_for_every_n_and_k():
    for n, k in ((5, 2), (300, 8)):
        env = ChannelAssignmentEnv([generate_ppp(n, k, "dense", 1)], max_channels=8)
        obs, _ = env.reset(seed=0)
        assert obs.shape == (observation_size(8),) and np.all(np.isfinite(obs)) and np.abs(obs).max() <= 5
        assert env.action_masks().sum() == k


def test_tiled_slots_score_like_their_channel_and_scores_follow_permutations():
    """The shared slot scorer is channel-equivariant: a channel's score does not depend on its slot,
    and a tiled copy (training, K < K_max) scores exactly like the channel (one slot per channel at inference)."""
    agent = random_agent("ppo", seed=3)
    net = generate_ppp(60, 3, "dense", 2)
    env = ChannelAssignmentEnv([net], max_channels=8)
    obs, _ = env.reset(seed=0)
    tiled = agent.scores(obs[None])[0]                      # slots show channels 0 1 2 0 1 2 0 1
    assert np.allclose(tiled[:3], tiled[3:6]) and np.allclose(tiled[:2], tiled[6:])
    ctx = EpisodeContext.build(net)
    from lsa.engine.state import MoveState
    from lsa.rl.features import observe
    state = MoveState(net)
    one_per_channel, _ = observe(ctx, state, ctx.order[:1])
    permuted, _ = observe(ctx, state, ctx.order[:1], np.array([2, 0, 1]))
    assert np.allclose(agent.scores(one_per_channel)[0], tiled[:3], atol=1e-5)
    assert np.allclose(agent.scores(permuted)[0], tiled[[2, 0, 1]], atol=1e-5)


@pytest.mark.parametrize("algorithm,K", [("dqn", 3), ("ppo", 8)])
def test_batched_rollout_is_the_sequential_episode(algorithm, K):
    """Inference places waves of independent links at once; it must equal the one-link-per-step episode."""
    agent = random_agent(algorithm)
    net = generate_ppp(2000, K, "sparse", 4)
    env = ChannelAssignmentEnv([net], max_channels=8)
    total, _ = play(env, lambda obs: int(np.argmax(agent.scores(obs[None])[0])))
    ctx = EpisodeContext.build(net)
    assert len(ctx.batches) < net.N                      # waves really batch links
    assignment, utility, complete = rollout(ctx, agent)
    assert complete and np.array_equal(assignment, env.assignment)
    assert utility == pytest.approx(total, rel=1e-9)


def test_inference_takes_more_channels_than_training_saw():
    net = generate_ppp(80, 12, "dense", 0)
    row, assignment = run_method(net, "dqn", 0.3)
    assert row["valid"] and not row["refused"] and assignment.max() < 12 and len(np.unique(assignment)) > 8


def test_config_section_validates_itself():
    assert rl_config({}).max_channels == 8
    with pytest.raises(ConfigError, match="train_k"):
        RLConfig(train_k=[3, 12])
    with pytest.raises(ConfigError, match="unknown argument"):
        RLConfig(dqn={"learning_rte": 0.1})
    with pytest.raises(ConfigError, match="unknown key"):
        rl_config({"rl": {"stepz": 5}})
    with pytest.raises(ConfigError, match="timesteps"):
        RLConfig(timesteps={"dqn": 0})


@pytest.mark.parametrize("profile", ["smoke", "default", "paper"])
def test_profiles_have_a_valid_rl_section(profile):
    raw = load_yaml(f"config/{profile}.yaml")
    assert "rl" in raw
    cfg = rl_config(raw)
    assert set(cfg.timesteps) == {"dqn", "ppo"}


TINY = RLConfig(train_n=[12], train_k=[3], train_regimes=["dense"], n_train_instances=2,
                timesteps={"dqn": 300, "ppo": 300}, net_arch=[16],
                dqn={"learning_starts": 50, "buffer_size": 1000, "batch_size": 16, "train_freq": 4,
                     "target_update_interval": 100},
                ppo={"n_steps": 64, "batch_size": 32, "n_epochs": 2})


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    out, temp = tmp_path_factory.mktemp("rl"), tmp_path_factory.mktemp("tempdir")
    with pytest.MonkeyPatch.context() as mp:        # the temp dir SB3's default logger would write into
        mp.setattr(tempfile, "tempdir", str(temp))
        info = {a: train_agent(a, TINY, out / f"{a}.zip", out / f"{a}.csv", seed=0) for a in ("dqn", "ppo")}
    return out, info, temp


@pytest.mark.parametrize("algorithm", ["dqn", "ppo"])
def test_training_a_few_hundred_steps_saves_a_loadable_model_and_a_reward_log(tiny_models, algorithm):
    out, info, _ = tiny_models
    assert info[algorithm]["timesteps"] == 300
    log = pd.read_csv(out / f"{algorithm}.csv")
    assert len(log) == info[algorithm]["episodes"] >= 300 // 12 - 1
    assert (log["algorithm"] == algorithm).all() and log["timesteps"].is_monotonic_increasing
    assert (log["episode_reward"] > 0).all() and np.isfinite(log["reward_vs_greedy"]).all()
    agent = load_agent(out / f"{algorithm}.zip", algorithm)
    net = generate_ppp(100, 4, "dense", 9)
    row, assignment = run_method(net, algorithm, 0.3, params={"model": str(out / f"{algorithm}.zip")})
    assert row["valid"] and not row["fallback_random"] and row["rollouts"] >= 1
    assert row["utility"] == pytest.approx(sum_rate(net, assignment))
    assert agent.metadata["trained"]["timesteps"] == 300


def test_training_writes_nothing_outside_its_output_paths(tiny_models):
    out, _, temp = tiny_models
    assert sorted(p.name for p in out.iterdir()) == ["dqn.csv", "dqn.zip", "ppo.csv", "ppo.zip"]
    assert not list(temp.glob("SB3-*"))             # no $TMPDIR/SB3-<date>/ logger folder (SB3's default)


def test_a_model_of_the_other_algorithm_is_rejected(tiny_models):
    out, _, _ = tiny_models
    with pytest.raises(LSAError, match="holds a 'ppo' model, not 'dqn'"):
        load_agent(out / "ppo.zip", "dqn")


@pytest.mark.parametrize("algorithm", ["dqn", "ppo"])
def test_shipped_default_solves_out_of_the_box(algorithm):
    assert shipped_model(algorithm).is_file()
    assert shipped_model(algorithm).stat().st_size < 512 * 1024           # small, like the embedded policy
    net = generate_ppp(400, 8, "dense", 3)
    row, assignment = run_method(net, algorithm, 0.5, seed=1)
    random_row, _ = run_method(net, "random", 0.5, seed=1)
    assert row["valid"] and not row["overrun"] and row["rollouts"] >= 2
    assert row["utility"] > 1.2 * random_row["utility"]
    assert row["utility"] >= row["policy_rollout_utility"] - 1e-9          # sampled rollouts only improve


def test_protocol_instances_work_too():
    net = from_edges(30, [(i, (i + 1) % 30) for i in range(30)], 3)
    row, assignment = run_method(net, "ppo", 0.3)
    assert row["valid"] and assignment.max() < 3


@pytest.fixture(scope="module")
def instance_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("inst") / "net.npz"
    save_npz(generate_ppp(50, 4, "dense", 1), path)
    return path


def _bad_files(tmp_path):
    text = tmp_path / "notes.zip"
    text.write_text("not a model")
    foreign = tmp_path / "foreign.zip"
    with zipfile.ZipFile(foreign, "w") as archive:
        archive.writestr("data", "{}")
    return {"missing": tmp_path / "missing.zip", "text": text, "foreign zip": foreign, "directory": tmp_path}


@pytest.mark.parametrize("kind", ["missing", "text", "foreign zip", "directory"])
def test_bad_model_path_is_one_line_and_exit_2(instance_file, tmp_path, capsys, kind):
    path = _bad_files(tmp_path)[kind]
    rc = main(["solve", str(instance_file), "--method", "dqn", "--budget", "0.3", "--model", str(path)])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and str(path) in err and "cannot load RL model" in err


def test_lsa_methods_lists_dqn_and_ppo():
    out = subprocess.run([sys.executable, "-m", "lsa.cli", "methods"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0
    names = {line.split()[0] for line in out.stdout.splitlines() if line.strip()}
    assert {"dqn", "ppo"} <= names


def test_unknown_method_parameter_is_an_error():
    with pytest.raises(LSAError, match="unknown parameter"):
        run_method(generate_ppp(20, 3, "dense", 0), "ppo", 0.3, params={"epsilonn": 0.1})


def test_cli_rl_train_writes_model_and_log(tmp_path, capsys):
    import yaml

    config = tmp_path / "profile.yaml"
    config.write_text(yaml.safe_dump({"rl": TINY.to_dict()}))
    model, log = tmp_path / "m" / "ppo.zip", tmp_path / "m" / "ppo.csv"
    assert main(["rl-train", "--config", str(config), "--algorithm", "ppo", "--output", str(model),
                 "--log", str(log), "--timesteps", "200"]) == 0
    assert load_agent(model, "ppo").metadata["trained"]["timesteps"] == 200 and len(pd.read_csv(log)) > 0
    assert main(["rl-train", "--config", str(config), "--algorithm", "ppo", "--output", str(tmp_path / "m.pt"),
                 "--log", str(log)]) == 2
    assert "must end in .zip" in capsys.readouterr().err
