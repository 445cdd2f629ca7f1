"""One policy update from a batch of trajectories: ResRL, GRPO or NSR on one code path.

rewards → group advantages → one no-grad forward over the whole batch (log-probs, penultimate
hidden states, entropy) → ResRL weights over whole groups → token advantages → clipped loss over
mini-batches with gradient accumulation, gradient clipping and AdamW. Weights are computed before
any mini-batching, so a group is never split across the weighting.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

import resrl
from agents.collection.trajectory import Trajectory
from agents.config import TrainConfig


@dataclass(frozen=True)
class Batch:
    """Trajectories as right-padded tensors; masks and log-probs are aligned with the predicted
    token (``[B, T-1]``), as ``resrl.forward_logprobs_and_hidden`` returns them."""

    input_ids: Tensor  # [B, T]
    attention_mask: Tensor  # [B, T]
    agent_mask: Tensor  # [B, T-1]
    rollout_logprobs: Tensor  # [B, T-1]
    lengths: Tensor  # [B] real tokens per row

    @classmethod
    def from_trajectories(cls, trajectories: Sequence[Trajectory], pad_token_id: int) -> Batch:
        width = max(len(t.token_ids) for t in trajectories)
        size = (len(trajectories), width)
        input_ids = torch.full(size, pad_token_id, dtype=torch.long)
        attention = torch.zeros(size, dtype=torch.long)
        agent = torch.zeros(size, dtype=torch.bool)
        logprobs = torch.zeros(size, dtype=torch.float32)
        for row, t in enumerate(trajectories):
            n = len(t.token_ids)
            input_ids[row, :n] = torch.tensor(t.token_ids)
            attention[row, :n] = 1
            agent[row, :n] = torch.tensor(t.agent_mask, dtype=torch.bool)
            logprobs[row, :n] = torch.tensor(t.logprobs)
        return cls(input_ids, attention, agent[:, 1:], logprobs[:, 1:], attention.sum(1))

    def rows(self, index: Tensor) -> Batch:
        """The batch of the rows ``index`` only."""
        return Batch(self.input_ids[index], self.attention_mask[index], self.agent_mask[index],
                     self.rollout_logprobs[index], self.lengths[index])


@dataclass(frozen=True)
class UpdateResult:
    """Diagnostics of one update (means over optimizer steps or agent tokens) and ω per sample."""

    loss: float
    clip_fraction: float
    approx_kl: float
    kl_to_reference: float
    entropy: float
    negative_weight_mean: float
    grad_norm: float
    mismatch: resrl.Mismatch  # the rollout's log-probs against the trainer's, before the update
    corrected: bool  # whether the loss carried truncated importance weights
    # Mean log-prob per agent token of the positive samples (A > 0) before the update, and how much the
    # update raised it: negative or small gains are the "lazy likelihood displacement" ResRL targets.
    positive_logprob: float
    positive_logprob_gain: float
    optimizer_steps: int
    weights: list[list[float]]  # per trajectory, aligned with its token_ids (0 off agent tokens)

    @classmethod
    def nothing(cls) -> UpdateResult:
        """No trajectory to learn from (every episode failed before the agent spoke)."""
        nan = math.nan
        return cls(nan, nan, nan, nan, nan, nan, nan, resrl.Mismatch(nan, nan, nan, nan, nan), False, nan, nan, 0, [])


class Learner:
    """Owns the trainable model and its optimizer. With ``correct_rollout`` the loss carries truncated
    importance weights for a rollout engine whose numerics differ from the trainer's."""

    def __init__(
        self,
        model: Any,
        config: TrainConfig,
        *,
        pad_token_id: int,
        temperature: float,
        seed: int,
        reference: Any | None = None,
        correct_rollout: bool = False,
    ) -> None:
        self.model = model
        self.config = config
        self.pad_token_id = pad_token_id
        self.temperature = temperature if temperature > 0 else 1.0
        self.seed = seed
        self.reference = reference
        self.correct_rollout = correct_rollout
        trainable = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=config.weight_decay)
        self.device = next(model.parameters()).device

    def update(
        self, trajectories: Sequence[Trajectory], iteration: int, on_step: Callable[[int, int], None] | None = None
    ) -> UpdateResult:
        """One update on ``trajectories`` (whole groups). ``on_step(done, total)`` follows optimizer steps."""
        if not trajectories:
            return UpdateResult.nothing()
        config = self.config
        batch = Batch.from_trajectories(trajectories, self.pad_token_id)
        group_ids = _group_ids(trajectories)
        rewards = torch.tensor([t.reward for t in trajectories], dtype=torch.float32)
        if config.length_scaling:
            rewards = resrl.length_scaled_reward(rewards, batch.agent_mask.sum(1), start=config.length_start,
                                                 end=config.length_end, end_scale=config.length_end_scale)
        advantages = resrl.group_advantages(rewards, group_ids)
        positive = rewards > 0 if config.positive == "reward" else None
        old_logprobs, hidden, entropy = self._score(self.model, batch, full=True)
        assert hidden is not None and entropy is not None
        mask = batch.agent_mask
        weights = None
        if config.algo == "resrl":
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + iteration)
            weights = resrl.residual_weights(
                hidden, advantages, mask, group_ids, rank=config.rank, num_samples=config.num_samples,
                quantiles=(config.quantile_low, config.quantile_high), floor=config.floor, generator=generator,
                positive=positive,
            )
        del hidden
        token_adv = resrl.token_advantages(advantages, weights, mask, algo=config.algo, lambda_pos=config.lambda_pos,
                                           positive=positive)
        reference = None
        if config.kl_coef > 0:
            if self.reference is None:
                raise ValueError("kl_coef > 0 needs a reference model")
            reference = self._score(self.reference, batch, full=False)[0]
        gap = resrl.mismatch(old_logprobs, batch.rollout_logprobs, mask, cap=config.tis_cap)
        is_weights = resrl.truncated_is_weights(old_logprobs, batch.rollout_logprobs, mask, cap=config.tis_cap) \
            if self.correct_rollout else None

        order = torch.randperm(len(trajectories), generator=torch.Generator().manual_seed(self.seed + iteration))
        starts = range(0, len(trajectories), config.mini_batch_size)
        total_steps = config.epochs * len(starts)
        sums = {"loss": 0.0, "clip_fraction": 0.0, "approx_kl": 0.0, "kl_to_reference": 0.0, "grad_norm": 0.0}
        # When every reward in every group ties, all token advantages are 0 and (without a KL term) the
        # gradient is exactly 0: the forward/backward passes are skipped, the optimizer still steps.
        flat = reference is None and not bool(token_adv.any())
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.model.train()
        step = 0
        for _ in range(config.epochs):
            for start in starts:
                rows = order[start : start + config.mini_batch_size]
                total_tokens = float(mask[rows].sum().clamp(min=1))
                if flat:
                    for parameter in trainable:
                        parameter.grad = torch.zeros_like(parameter)
                for micro in [] if flat else torch.split(rows, config.micro_batch_size):
                    out = self._micro_step(batch, micro, old_logprobs, token_adv, reference, weights, is_weights,
                                           total_tokens)
                    share = float(mask[micro].sum()) / total_tokens  # token means over the mini-batch
                    sums["loss"] += out["loss"]  # already divided by the mini-batch's tokens
                    for key in ("clip_fraction", "approx_kl", "kl_to_reference"):
                        sums[key] += out[key] * share
                norm = torch.nn.utils.clip_grad_norm_(trainable, config.max_grad_norm)
                sums["grad_norm"] += float(norm)
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
                step += 1
                if on_step is not None:
                    on_step(step, total_steps)
        self.model.eval()
        positive_before, positive_gain = self._positive_likelihood(batch, advantages, old_logprobs)

        omega = weights if weights is not None else mask.float()
        per_sample = [
            [0.0, *omega[row, : len(t.token_ids) - 1].tolist()] for row, t in enumerate(trajectories)
        ]
        return UpdateResult(
            loss=sums["loss"] / step,
            clip_fraction=sums["clip_fraction"] / step,
            approx_kl=sums["approx_kl"] / step,
            kl_to_reference=sums["kl_to_reference"] / step,
            entropy=float(entropy[mask].mean()) if mask.any() else math.nan,
            negative_weight_mean=resrl.negative_weight_mean(omega, token_adv, mask),
            grad_norm=sums["grad_norm"] / step,
            mismatch=gap,
            corrected=is_weights is not None,
            positive_logprob=positive_before,
            positive_logprob_gain=positive_gain,
            optimizer_steps=step,
            weights=per_sample,
        )

    def _micro_step(
        self,
        batch: Batch,
        rows: Tensor,
        old_logprobs: Tensor,
        token_adv: Tensor,
        reference: Tensor | None,
        weights: Tensor | None,
        is_weights: Tensor | None,
        total_tokens: float,
    ) -> dict[str, float]:
        width = int(batch.lengths[rows].max())
        device = self.device
        cut = width - 1
        mask = batch.agent_mask[rows, :cut].to(device)
        with bf16_autocast(self.device.type, self.config.bf16_autocast):
            out = resrl.forward_logprobs_and_hidden(
                self.model, batch.input_ids[rows, :width].to(device), batch.attention_mask[rows, :width].to(device),
                temperature=self.temperature, positions=mask if self.config.agent_logits_only else None,
            )
        result = resrl.policy_loss(
            out.logprobs.float(), old_logprobs[rows, :cut].to(device), token_adv[rows, :cut].to(device), mask,
            clip=(self.config.clip_low, self.config.clip_high), total_tokens=total_tokens,
            weights=None if weights is None else weights[rows, :cut].to(device),
            is_weights=None if is_weights is None else is_weights[rows, :cut].to(device),
        )
        loss = result.loss
        kl = 0.0
        if reference is not None:
            log_ratio = (reference[rows, :cut].to(device) - out.logprobs.float()).clamp(-20, 20)
            divergence = resrl.k3(log_ratio) * mask
            loss = loss + self.config.kl_coef * divergence.sum() / total_tokens
            kl = (divergence.sum() / mask.sum().clamp(min=1)).item()
        loss.backward()  # type: ignore[no-untyped-call]
        return {"loss": result.loss.item(), "clip_fraction": result.clip_fraction, "approx_kl": result.approx_kl,
                "kl_to_reference": kl}

    def _positive_likelihood(self, batch: Batch, advantages: Tensor, before: Tensor) -> tuple[float, float]:
        """Mean agent-token log-prob of the positive samples under the model before the update
        (``before``, already computed) and its change after it (one no-grad forward of those rows)."""
        rows = torch.nonzero(advantages > 0).flatten()
        mask = batch.agent_mask[rows]
        if not mask.any():
            return math.nan, math.nan
        after = self._score(self.model, batch.rows(rows), full=False)[0]
        mean_before = float(before[rows][mask].mean())
        return mean_before, float(after[mask].mean()) - mean_before

    @torch.no_grad()
    def _score(self, model: Any, batch: Batch, *, full: bool) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """Log-probs ``[B, T-1]`` of ``model``; with ``full`` also penultimate hidden states
        ``[B, T-1, d]`` and entropies, in micro-batches trimmed to their longest row. With
        ``agent_logits_only`` log-probs and entropies are 0 off agent tokens, where nothing reads them."""
        model.eval()
        size, width = batch.agent_mask.shape
        logprobs = torch.zeros(size, width)
        hidden = entropy = None
        for rows in torch.split(torch.arange(size), self.config.micro_batch_size):
            cut = int(batch.lengths[rows].max())
            positions = batch.agent_mask[rows, : cut - 1].to(self.device) if self.config.agent_logits_only else None
            with bf16_autocast(self.device.type, self.config.bf16_autocast):
                out = resrl.forward_logprobs_and_hidden(
                    model, batch.input_ids[rows, :cut].to(self.device),
                    batch.attention_mask[rows, :cut].to(self.device),
                    temperature=self.temperature, with_entropy=full, positions=positions,
                )
            logprobs[rows, : cut - 1] = out.logprobs.float().cpu()
            if full and out.entropy is not None:
                if hidden is None or entropy is None:
                    hidden, entropy = torch.zeros(size, width, out.hidden.shape[-1]), torch.zeros(size, width)
                hidden[rows, : cut - 1] = out.hidden.float().cpu()
                entropy[rows, : cut - 1] = out.entropy.float().cpu()
        return logprobs, hidden, entropy


def bf16_autocast(device_type: str, enabled: bool) -> contextlib.AbstractContextManager[Any]:
    """bfloat16 autocast when ``enabled`` (``train.bf16_autocast``): the old, new and reference log-probs
    of an update alike, and the warm start's; the weights and optimizer stay float32."""
    return torch.autocast(device_type, dtype=torch.bfloat16) if enabled else contextlib.nullcontext()


def _group_ids(trajectories: Sequence[Trajectory]) -> Tensor:
    index: dict[str, int] = {}
    return torch.tensor([index.setdefault(t.group_id, len(index)) for t in trajectories])
