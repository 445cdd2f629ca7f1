"""The update step on a tiny random model with the real tokenizer, in a small deterministic setting:
one-reply episodes whose reward says whether the first generated token lies in a fixed half of the
vocabulary (the tokens whose output embedding points along a random direction). The expected
reward under the policy is computed exactly from its logits, so "it learns" has no sampling noise."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch

from agents.collection.episode import Episode, EpisodeRequest
from agents.collection.trajectory import Trajectory
from agents.config import RolloutConfig, TrainConfig
from agents.generation.backends import HFBackend, SamplingParams
from agents.generation.chat import ChatFormat
from agents.training.learner import Batch, Learner
from tests.agents.conftest import tiny_backend

GROUPS, GROUP_SIZE = 2, 8
# Adam's first step moves a weight by about lr·g/(|g| + 1e-8): where g is near 1e-8, float rounding of g
# (summation order) moves the weight by up to a few 1e-4 at lr 3e-3 although the gradients agree.
ADAM_NOISE = 3e-4


class Setting:
    def __init__(self, tokenizer: Any) -> None:
        self.backend: HFBackend = tiny_backend(tokenizer)
        self.chat = ChatFormat.from_tokenizer(tokenizer, "Answer with one word.")
        direction = torch.randn(self.backend.model.config.hidden_size, generator=torch.Generator().manual_seed(5))
        self.target = (self.backend.model.get_output_embeddings().weight.detach() @ direction) > 0
        self.questions = [f"Question {g}" for g in range(GROUPS)]

    def trajectories(self, iteration: int) -> list[Trajectory]:
        episodes = []
        for group, question in enumerate(self.questions):
            for sample in range(GROUP_SIZE):
                episode = Episode(EpisodeRequest(f"g{group}", sample, group), "rule", self.chat,
                                  RolloutConfig(max_new_tokens=2))
                episode.start(question, {})
                episodes.append(episode)
        prompts = [e.prompt() or [] for e in episodes]
        params = SamplingParams(max_new_tokens=2, temperature=1.0, seed=iteration)
        records = []
        for episode, generation in zip(episodes, self.backend.generate(prompts, params), strict=True):
            episode.add_reply(generation)
            reward = float(self.target[generation.token_ids[0]])
            episode.add_step("done", reward, True, False, {"success": reward > 0})
            records.append(episode.record(iteration))
        return records

    @torch.no_grad()
    def expected_reward(self) -> float:
        total = 0.0
        for question in self.questions:
            logits = self.backend.model(torch.tensor([self.chat.first_turn(question)])).logits[0, -1]
            total += float(torch.softmax(logits, -1)[self.target].sum())
        return total / len(self.questions)


def learner(setting: Setting, tokenizer: Any, **config: Any) -> Learner:
    settings = TrainConfig(**({"learning_rate": 3e-3, "mini_batch_size": 16, "micro_batch_size": 16, "rank": 4}
                              | config))
    return Learner(setting.backend.model, settings, pad_token_id=tokenizer.pad_token_id, temperature=1.0, seed=0)


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["grpo", "nsr", "resrl"])
def test_the_expected_reward_rises(tokenizer: Any, algo: str) -> None:
    setting = Setting(tokenizer)
    trainer = learner(setting, tokenizer, algo=algo)
    curve = [setting.expected_reward()]
    for iteration in range(10):
        result = trainer.update(setting.trajectories(iteration), iteration)
        curve.append(setting.expected_reward())
        assert result.optimizer_steps == 1 and result.grad_norm > 0
        if algo == "resrl":
            assert 0.3 <= result.negative_weight_mean < 1.0  # ω in [floor, 1], and active
        else:
            assert result.negative_weight_mean == 1.0
    print(algo, [round(value, 3) for value in curve])
    assert curve[-1] > curve[0] + 0.04
    assert sum(curve[-3:]) > sum(curve[:3])


def test_gradient_accumulation_and_weights_do_not_depend_on_micro_batches(tokenizer: Any) -> None:
    results, params = [], []
    for micro in (16, 3):
        setting = Setting(tokenizer)
        trainer = learner(setting, tokenizer, micro_batch_size=micro)
        results.append(trainer.update(setting.trajectories(0), 0))
        params.append(torch.cat([p.detach().flatten() for p in setting.backend.model.parameters()]))
    flat = [[w for row in result.weights for w in row] for result in results]
    assert flat[0] == pytest.approx(flat[1], abs=1e-5)  # computed over whole groups either way
    assert torch.allclose(params[0], params[1], atol=ADAM_NOISE)
    assert results[0].loss == pytest.approx(results[1].loss, abs=1e-5)


@pytest.mark.parametrize("algo", ["grpo", "resrl"])
def test_the_head_on_agent_tokens_only_changes_no_update(tokenizer: Any, algo: str) -> None:
    results, params = [], []
    for agent_logits_only in (False, True):
        setting = Setting(tokenizer)
        model = setting.backend.model
        settings = TrainConfig(learning_rate=3e-3, mini_batch_size=8, micro_batch_size=3, rank=4, algo=algo,
                               kl_coef=0.1, agent_logits_only=agent_logits_only)
        trainer = Learner(model, settings, pad_token_id=tokenizer.pad_token_id, temperature=1.0, seed=0,
                          reference=copy.deepcopy(model))
        results.append(trainer.update(setting.trajectories(0), 0))
        params.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    full, agent_only = results
    assert agent_only.optimizer_steps == 2 and agent_only.grad_norm > 0
    for field in ("loss", "entropy", "kl_to_reference", "positive_logprob", "positive_logprob_gain",
                  "negative_weight_mean", "grad_norm"):
        assert getattr(agent_only, field) == pytest.approx(getattr(full, field), rel=1e-4, abs=1e-6), field
    assert agent_only.mismatch.gap_mean == pytest.approx(full.mismatch.gap_mean, rel=1e-4, abs=1e-6)
    assert [w for row in agent_only.weights for w in row] == pytest.approx([w for row in full.weights for w in row],
                                                                            abs=1e-5)
    assert torch.allclose(params[0], params[1], atol=ADAM_NOISE)


def test_batch_masks_and_weights_align_with_tokens(tokenizer: Any) -> None:
    setting = Setting(tokenizer)
    trajectories = setting.trajectories(0)
    batch = Batch.from_trajectories(trajectories, tokenizer.pad_token_id)
    for row, trajectory in enumerate(trajectories):
        n = len(trajectory.token_ids)
        assert batch.agent_mask[row, : n - 1].tolist() == [bool(m) for m in trajectory.agent_mask[1:]]
        assert not batch.agent_mask[row, n - 1 :].any()
    result = learner(setting, tokenizer).update(trajectories, 0)
    for trajectory, weights in zip(trajectories, result.weights, strict=True):
        assert len(weights) == len(trajectory.token_ids)
        assert all((w > 0) == bool(m) for w, m in zip(weights, trajectory.agent_mask, strict=True))


def test_tied_rewards_skip_the_passes_but_not_the_optimizer(tokenizer: Any) -> None:
    setting = Setting(tokenizer)
    tied = [t.model_copy(update={"reward": 0.0}) for t in setting.trajectories(0)]
    before = [p.detach().clone() for p in setting.backend.model.parameters()]
    result = learner(setting, tokenizer, weight_decay=0.1, learning_rate=1e-2).update(tied, 0)
    assert result.grad_norm == 0 and result.loss == 0 and result.optimizer_steps == 1
    for old, new in zip(before, setting.backend.model.parameters(), strict=True):
        assert torch.allclose(new, old * (1 - 1e-2 * 0.1), atol=1e-7)  # AdamW's decoupled decay, nothing else


def test_nothing_to_learn_from_is_not_an_error(tokenizer: Any) -> None:
    setting = Setting(tokenizer)
    result = learner(setting, tokenizer).update([], 0)
    assert result.optimizer_steps == 0 and result.weights == [] and torch.isnan(torch.tensor(result.loss))


def test_the_likelihood_of_positive_samples_is_measured_before_and_after_the_update(tokenizer: Any) -> None:
    setting = Setting(tokenizer)
    trajectories = setting.trajectories(0)
    model = setting.backend.model

    def positive_token_logprobs() -> list[float]:  # agent tokens of the samples that beat their group's mean
        values = []
        for t in trajectories:
            group = [u.reward for u in trajectories if u.group_id == t.group_id]
            if t.reward <= sum(group) / len(group):
                continue
            with torch.no_grad():
                logits = model(torch.tensor([t.token_ids])).logits[0, :-1].float()
            logprobs = torch.log_softmax(logits, -1).gather(-1, torch.tensor(t.token_ids[1:]).unsqueeze(-1))
            values += [float(lp) for lp, agent in zip(logprobs.flatten(), t.agent_mask[1:], strict=True) if agent]
        return values

    before = positive_token_logprobs()
    assert before, "the setting has positive samples"
    result = learner(setting, tokenizer, algo="grpo").update(trajectories, 0)
    after = positive_token_logprobs()
    assert result.positive_logprob == pytest.approx(sum(before) / len(before), abs=1e-4)
    assert result.positive_logprob_gain == pytest.approx(sum(after) / len(after) - sum(before) / len(before), abs=1e-4)
    assert abs(result.positive_logprob_gain) > 1e-3  # the update did move them


def test_without_positive_samples_their_likelihood_is_not_a_number(tokenizer: Any) -> None:
    setting = Setting(tokenizer)
    tied = [t.model_copy(update={"reward": 1.0}) for t in setting.trajectories(0)]
    result = learner(setting, tokenizer).update(tied, 0)
    assert torch.isnan(torch.tensor([result.positive_logprob, result.positive_logprob_gain])).all()


def test_the_rollout_correction_weights_tokens_by_the_trainer_rollout_ratio(tokenizer: Any) -> None:
    """Rollout log-probs equal to the trainer's: the correction changes nothing. Shifted on one half
    of the agent tokens: those tokens' weights are capped and the update differs."""
    losses, params, mismatches = [], [], []
    for correct, shift in ((False, 0.0), (True, 0.0), (True, 1.0)):
        setting = Setting(tokenizer)
        trainer = Learner(setting.backend.model, TrainConfig(learning_rate=3e-3, mini_batch_size=16,
                                                             micro_batch_size=16, algo="grpo", tis_cap=2.0),
                          pad_token_id=tokenizer.pad_token_id, temperature=1.0, seed=0, correct_rollout=correct)
        trajectories = setting.trajectories(0)
        own = trainer._score(setting.backend.model, Batch.from_trajectories(trajectories, tokenizer.pad_token_id),
                             full=False)[0]
        rewritten = []
        for row, t in enumerate(trajectories):  # the rollout's log-probs: the trainer's own, minus `shift` on
            logprobs = [0.0, *own[row, : len(t.token_ids) - 1].tolist()]  # odd rows' agent tokens
            if row % 2:
                logprobs = [lp - shift if agent else lp for lp, agent in zip(logprobs, t.agent_mask, strict=True)]
            rewritten.append(t.model_copy(update={"logprobs": logprobs}))
        result = trainer.update(rewritten, 0)
        assert result.corrected == correct
        losses.append(result.loss)
        mismatches.append(result.mismatch)
        params.append(torch.cat([p.detach().flatten() for p in setting.backend.model.parameters()]))
    assert mismatches[0].gap_max < 1e-5 and mismatches[0].weight_mean == pytest.approx(1.0, abs=1e-5)
    assert losses[1] == pytest.approx(losses[0], abs=1e-6)
    assert torch.allclose(params[0], params[1], atol=ADAM_NOISE)
    assert mismatches[2].gap_max == pytest.approx(1.0, abs=1e-5)
    assert mismatches[2].truncated == pytest.approx(0.5, abs=0.01)  # e^1 > 2 on half of the tokens
    assert mismatches[2].weight_mean == pytest.approx(1.5, abs=0.01)
    assert losses[2] != pytest.approx(losses[0], abs=1e-4)


def test_bf16_autocast_updates_close_to_float32(tokenizer: Any) -> None:
    params, results = [], []
    for autocast in (False, True):
        setting = Setting(tokenizer)
        before = torch.cat([p.detach().flatten() for p in setting.backend.model.parameters()])
        trainer = learner(setting, tokenizer, algo="grpo", bf16_autocast=autocast, learning_rate=1e-4)
        results.append(trainer.update(setting.trajectories(0), 0))
        params.append(torch.cat([p.detach().flatten() for p in setting.backend.model.parameters()]) - before)
    assert all(p.dtype == torch.float32 for p in setting.backend.model.parameters())  # the weights stay float32
    assert results[1].loss == pytest.approx(results[0].loss, abs=0.05)
    assert results[1].mismatch.gap_mean > results[0].mismatch.gap_mean  # the rollout computed in float32
    assert float(torch.nn.functional.cosine_similarity(params[0], params[1], dim=0)) > 0.9
