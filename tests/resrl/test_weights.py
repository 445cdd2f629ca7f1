"""Properties of ResRL's residual token weights (docs/resrl.md, steps 2-7)."""

from __future__ import annotations

import math

import pytest
import torch

from resrl import residual_weights
from resrl.weights import _top_right_singular_vectors

D = 64
FLOOR = 0.3


def fixed_point(v: torch.Tensor) -> torch.Tensor:
    """Scale zero-mean vectors to norm sqrt(d): LayerNorm (no affine) leaves them unchanged."""
    v = v - v.mean(dim=-1, keepdim=True)
    return v / v.norm(dim=-1, keepdim=True) * math.sqrt(v.shape[-1])


def basis(gen: torch.Generator) -> torch.Tensor:
    """An orthonormal basis of the zero-mean subspace of R^D, columns in random order."""
    q, _ = torch.linalg.qr(torch.cat([torch.ones(D, 1), torch.randn(D, D - 1, generator=gen)], dim=1))
    return q[:, 1:]


def group(
    gen: torch.Generator, angles: list[float], *, pos_samples: int = 3, tokens: int = 8
) -> tuple[torch.Tensor, ...]:
    """One group: positives inside a 4-dim subspace A; one negative sample whose token t leans
    ``angles[t]`` radians out of A (0 = inside A, π/2 = orthogonal to it)."""
    q = basis(gen)
    a, b = q[:, :4], q[:, 4:8]
    pos = fixed_point(torch.randn(pos_samples, tokens, 4, generator=gen) @ a.T)
    inside = torch.randn(len(angles), 4, generator=gen) @ a.T
    outside = torch.randn(len(angles), 4, generator=gen) @ b.T
    inside = inside / inside.norm(dim=-1, keepdim=True)
    outside = outside / outside.norm(dim=-1, keepdim=True)
    theta = torch.tensor(angles)[:, None]
    neg = fixed_point(torch.cos(theta) * inside + torch.sin(theta) * outside)
    neg = torch.cat([neg, torch.zeros(tokens - len(angles), D)])[None]
    hidden = torch.cat([pos, neg])
    mask = torch.ones(pos_samples + 1, tokens, dtype=torch.bool)
    mask[-1, len(angles) :] = False
    advantages = torch.tensor([1.0] * pos_samples + [-1.0])
    return hidden, advantages, mask


def weights(
    hidden: torch.Tensor, adv: torch.Tensor, mask: torch.Tensor, gids: torch.Tensor, **kw: object
) -> torch.Tensor:
    return residual_weights(hidden, adv, mask, gids, rank=4, floor=FLOOR, **kw)  # type: ignore[arg-type]


def test_inside_span_gets_floor_orthogonal_gets_one_and_monotone_between() -> None:
    angles = [0.0, 0.0, 0.2, 0.5, 0.8, 1.1, math.pi / 2, math.pi / 2]
    hidden, adv, mask = group(torch.Generator().manual_seed(0), angles)
    w = weights(hidden, adv, mask, torch.zeros(4, dtype=torch.long))[-1]
    assert w[0] == pytest.approx(FLOOR) and w[1] == pytest.approx(FLOOR)
    assert w[6] == pytest.approx(1.0) and w[7] == pytest.approx(1.0)
    assert torch.all(w[1:] >= w[:-1] - 1e-6), w


def test_positive_tokens_get_one_non_agent_tokens_zero_and_negatives_in_range() -> None:
    gen = torch.Generator().manual_seed(1)
    hidden, adv, mask = group(gen, [0.1 * i for i in range(6)])
    mask[0, :2] = False
    w = weights(hidden, adv, mask, torch.zeros(4, dtype=torch.long))
    assert torch.all(w[~mask] == 0)
    assert torch.all(w[:3][mask[:3]] == 1.0)
    negatives = w[3][mask[3]]
    assert torch.all((negatives >= FLOOR) & (negatives <= 1.0))


def two_groups(seed: int) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    h1, a1, m1 = group(gen, [0.0, 0.3, 0.6, 0.9, 1.2, 1.5])
    h2, a2, m2 = group(gen, [1.5, 0.2, 0.7, 0.0, 1.0, 0.4])
    gids = torch.tensor([5] * 4 + [9] * 4)
    return torch.cat([h1, h2]), torch.cat([a1, a2]), torch.cat([m1, m2]), gids


def test_non_agent_states_and_other_groups_change_nothing() -> None:
    hidden, adv, mask, gids = two_groups(2)
    base = weights(hidden, adv, mask, gids)
    noisy = hidden.clone()
    noisy[~mask] = torch.randn(int((~mask).sum()), D) * 100
    assert torch.equal(weights(noisy, adv, mask, gids), base)
    other = hidden.clone()
    other[4:] = torch.randn(4, hidden.shape[1], D)
    assert torch.equal(weights(other, adv, mask, gids)[:4], base[:4])


