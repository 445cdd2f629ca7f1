"""GRPO group advantages and the per-algorithm token advantages."""

from __future__ import annotations

import pytest
import torch

from resrl import group_advantages, token_advantages


def test_group_advantages_match_the_definition() -> None:
    rewards = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.5, 0.2])
    groups = torch.tensor([7, 7, 7, 3, 3, 3])
    adv = group_advantages(rewards, groups)
    for gid in (7, 3):
        sel = groups == gid
        expected = (rewards[sel] - rewards[sel].mean()) / (rewards[sel].std() + 1e-6)
        torch.testing.assert_close(adv[sel], expected)
    centred = group_advantages(rewards, groups, normalize_std=False)
    torch.testing.assert_close(centred[:3], torch.tensor([2 / 3, -1 / 3, -1 / 3]))


def test_group_advantages_are_permutation_equivariant() -> None:
    rewards, groups = torch.rand(12), torch.arange(12) % 3
    perm = torch.randperm(12)
    torch.testing.assert_close(group_advantages(rewards, groups)[perm], group_advantages(rewards[perm], groups[perm]))


def test_equal_rewards_and_singleton_groups_give_zero() -> None:
    adv = group_advantages(torch.tensor([1.0, 1.0, 0.3]), torch.tensor([0, 0, 1]))
    assert torch.equal(adv, torch.zeros(3))


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"\[B\]"):
        group_advantages(torch.zeros(3), torch.zeros(4))


def test_token_advantages_per_algorithm() -> None:
    adv = torch.tensor([2.0, -1.0])
    mask = torch.tensor([[0, 1, 1], [0, 1, 1]], dtype=torch.bool)
    weights = torch.tensor([[0.0, 1.0, 1.0], [0.0, 0.4, 0.9]])
    grpo = token_advantages(adv, None, mask, algo="grpo")
    nsr = token_advantages(adv, None, mask, algo="nsr", lambda_pos=0.1)
    res = token_advantages(adv, weights, mask, algo="resrl", lambda_pos=0.1)
    assert torch.equal(grpo, torch.tensor([[0.0, 2.0, 2.0], [0.0, -1.0, -1.0]]))
    torch.testing.assert_close(nsr, torch.tensor([[0.0, 0.2, 0.2], [0.0, -1.0, -1.0]]))
    torch.testing.assert_close(res, torch.tensor([[0.0, 0.2, 0.2], [0.0, -0.4, -0.9]]))


def test_resrl_with_unit_weights_is_nsr() -> None:
    adv, mask = torch.randn(6), torch.rand(6, 10) > 0.3
    ones = mask.float()
    assert torch.equal(token_advantages(adv, ones, mask, algo="resrl"), token_advantages(adv, None, mask, algo="nsr"))


def test_resrl_needs_weights_and_algo_must_be_known() -> None:
    with pytest.raises(ValueError, match="weights"):
        token_advantages(torch.ones(1), None, torch.ones(1, 2, dtype=torch.bool), algo="resrl")
    with pytest.raises(ValueError, match="unknown algo"):
        token_advantages(torch.ones(1), None, torch.ones(1, 2, dtype=torch.bool), algo="ppo")  # type: ignore[arg-type]
