"""The truncated importance-sampling correction: exact expectations on a small categorical policy."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from resrl import mismatch, policy_loss, truncated_is_weights

VOCAB = 6


def setting() -> tuple[Tensor, Tensor, Tensor]:
    """Trainer logits θ, a rollout distribution q deliberately unlike softmax(θ), and advantages."""
    generator = torch.Generator().manual_seed(0)
    theta = torch.randn(VOCAB, generator=generator, dtype=torch.float64)
    rollout = torch.softmax(theta + 0.8 * torch.randn(VOCAB, generator=generator, dtype=torch.float64), dim=0)
    advantages = torch.randn(VOCAB, generator=generator, dtype=torch.float64)
    return theta, rollout, advantages


def expected_gradient(theta: Tensor, sampler: Tensor, advantages: Tensor, cap: float | None) -> Tensor:
    """E_{x ~ sampler}[∇ loss(x)] computed exactly: one single-token batch per outcome x, weighted
    by its probability. ``cap`` None: no correction."""
    total = torch.zeros_like(theta)
    for token in range(VOCAB):
        logits = theta.clone().requires_grad_(True)
        logprob = torch.log_softmax(logits, dim=0)[token].reshape(1, 1)
        old = logprob.detach()
        mask = torch.ones(1, 1, dtype=torch.bool)
        weights = None if cap is None else truncated_is_weights(old, sampler[token].log().reshape(1, 1), mask, cap=cap)
        loss = policy_loss(logprob, old, advantages[token].reshape(1, 1), mask, is_weights=weights).loss
        (gradient,) = torch.autograd.grad(loss, logits)
        total += sampler[token] * gradient
    return total


def test_corrected_gradient_from_rollout_samples_is_the_on_policy_gradient() -> None:
    theta, rollout, advantages = setting()
    policy = torch.softmax(theta, dim=0)
    on_policy = expected_gradient(theta, policy, advantages, cap=None)
    # the policy gradient itself: -Σ π(x) A(x) ∇log π(x)
    reference = -(policy * advantages) + policy * (policy * advantages).sum()
    assert torch.allclose(on_policy, reference, atol=1e-12)

    uncorrected = expected_gradient(theta, rollout, advantages, cap=None)
    assert (uncorrected - on_policy).norm() > 0.1 * on_policy.norm()  # the mismatch biases the gradient
    cap = float((policy / rollout).max()) + 1.0  # no weight reaches the cap: the correction is exact
    corrected = expected_gradient(theta, rollout, advantages, cap=cap)
    assert torch.allclose(corrected, on_policy, atol=1e-12)


def test_a_cap_below_the_largest_ratio_bounds_the_weights_and_leaves_a_smaller_bias() -> None:
    theta, rollout, advantages = setting()
    policy = torch.softmax(theta, dim=0)
    ratios = policy / rollout
    cap = float(ratios.sort().values[-2])  # the largest ratio is truncated
    on_policy = expected_gradient(theta, policy, advantages, cap=None)
    capped = expected_gradient(theta, rollout, advantages, cap=cap)
    uncorrected = expected_gradient(theta, rollout, advantages, cap=None)
    assert 0 < (capped - on_policy).norm() < (uncorrected - on_policy).norm()


def test_weights_are_zero_off_agent_tokens_and_capped() -> None:
    trainer = torch.tensor([[-1.0, -1.0, -1.0, -5.0]])
    rollout = torch.tensor([[-1.0, -3.0, 0.0, -1.0]])
    mask = torch.tensor([[True, True, True, False]])
    weights = truncated_is_weights(trainer, rollout, mask, cap=2.0)
    assert weights[0].tolist() == pytest.approx([1.0, 2.0, math.exp(-1.0), 0.0])
    with pytest.raises(ValueError, match="cap"):
        truncated_is_weights(trainer, rollout, mask, cap=0.0)


def test_mismatch_figures() -> None:
    trainer = torch.tensor([[-1.0, -1.0, -1.0, -5.0]])
    rollout = torch.tensor([[-1.0, -3.0, 0.0, -1.0]])
    mask = torch.tensor([[True, True, True, False]])
    found = mismatch(trainer, rollout, mask, cap=2.0)
    ratios = torch.tensor([1.0, math.exp(2.0), math.exp(-1.0)], dtype=torch.float64)
    assert found.gap_mean == pytest.approx(1.0)
    assert found.gap_max == pytest.approx(2.0)
    assert found.ratio_std == pytest.approx(float(ratios.std(correction=0)))
    assert found.weight_mean == pytest.approx((1.0 + 2.0 + math.exp(-1.0)) / 3)
    assert found.truncated == pytest.approx(1 / 3)
    same = mismatch(trainer, trainer, mask, cap=2.0)
    assert (same.gap_mean, same.gap_max, same.ratio_std, same.weight_mean, same.truncated) == (0, 0, 0, 1, 0)
    assert all(math.isnan(v) for v in vars(mismatch(trainer, rollout, mask & False, cap=2.0)).values())
