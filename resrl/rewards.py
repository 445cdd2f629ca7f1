"""Reward shaping used by the ResRL reference code."""

from __future__ import annotations

import torch
from torch import Tensor


def length_scaled_reward(
    rewards: Tensor,
    lengths: Tensor,
    *,
    start: int = 3500,
    end: int = 4096,
    end_scale: float = 0.7,
) -> Tensor:
    """Scale positive rewards down linearly for responses longer than ``start`` tokens.

    ``r`` up to ``start`` tokens, falling linearly to ``end_scale·r`` at ``end`` tokens
    and staying there beyond. Rewards ≤ 0 are returned unchanged (a long wrong answer
    is not made less wrong).
    """
    if end <= start:
        raise ValueError(f"end ({end}) must be greater than start ({start})")
    rewards = rewards.to(torch.float32)
    progress = ((lengths.to(torch.float32) - start) / (end - start)).clamp(0.0, 1.0)
    scale = 1.0 - (1.0 - end_scale) * progress
    return torch.where(rewards > 0, rewards * scale, rewards)