def test_sample_order_and_batch_split_do_not_matter() -> None:
    hidden, adv, mask, gids = two_groups(3)
    base = weights(hidden, adv, mask, gids)
    perm = torch.tensor([6, 0, 3, 5, 1, 7, 2, 4])
    torch.testing.assert_close(weights(hidden[perm], adv[perm], mask[perm], gids[perm]), base[perm])
    split = torch.cat([weights(hidden[s], adv[s], mask[s], gids[s]) for s in (slice(0, 4), slice(4, 8))])
    torch.testing.assert_close(split, base)


def test_seeded_subsampling_is_reproducible() -> None:
    hidden, adv, mask, gids = two_groups(4)
    run = [
        weights(hidden, adv, mask, gids, num_samples=5, generator=torch.Generator().manual_seed(s)) for s in (7, 7, 8)
    ]
    assert torch.equal(run[0], run[1])
    assert not torch.equal(run[0], run[2])  # only 5 of 24 positive tokens: the subset matters


@pytest.mark.parametrize("advantages", [[1.0, 1.0, 1.0, 1.0], [-1.0, -1.0, 0.0, -1.0]])
def test_all_positive_or_all_negative_groups_keep_weight_one(advantages: list[float]) -> None:
    hidden, _, mask = group(torch.Generator().manual_seed(5), [0.0, 0.5, 1.0, 1.5])
    w = weights(hidden, torch.tensor(advantages), mask, torch.zeros(4, dtype=torch.long))
    assert torch.equal(w, mask.float())


def test_single_sample_group_and_too_few_positive_tokens_keep_weight_one() -> None:
    hidden, adv, mask = group(torch.Generator().manual_seed(6), [0.0, 0.5, 1.0, 1.5])
    single = weights(hidden[3:], adv[3:], mask[3:], torch.zeros(1, dtype=torch.long))
    assert torch.equal(single, mask[3:].float())
    few = mask.clone()
    few[:3] = False
    few[0, 0] = True  # a single positive agent token spans nothing
    assert torch.equal(weights(hidden, adv, few, torch.zeros(4, dtype=torch.long)), few.float())


def test_flat_residual_spread_keeps_weight_one() -> None:
    hidden, adv, mask = group(torch.Generator().manual_seed(7), [1.0] * 5)
    hidden[3, 1:5] = hidden[3, 0]  # identical negative tokens: no spread to normalise by
    w = weights(hidden, adv, mask, torch.zeros(4, dtype=torch.long))
    assert torch.equal(w, mask.float())


def test_layer_norm_makes_weights_scale_invariant_and_dtype_independent() -> None:
    hidden, adv, mask, gids = two_groups(8)
    base = weights(hidden, adv, mask, gids)
    torch.testing.assert_close(weights(hidden * 3.0 + 0.5, adv, mask, gids), base, atol=1e-4, rtol=0)
    torch.testing.assert_close(weights(hidden.to(torch.bfloat16), adv, mask, gids), base, atol=0.05, rtol=0)


def test_rank_and_arguments_are_validated() -> None:
    hidden, adv, mask, gids = two_groups(9)
    with pytest.raises(ValueError, match="quantiles"):
        residual_weights(hidden, adv, mask, gids, quantiles=(0.9, 0.1))
    with pytest.raises(ValueError, match=r"\[B, T, d\]"):
        residual_weights(hidden[0], adv, mask, gids)
    with pytest.raises(ValueError, match="floor"):
        residual_weights(hidden, adv, mask, gids, floor=1.5)


def reference_weights(
    hidden: torch.Tensor,
    adv: torch.Tensor,
    mask: torch.Tensor,
    gids: torch.Tensor,
    rank: int,
    quantiles: tuple[float, float],
    floor: float,
) -> torch.Tensor:
    """docs/resrl.md steps 4-7 written out plainly in float64, one group at a time."""
    out = mask.double().clone()
    for gid in gids.unique():
        rows = (gids == gid).nonzero().flatten().tolist()
        pos = [r for r in rows if adv[r] > 0]
        neg = [r for r in rows if adv[r] <= 0]
        if not pos or not neg:
            continue
        x_pos = torch.nn.functional.layer_norm(hidden[pos][mask[pos]].double(), (D,), eps=1e-5)
        mu = x_pos.mean(0)
        _, _, vh = torch.linalg.svd(x_pos - mu, full_matrices=False)
        v = vh[:rank].T
        for r in neg:
            x = torch.nn.functional.layer_norm(hidden[r][mask[r]].double(), (D,), eps=1e-5) - mu
            energy = ((x - x @ v @ v.T) ** 2).sum(1) / D
            all_neg = torch.cat(
                [
                    ((xx - xx @ v @ v.T) ** 2).sum(1) / D
                    for xx in (
                        torch.nn.functional.layer_norm(hidden[n][mask[n]].double(), (D,), eps=1e-5) - mu for n in neg
                    )
                ]
            )
            lo, hi = torch.quantile(all_neg, torch.tensor(quantiles, dtype=torch.float64))
            z = ((energy - lo) / (hi - lo + 1e-8)).clamp(0, 1)
            out[r][mask[r]] = floor + (1 - floor) * z
    return out.float()


