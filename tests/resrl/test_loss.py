"""The clipped surrogate: values, masking, clipping, accumulation and diagnostics."""

from __future__ import annotations

import math

import pytest
import torch

from resrl import policy_loss, token_advantages


def batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    mask = torch.rand(4, 10, generator=gen) > 0.3
    old = -torch.rand(4, 10, generator=gen) * 3
    new = old + torch.randn(4, 10, generator=gen) * 0.3
    adv = token_advantages(torch.tensor([1.0, -0.5, 0.3, -1.2]), None, mask, algo="grpo")
    return new, old, adv, mask


def test_on_policy_loss_is_minus_mean_advantage() -> None:
    _, old, adv, mask = batch()
    out = policy_loss(old.clone(), old, adv, mask)
    assert out.loss.item() == pytest.approx(-(adv[mask].mean().item()))
    assert out.clip_fraction == 0.0 and out.approx_kl == pytest.approx(0.0, abs=1e-7)


def test_masked_tokens_get_no_gradient_even_when_garbage() -> None:
    new, old, adv, mask = batch(1)
    new = new.masked_fill(~mask, 1e4).requires_grad_(True)
    old = old.masked_fill(~mask, float("nan"))
    out = policy_loss(new, old, adv, mask)
    out.loss.backward()
    assert new.grad is not None and math.isfinite(out.loss.item())
    assert torch.all(new.grad[~mask] == 0) and torch.any(new.grad[mask] != 0)


def test_clipping_stops_the_gradient_beyond_the_trust_region() -> None:
    old = torch.zeros(1, 3)
    new = torch.log(torch.tensor([[1.5, 0.5, 1.1]])).requires_grad_(True)
    adv = torch.tensor([[1.0, -1.0, 1.0]])
    mask = torch.ones(1, 3, dtype=torch.bool)
    out = policy_loss(new, old, adv, mask, clip=(0.2, 0.2))
    out.loss.backward()
    assert out.clip_fraction == pytest.approx(2 / 3)
    assert new.grad is not None and new.grad[0, 0] == 0 and new.grad[0, 1] == 0 and new.grad[0, 2] != 0
    # -(min(1.5*1, 1.2*1) + min(0.5*-1, 0.8*-1) + 1.1) / 3
    assert out.loss.item() == pytest.approx(-(1.2 - 0.8 + 1.1) / 3)


def test_micro_batches_with_total_tokens_sum_to_the_full_loss() -> None:
    new, old, adv, mask = batch(2)
    full = policy_loss(new, old, adv, mask).loss
    total = float(mask.sum())
    parts = sum(
        policy_loss(new[s], old[s], adv[s], mask[s], total_tokens=total).loss for s in (slice(0, 1), slice(1, 4))
    )
    assert float(parts) == pytest.approx(full.item())


def test_sequence_mean_reduction() -> None:
    old = torch.zeros(2, 3)
    adv = torch.tensor([[1.0, 1.0, 0.0], [2.0, 0.0, 0.0]])
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]], dtype=torch.bool)
    out = policy_loss(old.clone(), old, adv, mask, reduction="seq-mean-token-mean")
    assert out.loss.item() == pytest.approx(-(1.0 + 2.0) / 2)
    with pytest.raises(ValueError):
        policy_loss(old, old, adv, mask, reduction="sum")  # type: ignore[arg-type]


def test_diagnostics_report_mean_weight_on_negative_tokens() -> None:
    new, old, _, mask = batch(3)
    weights = torch.rand(4, 10) * mask
    adv = token_advantages(torch.tensor([1.0, -0.5, 0.3, -1.2]), weights, mask, algo="resrl")
    out = policy_loss(new, old, adv, mask, weights=weights)
    negative = mask & (adv < 0)
    assert out.negative_weight_mean == pytest.approx(weights[negative].mean().item())
    assert math.isnan(policy_loss(new, old, adv, mask).negative_weight_mean)
    log_ratio = (new - old)[mask]
    assert out.approx_kl == pytest.approx(((log_ratio.exp() - 1) - log_ratio).mean().item(), rel=1e-5)


def test_resrl_with_unit_weights_gives_the_nsr_loss() -> None:
    new, old, _, mask = batch(4)
    sample_adv = torch.tensor([1.0, -0.5, 0.3, -1.2])
    nsr = policy_loss(new, old, token_advantages(sample_adv, None, mask, algo="nsr"), mask).loss
    res = policy_loss(new, old, token_advantages(sample_adv, mask.float(), mask, algo="resrl"), mask).loss
    assert torch.equal(nsr, res)
