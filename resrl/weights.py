"""ResRL's residual token weights (arXiv 2605.00380, steps 2-7 of docs/resrl.md).

A negative sample's agent token is penalised in proportion to how much of its
(normalised, centred) penultimate hidden state lies *outside* the subspace spanned by
the positive samples' agent tokens of the same group. Tokens that look like correct
responses are pushed down lightly (ω = floor), "purely wrong" tokens fully (ω = 1).

Degenerate groups keep ω = 1 on their negatives (plain NSR behaviour), because no
reliable subspace or spread exists:
- no positive or no negative sample in the group;
- fewer than ``MIN_POSITIVE_TOKENS`` positive agent tokens;
- a flat residual spread: ``q_hi - q_lo`` at most ``FLAT_SPREAD`` of the negatives' mean energy
  before projection (their scale). Below that the differences are float rounding (identical or
  nearly identical negative tokens, or a subspace that holds everything, rank ≥ d), and stretching
  them over ``[floor, 1]`` would weight tokens by noise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

LAYER_NORM_EPS = 1e-5
MIN_POSITIVE_TOKENS = 2
FLAT_SPREAD = 1e-5  # relative to the energies' scale
QUANTILE_EPS = 1e-8
_RELATIVE_EIGEN_TOL = 1e-7  # squared singular values: σ below ~3e-4·σ_max count as zero


def residual_weights(
    hidden: Tensor,
    advantages: Tensor,
    agent_mask: Tensor,
    group_ids: Tensor,
    *,
    rank: int = 16,
    num_samples: int = 4096,
    quantiles: tuple[float, float] = (0.1, 0.9),
    floor: float = 0.3,
    generator: torch.Generator | None = None,
    positive: Tensor | None = None,
    gram_dtype: torch.dtype = torch.float64,
) -> Tensor:
    """Token weights ω ``[B, T]`` for a batch of whole groups.

    ``hidden`` ``[B, T, d]``: penultimate-layer states aligned with the tokens they
    predict (detached; no gradient flows). ``advantages`` ``[B]``; ``agent_mask``
    ``[B, T]`` true only on policy-generated tokens; ``group_ids`` ``[B]``.

    Returns ω in ``[floor, 1]`` on agent tokens of negative samples, exactly 1 on agent
    tokens of positive samples and 0 on every other token. ``positive`` ``[B]`` says which
    samples span the subspace (default ``advantages > 0``; the reference code takes
    ``reward > 0``, which differs only for partial rewards). The Gram matrix of the positive
    tokens is formed in ``gram_dtype``: fp64 by default, since in fp32 a rank cut inside a flat
    spectrum moves ω by up to ~5e-3 (fp64: ~2e-5); fp32 suits GPUs with slow fp64. Each group is
    handled on its own, so the result does not depend on the other groups in the
    batch or on where the group's samples sit. When a group has more than
    ``num_samples`` positive agent tokens a uniform subset is used; the subset is drawn
    from a per-group RNG derived from one draw of ``generator`` and the group id, so
    results are reproducible for a seeded generator.
    """
    if hidden.dim() != 3 or agent_mask.shape != hidden.shape[:2]:
        raise ValueError(f"hidden {tuple(hidden.shape)} must be [B, T, d] and agent_mask [B, T]")
    if advantages.shape != (hidden.shape[0],) or group_ids.shape != advantages.shape:
        raise ValueError("advantages and group_ids must be [B]")
    q_lo_level, q_hi_level = quantiles
    if not 0.0 <= q_lo_level < q_hi_level <= 1.0:
        raise ValueError(f"quantiles must satisfy 0 <= lo < hi <= 1, got {quantiles}")
    if not 0.0 <= floor <= 1.0:
        raise ValueError(f"floor must be in [0, 1], got {floor}")
    if rank < 1 or num_samples < MIN_POSITIVE_TOKENS:
        raise ValueError("rank must be >= 1 and num_samples >= 2")

    mask = agent_mask.to(torch.bool)
    weights = mask.to(torch.float32)
    seed_device = generator.device if generator is not None else "cpu"
    base_seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=seed_device).item())
    unique_ids, index = torch.unique(group_ids.cpu(), return_inverse=True)
    positive = (advantages > 0 if positive is None else positive.to(torch.bool)).cpu()
    if positive.shape != advantages.shape:
        raise ValueError("positive must be [B]")
    for g, group_id in enumerate(unique_ids.tolist()):
        in_group = index == g
        # Boolean token masks select only the agent tokens: no copy of whole [P, T, d] rows.
        pos_tokens = mask & (in_group & positive).to(mask.device)[:, None]
        neg_tokens = mask & (in_group & ~positive).to(mask.device)[:, None]
        if not pos_tokens.any() or not neg_tokens.any():
            continue
        x_pos = _normalise(hidden[pos_tokens])
        if x_pos.shape[0] < MIN_POSITIVE_TOKENS:
            continue
        group_seed = (base_seed + int(group_id) * 0x9E3779B1) % 2**62
        energy, scale = _residual_energy(x_pos, _normalise(hidden[neg_tokens]), rank, num_samples, group_seed,
                                         gram_dtype)
        bounds = torch.quantile(energy, torch.tensor([q_lo_level, q_hi_level], device=energy.device))
        spread = bounds[1] - bounds[0]
        if spread <= FLAT_SPREAD * scale:
            continue
        z = ((energy - bounds[0]) / (spread + QUANTILE_EPS)).clamp(0.0, 1.0)
        weights[neg_tokens] = floor + (1.0 - floor) * z
    return weights


def _normalise(tokens: Tensor) -> Tensor:
    """LayerNorm without affine parameters, in fp32 (step 4)."""
    tokens = tokens.detach().to(torch.float32)
    return F.layer_norm(tokens, (tokens.shape[-1],), eps=LAYER_NORM_EPS)


def _residual_energy(x_pos: Tensor, x_neg: Tensor, rank: int, num_samples: int, seed: int,
                     gram_dtype: torch.dtype) -> tuple[Tensor, float]:
    """‖(I - P_S)(x⁻ - μ⁺)‖² / d for each negative token (steps 4-6), and the mean of ‖x⁻ - μ⁺‖² / d:
    the scale the flat-spread test compares against."""
    mean = x_pos.mean(dim=0)
    if x_pos.shape[0] > num_samples:
        rng = torch.Generator().manual_seed(seed)
        picked = torch.randperm(x_pos.shape[0], generator=rng)[:num_samples].to(x_pos.device)
        x_pos = x_pos[picked]
    basis = _top_right_singular_vectors(x_pos - mean, rank, gram_dtype)
    centred = x_neg - mean
    residual = centred - (centred @ basis) @ basis.T
    scale = float(centred.pow(2).sum(dim=1).mean()) / x_neg.shape[1]
    return residual.pow(2).sum(dim=1) / x_neg.shape[1], scale


def _top_right_singular_vectors(matrix: Tensor, rank: int, gram_dtype: torch.dtype = torch.float64) -> Tensor:
    """Orthonormal ``[d, k']`` basis of the top-``rank`` right singular vectors of ``matrix``.

    Exact, via the eigendecomposition of the smaller Gram matrix (``XᵀX`` when there are
    more tokens than dimensions, else ``XXᵀ``), which is several times faster than an SVD
    of the tall matrix. The Gram is formed in ``gram_dtype`` and decomposed in fp64. Directions
    with a numerically zero singular value are dropped: the positives do not occupy
    them, and projecting them out would hide real residual energy.
    """
    tokens, dim = matrix.shape
    tall = tokens >= dim
    wide = matrix.to(gram_dtype)
    gram = (wide.T @ wide) if tall else (wide @ wide.T)
    eigenvalues, eigenvectors = torch.linalg.eigh(gram.double())
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.flip(1)  # descending
    if eigenvalues.numel() == 0 or eigenvalues[0] <= 0:
        return matrix.new_zeros(dim, 0)
    keep = min(rank, int((eigenvalues > eigenvalues[0] * _RELATIVE_EIGEN_TOL).sum().item()))
    top = eigenvectors[:, :keep]
    # From XXᵀ's eigenvectors (left singular vectors u) the right ones are v = Xᵀu / σ.
    basis: Tensor = top if tall else (matrix.T.double() @ top) / eigenvalues[:keep].sqrt()
    return basis.to(matrix.dtype)
