"""The arithmetic of PPO with a learned value head, as trl's classic PPOTrainer (the one LLaMA-Factory's ppo runs) does it.

Tensors are (batch, answer_length), one column per answer token; ``mask`` is 1 on
each answer's tokens (up to and including its eos) and 0 on the padding after
them, so every answer's tokens are a prefix of its row. Pure functions of
tensors, each checked against a computation by hand in tests/test_ppo.py; the
constants are trl's defaults (LLaMA-Factory exposes none of them as keys).
"""

import math
from dataclasses import dataclass

import torch

GAMMA = 1.0  # no discount within an answer: the score at its end is what counts
LAMBDA = 0.95  # GAE: how far the advantage looks ahead before trusting the value head
CLIP_RANGE = 0.2  # how far one update may move the probability ratio of a token
CLIP_RANGE_VALUE = 0.2  # how far one update may move a value prediction
VALUE_LOSS_COEF = 0.1
INITIAL_KL_COEF = 0.2
KL_HORIZON = 10000


def masked_mean(values, mask):
    return (values * mask).sum() / mask.sum()


def masked_whiten(values, mask, shift_mean: bool = True):
    """Zero mean (unless ``shift_mean`` is False: the mean is kept) and unit variance over the masked entries."""
    mean = masked_mean(values, mask)
    variance = masked_mean((values - mean) ** 2, mask)
    count = mask.sum()
    if count > 1:
        variance = variance * count / (count - 1)  # unbiased, as trl
    whitened = (values - mean) * torch.rsqrt(variance + 1e-8)
    return whitened if shift_mean else whitened + mean


def token_rewards(scores, logps, ref_logps, mask, kl_coef: float):
    """Per-token rewards: ``-kl_coef × (log π − log π_ref)`` on every answer token, plus the score on the last one.

    Returns the rewards and the per-token KL estimate (0 on padding)."""
    kl = (logps - ref_logps) * mask
    rewards = -kl_coef * kl
    last = mask.sum(-1).long() - 1
    rewards[torch.arange(len(scores), device=scores.device), last] += scores
    return rewards, kl


def gae(rewards, values, mask, gamma: float = GAMMA, lam: float = LAMBDA):
    """Generalised advantage estimation, and the returns the value head learns (advantages + values).

    ``δ_t = r_t + γ V_{t+1} − V_t`` (V is 0 after the answer), ``A_t = δ_t + γ λ A_{t+1}``."""
    values, rewards = values * mask, rewards * mask
    length = rewards.shape[-1]
    advantage = torch.zeros_like(rewards[:, 0])
    backwards = []
    for t in reversed(range(length)):
        next_value = values[:, t + 1] if t + 1 < length else 0.0
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        advantage = delta + gamma * lam * advantage
        backwards.append(advantage)
    advantages = torch.stack(backwards[::-1], dim=1)
    return advantages, advantages + values


def policy_loss(logps, old_logps, advantages, mask, clip: float = CLIP_RANGE):
    """Clipped surrogate: ``mean(max(−A·ρ, −A·clamp(ρ, 1−ε, 1+ε)))`` with ``ρ = π/π_old``; and the fraction clipped."""
    ratio = torch.exp(logps - old_logps)
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1 - clip, 1 + clip)
    return masked_mean(torch.max(unclipped, clipped), mask), masked_mean((clipped > unclipped).float(), mask)


def value_loss(predicted, old_values, returns, mask, clip: float = CLIP_RANGE_VALUE):
    """Clipped value loss: ``½ mean(max((V − R)², (V_clipped − R)²))``, V_clipped within ``clip`` of the rollout's
    prediction; and the fraction where the clipped term is the larger."""
    clipped_prediction = old_values + (predicted - old_values).clamp(-clip, clip)
    unclipped = (predicted - returns) ** 2
    clipped = (clipped_prediction - returns) ** 2
    return 0.5 * masked_mean(torch.max(unclipped, clipped), mask), masked_mean((clipped > unclipped).float(), mask)


@dataclass
class AdaptiveKL:
    """The KL penalty's coefficient, moved towards ``target`` (the summed KL per answer) by at most 20% per horizon."""

    target: float
    value: float = INITIAL_KL_COEF

    def update(self, current: float, rollouts: int) -> None:
        error = max(min(current / self.target - 1, 0.2), -0.2)
        self.value *= 1 + error * rollouts / KL_HORIZON


@dataclass
class RunningMoments:
    """Running mean and variance of the reward-model scores (batches merged as in Welford's method), for ppo_score_norm."""

    count: int = 0
    mean: float = 0.0
    var: float = 1.0

    def update(self, scores) -> None:
        n = len(scores)
        batch_mean, batch_var = scores.mean().item(), scores.var(correction=0).item() if n > 1 else 0.0
        total = self.count + n
        delta = batch_mean - self.mean
        self.var = (self.var * self.count + batch_var * n + delta**2 * self.count * n / total) / total
        self.mean += delta * n / total
        self.count = total

    def normalise(self, scores):
        return (scores - self.mean) / math.sqrt(self.var + 1e-8)
