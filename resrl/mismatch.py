"""The rollout–trainer mismatch and its truncated importance-sampling (TIS) correction.

A rollout engine (vLLM, bfloat16, other kernels) samples from ``π_rollout``, which differs a little
from the trainer's ``π_old`` recomputed on the same tokens. The policy gradient assumes samples from
``π_old``; weighting each agent token by ``min(π_old / π_rollout, C)`` makes the expected gradient
the on-policy one again wherever the ratio stays under the cap ``C``, and bounds the variance where
it does not (Yao et al., "Your Efficient RL Framework Secretly Brings You Off-Policy RL Training").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

_MAX_LOG_RATIO = 20.0


@dataclass(frozen=True)
class Mismatch:
    """How far the rollout's log-probs are from the trainer's, over agent tokens (NaN without any)."""

    gap_mean: float  # mean |log π_old − log π_rollout|
    gap_max: float  # its largest value
    ratio_std: float  # spread of π_old / π_rollout: the PPO ratio's spread at the first mini-batch if
    # the rollout's log-probs stood in for the trainer's
    weight_mean: float  # mean TIS weight min(ratio, C)
    truncated: float  # share of agent tokens whose ratio exceeds C


def truncated_is_weights(trainer_logprobs: Tensor, rollout_logprobs: Tensor, agent_mask: Tensor, *,
                         cap: float) -> Tensor:
    """``min(π_old / π_rollout, cap)`` on agent tokens and 0 elsewhere (``[B, T]``, no gradient)."""
    if cap <= 0:
        raise ValueError(f"the TIS cap must be positive, got {cap}")
    log_ratio = (trainer_logprobs.detach() - rollout_logprobs.detach()).clamp(-_MAX_LOG_RATIO, _MAX_LOG_RATIO)
    return torch.where(agent_mask.bool(), log_ratio.exp().clamp(max=cap), torch.zeros_like(log_ratio))


def mismatch(trainer_logprobs: Tensor, rollout_logprobs: Tensor, agent_mask: Tensor, *, cap: float) -> Mismatch:
    """The gap between the two distributions on agent tokens, and what a TIS correction with ``cap`` does."""
    mask = agent_mask.bool()
    if not mask.any():
        nan = float("nan")
        return Mismatch(nan, nan, nan, nan, nan)
    log_ratio = (trainer_logprobs - rollout_logprobs)[mask].double().clamp(-_MAX_LOG_RATIO, _MAX_LOG_RATIO)
    ratio = log_ratio.exp()
    return Mismatch(
        gap_mean=float(log_ratio.abs().mean()),
        gap_max=float(log_ratio.abs().max()),
        ratio_std=float(ratio.std(correction=0)),
        weight_mean=float(ratio.clamp(max=cap).mean()),
        truncated=float((ratio > cap).double().mean()),
    )
