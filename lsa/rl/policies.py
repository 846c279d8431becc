"""Channel-equivariant SB3 policies: one scorer shared by every channel slot (so any K works at
inference), a DQN Q-network and a maskable actor-critic built on it. Imported lazily (torch).

A slot's score is an MLP of [its features, the mean features of the valid slots, the link's global
features]: permuting the channels permutes the scores, and the tiled copies of a channel (slots
s >= K of the training environment) score exactly like the channel itself.
"""
from __future__ import annotations

import torch
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from stable_baselines3.dqn.policies import DQNPolicy
from torch import nn

from lsa.rl.features import CHANNEL_FEATURES, GLOBAL_FEATURES

N_SLOT = len(CHANNEL_FEATURES)      # the last one is the `valid` flag
N_GLOBAL = len(GLOBAL_FEATURES)


def _mlp(sizes: list[int], activation, last_activation: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if last_activation or i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


def split(obs: torch.Tensor):
    """(features (B, S, F-1), valid (B, S, 1), globals (B, G)) of a flat observation with S slots."""
    n_slots = (obs.shape[1] - N_GLOBAL) // N_SLOT
    slots = obs[:, : n_slots * N_SLOT].reshape(obs.shape[0], n_slots, N_SLOT)
    return slots[..., :-1], slots[..., -1:], obs[:, n_slots * N_SLOT:]


def valid_mean(features: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    return (features * valid).sum(dim=1) / valid.sum(dim=1).clamp(min=1.0)


class SlotScorer(nn.Module):
    """(B, S·F + G) observation → (B, S) scores, for any number of slots S."""

    def __init__(self, hidden: list[int], activation=nn.ReLU):
        super().__init__()
        self.net = _mlp([2 * (N_SLOT - 1) + N_GLOBAL, *hidden, 1], activation, last_activation=False)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        features, valid, overall = split(obs)
        n_slots = features.shape[1]
        context = torch.cat([valid_mean(features, valid), overall], dim=1)
        x = torch.cat([features, context[:, None, :].expand(-1, n_slots, -1)], dim=2)
        return self.net(x).squeeze(-1)


class SlotSummary(nn.Module):
    """(B, S·F + G) observation → (B, hidden[-1]) latent of the critic: mean and max over the valid slots."""

    def __init__(self, hidden: list[int], activation=nn.Tanh):
        super().__init__()
        self.net = _mlp([2 * (N_SLOT - 1) + N_GLOBAL, *hidden], activation, last_activation=True)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        features, valid, overall = split(obs)
        best = torch.where(valid > 0, features, torch.full_like(features, -1e4)).amax(dim=1)
        return self.net(torch.cat([valid_mean(features, valid), best, overall], dim=1))


class SlotExtractor(nn.Module):
    """Replaces SB3's `MlpExtractor`: the actor's latent is already the (B, S) action logits."""

    def __init__(self, n_actions: int, hidden: list[int], activation):
        super().__init__()
        self.actor = SlotScorer(hidden, activation)
        self.critic = SlotSummary(hidden, activation)
        self.latent_dim_pi = n_actions
        self.latent_dim_vf = hidden[-1]

    def forward(self, features: torch.Tensor):
        return self.forward_actor(features), self.forward_critic(features)

    def forward_actor(self, features: torch.Tensor) -> torch.Tensor:
        return self.actor(features)

    def forward_critic(self, features: torch.Tensor) -> torch.Tensor:
        return self.critic(features)


class SlotDQNPolicy(DQNPolicy):
    """SB3's DQN policy with the shared slot scorer as Q-network (Q(s, slot) = score of the slot)."""

    def make_q_net(self):
        q_net = super().make_q_net()
        q_net.q_net = SlotScorer(list(self.net_arch), self.activation_fn).to(self.device)
        return q_net


class SlotActorCriticPolicy(MaskableActorCriticPolicy):
    """sb3-contrib's maskable actor-critic with the slot scorer as actor (logits) and a pooled critic."""

    def _build_mlp_extractor(self) -> None:
        self.mlp_extractor = SlotExtractor(int(self.action_space.n), list(self.net_arch), self.activation_fn)

    def _build(self, lr_schedule) -> None:
        super()._build(lr_schedule)
        self.action_net = nn.Identity()            # logits come straight from the scorer
        self.init_weights(self.mlp_extractor.actor.net[-1], gain=0.01)
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)
