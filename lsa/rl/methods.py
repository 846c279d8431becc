"""The `dqn` and `ppo` methods (README, Methods): the policy's greedy rollout is the first incumbent, then
sampled rollouts (PPO: its stochastic policy; DQN: ε-greedy) are offered while the budget lasts.

Rollouts observe and place whole waves of links whose observations do not depend on each other
(`EpisodeContext.batches`): exactly the sequential episode the policy was trained on, with about a
fifth of the forward passes at N = 10,000.
`pyproject.toml` declares `DQN_METHOD` and `PPO_METHOD` as entry points of the group `lsa.methods`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lsa.engine.state import MoveState
from lsa.engine.warm import warmup
from lsa.errors import LSAError
from lsa.methods.registry import Method
from lsa.rl.agent import Agent, load_agent
from lsa.rl.config import RLConfig, shipped_model
from lsa.rl.features import EpisodeContext, observe
from lsa.sim.generate import from_edges

#: a rollout that cannot finish before the deadline is completed at random this long before it
COMPLETE_MARGIN_S = 0.01
#: what `params` (CLI --model, evaluation.method_params) may hold
PARAMS = ("model", "epsilon", "temperature", "max_rollouts", "rl")
_AGENTS: dict[tuple, Agent] = {}


def load_cached(algorithm: str, model: str | Path | None = None) -> Agent:
    """The agent of `model` (None: the shipped default of `algorithm`), loaded once per file version."""
    path = Path(model) if model not in (None, "", "default") else shipped_model(algorithm)
    if model in (None, "", "default") and not path.is_file():
        raise LSAError(f"no shipped {algorithm} model at {path}; pass --model PATH (train one with `lsa rl-train`)")
    try:
        stat = path.stat()
        key = (algorithm, str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    except OSError:
        key = None
    if key is None or key not in _AGENTS:
        agent = load_agent(path, algorithm)   # a missing or foreign file raises LSAError naming the path
        if key is None:
            return agent
        _AGENTS[key] = agent
    return _AGENTS[key]


def rollout(ctx: EpisodeContext, agent: Agent, rng: np.random.Generator | None = None, epsilon: float = 0.0,
            temperature: float = 1.0, run=None) -> tuple[np.ndarray, float, bool]:
    """One episode of `agent` on `ctx.net`: deterministic (rng None) or sampled (PPO: from
    softmax(logits / temperature); DQN: a random channel with probability `epsilon`). Stops when
    `run` is about to expire and completes the unplaced links at random. Returns (assignment,
    utility or None when incomplete, complete)."""
    net = ctx.net
    state = MoveState(net)
    slots = np.arange(net.K)             # one slot per channel: the scorer is shared by the slots
    complete = True
    for batch in ctx.batches:
        if run is not None and run.remaining() < COMPLETE_MARGIN_S:
            complete = False
            break
        obs, _ = observe(ctx, state, batch, slots)
        scores = agent.scores(obs)
        if rng is None:
            choice = np.argmax(scores, axis=1)
        elif agent.algorithm == "ppo":       # Gumbel-max: a sample of the softmax policy
            choice = np.argmax(scores / temperature + rng.gumbel(size=scores.shape), axis=1)
        else:
            choice = np.argmax(scores, axis=1)
            explore = rng.random(len(batch)) < epsilon
            choice[explore] = rng.integers(0, net.K, size=int(explore.sum()))
        for link, channel in zip(batch.tolist(), choice.tolist()):
            state.move(link, channel)
    assignment = state.assignment.copy()
    if not complete:
        unplaced = assignment < 0
        assignment[unplaced] = (rng or np.random.default_rng(0)).integers(0, net.K, size=int(unplaced.sum()))
        return assignment, None, False
    return assignment, state.utility, True


def _prepare(algorithm: str, net, params: dict) -> dict:
    import torch

    params = params or {}
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        raise LSAError(f"{algorithm}: unknown parameter(s) {', '.join(unknown)} (known: {', '.join(PARAMS)})")
    cfg = RLConfig.from_mapping(params.get("rl") or {})
    torch.set_num_threads(cfg.torch_threads)
    agent = load_cached(algorithm, params.get("model"))
    # compilation and first-call costs only, nothing instance-specific (like the classical methods)
    warmup()
    rollout(EpisodeContext.build(from_edges(4, [(0, 1), (1, 2), (2, 3)], 2)), agent)
    return {"agent": agent, "epsilon": float(params.get("epsilon", cfg.sample_epsilon)),
            "temperature": float(params.get("temperature", cfg.sample_temperature))}


def _solve(algorithm: str, net, run, rng, state=None, **params) -> dict:
    state = state or _prepare(algorithm, net, params)
    agent: Agent = state["agent"]
    ctx = EpisodeContext.build(net)
    max_rollouts = params.get("max_rollouts")
    assignment, utility, complete = rollout(ctx, agent, run=run)
    run.offer(assignment, utility)
    greedy_utility = utility
    rollouts = 1
    while complete and not run.expired() and (max_rollouts is None or rollouts < int(max_rollouts)):
        assignment, utility, complete = rollout(ctx, agent, rng, state["epsilon"], state["temperature"], run=run)
        if complete:
            run.offer(assignment, utility)
            rollouts += 1
    return {"rollouts": rollouts, "policy_rollout_utility": greedy_utility, "waves": len(ctx.batches),
            "model": Path(agent.source).name}


def prepare_dqn(net, params: dict) -> dict:
    """Load the DQN policy (params['model']: a .zip from `lsa rl-train`; None: the shipped default)."""
    return _prepare("dqn", net, params)


def prepare_ppo(net, params: dict) -> dict:
    """Load the PPO policy (params['model']: a .zip from `lsa rl-train`; None: the shipped default)."""
    return _prepare("ppo", net, params)


def solve_dqn(net, run, rng, state=None, **params) -> dict:
    return _solve("dqn", net, run, rng, state, **params)


def solve_ppo(net, run, rng, state=None, **params) -> dict:
    return _solve("ppo", net, run, rng, state, **params)


DQN_METHOD = Method("dqn", "stable-baselines3 DQN: shared policy assigns links in order from local features, "
                           "greedy then ε-greedy rollouts", solve_dqn, prepare_dqn, accepts_model=True)
PPO_METHOD = Method("ppo", "sb3-contrib MaskablePPO: shared policy assigns links in order from local features, "
                           "greedy then sampled rollouts", solve_ppo, prepare_ppo, accepts_model=True)