def test_matches_a_plain_float64_reference_on_random_states() -> None:
    gen = torch.Generator().manual_seed(10)
    hidden = torch.randn(8, 12, D, generator=gen) + torch.randn(D, generator=gen)  # a shared offset: centring matters
    adv = torch.tensor([1.0, -0.5, -0.5, 0.7, 0.2, -1.0, 0.9, -0.6])
    mask = torch.rand(8, 12, generator=gen) > 0.25
    gids = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    got = residual_weights(hidden, adv, mask, gids, rank=3, quantiles=(0.2, 0.8), floor=0.1)
    want = reference_weights(hidden, adv, mask, gids, 3, (0.2, 0.8), 0.1)
    torch.testing.assert_close(got, want, atol=2e-4, rtol=0)
    assert 0.1 < got[mask & (adv[:, None] <= 0)].mean() < 1.0  # the weighting is active


@pytest.mark.parametrize("shape", [(200, 16), (10, 64), (64, 64)])
def test_subspace_matches_svd_for_tall_wide_and_rank_deficient_matrices(shape: tuple[int, int]) -> None:
    gen = torch.Generator().manual_seed(11)
    full = torch.randn(*shape, generator=gen) * torch.logspace(0, -1, shape[1])  # distinct singular values
    low_rank = torch.randn(shape[0], 3, generator=gen) @ torch.randn(3, shape[1], generator=gen)
    for matrix, rank in ((full, 5), (low_rank, 8)):
        basis = _top_right_singular_vectors(matrix, rank)
        _, s, vh = torch.linalg.svd(matrix.double(), full_matrices=False)
        keep = min(rank, int((s > s[0] * 1e-6).sum()))
        assert basis.shape == (shape[1], keep)
        want = vh[:keep].T @ vh[:keep]
        torch.testing.assert_close((basis @ basis.T).double(), want, atol=1e-4, rtol=0)


