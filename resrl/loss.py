"""The PPO/GRPO clipped surrogate over agent tokens, with its diagnostics."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

Reduction = Literal["token-mean", "seq-mean-token-mean"]
_MAX_LOG_RATIO = 20.0


@dataclass(frozen=True)
class PolicyLoss:
    """The loss to backpropagate and detached diagnostics (Python floats)."""

    loss: Tensor
    clip_fraction: float
    approx_kl: float
    negative_weight_mean: float
    """Mean ω over agent tokens with a negative token advantage; NaN without weights."""


def policy_loss(
    logprobs: Tensor,
    old_logprobs: Tensor,
    token_advantages: Tensor,
    agent_mask: Tensor,
    *,
    clip: tuple[float, float] = (0.2, 0.2),
    reduction: Reduction = "token-mean",
    total_tokens: float | None = None,
    weights: Tensor | None = None,
    is_weights: Tensor | None = None,
) -> PolicyLoss:
    """Clipped surrogate ``-min(r·Ã, clip(r, 1-ε_lo, 1+ε_hi)·Ã)`` over agent tokens.

    All tensors are ``[B, T]``; nothing outside ``agent_mask`` reaches the loss or its
    gradient. ``token-mean`` divides by ``total_tokens`` when given (the agent-token
    count of the whole mini-batch, so gradient accumulation over micro-batches sums to
    the same loss) and by this batch's count otherwise. ``approx_kl`` is the k3
    estimator ``E[(r - 1) - log r]``. ``weights`` (ω) only feed the diagnostics.
    ``is_weights`` (no gradient) scale each token's term: the truncated importance weights of
    :func:`resrl.mismatch.truncated_is_weights` that correct for a rollout engine's other numerics.
    """
    if reduction not in ("token-mean", "seq-mean-token-mean"):
        raise ValueError(f"unknown reduction {reduction!r}")
    mask = agent_mask.to(torch.bool)
    maskf = mask.to(logprobs.dtype)
    log_ratio = (logprobs - old_logprobs.detach()).clamp(-_MAX_LOG_RATIO, _MAX_LOG_RATIO)
    log_ratio = torch.where(mask, log_ratio, torch.zeros_like(log_ratio))
    ratio = torch.exp(log_ratio)
    advantages = token_advantages.detach().to(logprobs.dtype)
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1.0 - clip[0], 1.0 + clip[1])
    per_token = torch.maximum(unclipped, clipped) * maskf
    if is_weights is not None:
        per_token = per_token * is_weights.detach().to(per_token.dtype)

    if reduction == "token-mean":
        denominator = total_tokens if total_tokens is not None else maskf.sum().clamp(min=1.0)
        loss = per_token.sum() / denominator
    else:
        per_sequence = per_token.sum(dim=1) / maskf.sum(dim=1).clamp(min=1.0)
        has_tokens = mask.any(dim=1)
        loss = per_sequence[has_tokens].sum() / has_tokens.sum().clamp(min=1)

    with torch.no_grad():
        count = mask.sum().clamp(min=1)
        clip_fraction = ((clipped > unclipped) & mask).sum() / count
        approx_kl = (k3(log_ratio) * maskf).sum() / count
        omega = math.nan if weights is None else negative_weight_mean(weights, token_advantages, mask)
    return PolicyLoss(loss, float(clip_fraction), float(approx_kl), omega)


def k3(log_ratio: Tensor) -> Tensor:
    """Per-token k3 estimate of a KL divergence from ``log r = log π − log π_ref`` under samples of
    π_ref: ``(r − 1) − log r``, never negative, unbiased, and lower in variance than ``−log r``."""
    return (log_ratio.exp() - 1.0) - log_ratio


def negative_weight_mean(weights: Tensor, token_advantages: Tensor, agent_mask: Tensor) -> float:
    """Mean ω over agent tokens with a negative token advantage (NaN where there is none): how much
    ResRL damps the push-down of negative samples (1 = not at all, as GRPO)."""
    negative = agent_mask.to(torch.bool) & (token_advantages < 0)
    return float(weights[negative].float().mean()) if negative.any() else math.nan
