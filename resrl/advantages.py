"""Sample-level (GRPO) and token-level advantages for GRPO, NSR and ResRL.

All three algorithms share this code path: they differ only in how a sample's
advantage is spread over its agent tokens (``token_advantages``).
"""

from __future__ import annotations

import typing
from typing import Literal

import torch
from torch import Tensor

Algo = Literal["grpo", "nsr", "resrl"]
ALGOS: tuple[Algo, ...] = typing.get_args(Algo)  # the names every config, CLI and report uses


def group_index(group_ids: Tensor) -> tuple[Tensor, int]:
    """Map arbitrary group ids to dense indices ``0..G-1`` (sorted by id) and return ``G``."""
    unique, inverse = torch.unique(group_ids, return_inverse=True)
    return inverse, int(unique.numel())


def group_advantages(
    rewards: Tensor,
    group_ids: Tensor,
    *,
    normalize_std: bool = True,
    eps: float = 1e-6,
) -> Tensor:
    """GRPO advantages: each reward minus its group's mean, divided by the group's std.

    ``rewards`` and ``group_ids`` are ``[B]``; samples of a group may sit anywhere in
    the batch. The std is the unbiased one (as in GRPO/verl). A group of one sample
    has no baseline, so its advantage is 0: sample at least two per task.
    """
    if rewards.shape != group_ids.shape or rewards.dim() != 1:
        raise ValueError(f"rewards {tuple(rewards.shape)} and group_ids {tuple(group_ids.shape)} must both be [B]")
    rewards = rewards.to(torch.float32)
    index, num_groups = group_index(group_ids)
    count = torch.zeros(num_groups, device=rewards.device).index_add_(0, index, torch.ones_like(rewards))
    mean = torch.zeros(num_groups, device=rewards.device).index_add_(0, index, rewards) / count
    centred = rewards - mean[index]
    advantages = centred
    if normalize_std:
        sq = torch.zeros(num_groups, device=rewards.device).index_add_(0, index, centred**2)
        std = torch.sqrt(sq / (count - 1).clamp(min=1))
        advantages = centred / (std[index] + eps)
    return torch.where(count[index] > 1, advantages, torch.zeros_like(advantages))


def token_advantages(
    advantages: Tensor,
    weights: Tensor | None,
    agent_mask: Tensor,
    *,
    algo: Algo,
    lambda_pos: float = 0.1,
    positive: Tensor | None = None,
) -> Tensor:
    """Spread sample advantages ``[B]`` over agent tokens ``[B, T]``; zero elsewhere.

    - ``grpo``:  Ã = A on every agent token.
    - ``nsr``:   Ã = λ_pos·A on positive samples, A on negative ones.
    - ``resrl``: Ã = λ_pos·A on positive samples, ω·A on negative ones, where ω
      are the residual weights of :func:`resrl.residual_weights` (required).

    Positive samples are ``advantages > 0`` unless ``positive`` ``[B]`` says otherwise (the
    reference code's ``reward > 0``: with partial rewards a positive sample can have A < 0).
    """
    if algo not in ALGOS:
        raise ValueError(f"unknown algo {algo!r}; expected one of {ALGOS}")
    mask = agent_mask.to(torch.bool)
    per_token = advantages.to(torch.float32)[:, None].expand(mask.shape)
    if algo == "grpo":
        scaled = per_token
    else:
        is_positive = per_token > 0 if positive is None else positive.to(torch.bool)[:, None].expand(mask.shape)
        negative_scale: Tensor | float = 1.0
        if algo == "resrl":
            if weights is None:
                raise ValueError("algo='resrl' needs the residual weights")
            negative_scale = weights.to(torch.float32)
        scaled = torch.where(is_positive, lambda_pos * per_token, negative_scale * per_token)
    return torch.where(mask, scaled, torch.zeros_like(scaled))