# -- edge cases measured against the reference code (docs/resrl.md, "Differences") -----------------------
def _one_group(pos: torch.Tensor, neg: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """``pos`` [P, T, d] and ``neg`` [N, T, d] as one group with A = +1 / -1, every token an agent token."""
    hidden = torch.cat([pos, neg])
    advantages = torch.tensor([1.0] * len(pos) + [-1.0] * len(neg))
    mask = torch.ones(hidden.shape[:2], dtype=torch.bool)
    return hidden, advantages, mask, torch.zeros(len(hidden), dtype=torch.long)


def test_a_near_flat_spread_is_not_stretched_over_the_range() -> None:
    """Negative tokens that differ only by float rounding (identical ones, or ones 1e-7 apart), and a
    subspace that holds every direction (rank >= d): ω stays 1 rather than spreading noise over [ξ, 1]."""
    gen = torch.Generator().manual_seed(7)
    pos = torch.randn(3, 16, D, generator=gen)
    token = torch.randn(D, generator=gen)
    identical = token.expand(2, 16, D).clone()
    nearly = identical * (1 + 1e-7 * torch.randn(2, 16, D, generator=gen))
    many = torch.randn(8, 16, D, generator=gen)  # 128 positive tokens span all of R^d
    spread_out = torch.randn(2, 16, D, generator=gen)
    for positives, neg, rank in ((pos, identical, 4), (pos, nearly, 4), (many, spread_out, D)):
        w = residual_weights(*_one_group(positives, neg), rank=rank, floor=FLOOR)[len(positives):]
        assert torch.equal(w, torch.ones_like(w)), rank
    # a real spread still gets the full range
    w = residual_weights(*_one_group(pos, torch.randn(2, 16, D, generator=gen)), rank=4, floor=FLOOR)
    assert w[3:].min() == pytest.approx(FLOOR) and w[3:].max() == pytest.approx(1.0)


def _exact_weights(pos: torch.Tensor, neg: torch.Tensor, rank: int, quantiles: tuple[float, float]) -> torch.Tensor:
    """Steps 4-7 in float64 throughout, with a full SVD: the reference for precision."""
    x_pos = torch.nn.functional.layer_norm(pos.double().flatten(0, 1), (pos.shape[-1],), eps=1e-5)
    x_neg = torch.nn.functional.layer_norm(neg.double().flatten(0, 1), (neg.shape[-1],), eps=1e-5)
    mean = x_pos.mean(0)
    v = torch.linalg.svd(x_pos - mean, full_matrices=False).Vh[:rank].T
    centred = x_neg - mean
    energy = (centred - centred @ v @ v.T).pow(2).sum(1) / pos.shape[-1]
    lo, hi = torch.quantile(energy, torch.tensor(quantiles, dtype=torch.float64))
    return FLOOR + (1 - FLOOR) * ((energy - lo) / (hi - lo + 1e-8)).clamp(0, 1)


def test_weights_are_precise_when_the_rank_cuts_a_flat_spectrum() -> None:
    """Rank 64 of d = 256 with positives of a nearly flat spectrum: ω within 1e-4 of float64 throughout."""
    gen = torch.Generator().manual_seed(3)
    d, rank = 256, 64
    pos = torch.randn(4, 256, d, generator=gen)
    neg = torch.randn(4, 256, d, generator=gen)
    w = residual_weights(*_one_group(pos, neg), rank=rank, floor=FLOOR, num_samples=4096)
    exact = _exact_weights(pos, neg, rank, (0.1, 0.9))
    assert (w[4:].flatten().double() - exact).abs().max() < 1e-4


def test_the_fp64_gram_keeps_the_subspace_when_the_rank_cuts_a_near_degenerate_spectrum() -> None:
    """Eigenvalues 64 and 65 of the positives' Gram 1e-5 apart (relative): the fp32 Gram mixes the two
    directions (projector off by ~4e-5), the fp64 Gram, the default, keeps them apart."""
    gen = torch.Generator().manual_seed(0)
    tokens, d, rank = 512, 256, 64
    u, _ = torch.linalg.qr(torch.randn(tokens, d, generator=gen, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(d, d, generator=gen, dtype=torch.float64))
    spectrum = torch.linspace(1.0, 0.5, d, dtype=torch.float64)
    spectrum[rank] = spectrum[rank - 1] * (1 - 1e-5)
    matrix = ((u * spectrum.sqrt()) @ v.T).float()
    top = torch.linalg.svd(matrix.double(), full_matrices=False).Vh[:rank].T
    exact = top @ top.T
    error = {}
    for dtype in (torch.float32, torch.float64):
        found = _top_right_singular_vectors(matrix, rank, dtype).double()
        error[dtype] = float((found @ found.T - exact).abs().max())
    assert error[torch.float64] < 1e-6 and error[torch.float64] * 10 < error[torch.float32]


def test_positive_by_reward_follows_the_reference_code() -> None:
    """Partial rewards [0.2, 1.0, 0.0, 0.9]: sample 0 has A < 0 but reward > 0. By advantage it is a
    negative, weighted by ω; by reward (the reference code) it spans the subspace and gets λ_pos·A."""
    from resrl import group_advantages, token_advantages

    gen = torch.Generator().manual_seed(1)
    rewards = torch.tensor([0.2, 1.0, 0.0, 0.9])
    group_ids = torch.zeros(4, dtype=torch.long)
    advantages = group_advantages(rewards, group_ids)
    assert advantages[0] < 0
    hidden = torch.randn(4, 12, D, generator=gen)
    mask = torch.ones(4, 12, dtype=torch.bool)
    by_adv = residual_weights(hidden, advantages, mask, group_ids, rank=2, floor=FLOOR)
    by_reward = residual_weights(hidden, advantages, mask, group_ids, rank=2, floor=FLOOR, positive=rewards > 0)
    assert by_adv[0].min() < 1 and torch.equal(by_reward[0], torch.ones(12))  # sample 0: weighted, then spanning
    assert not torch.equal(by_adv[2], by_reward[2])  # a different subspace weighs the true negative differently
    tok_adv = token_advantages(advantages, by_adv, mask, algo="resrl", lambda_pos=0.1)
    tok_reward = token_advantages(advantages, by_reward, mask, algo="resrl", lambda_pos=0.1, positive=rewards > 0)
    assert torch.allclose(tok_reward[0], 0.1 * advantages[0].expand(12))
    assert torch.allclose(tok_adv[0], by_adv[0] * advantages[0])
    assert torch.allclose(tok_adv[1], tok_reward[1])  # a sample positive both ways: λ_pos·A either way
