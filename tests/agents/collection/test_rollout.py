"""The Ray rollout on the real ALFWorld engine (generated games) with a tiny random model."""

from __future__ import annotations

from typing import Any

import pytest
import ray

from agents.collection.collector import RolloutResult, collect, group_requests
from agents.collection.episode import EpisodeRequest
from agents.collection.trajectory import Trajectory
from agents.collection.workers import WorkerPool
from agents.config import RolloutConfig
from agents.generation.backends import HFBackend
from agents.generation.chat import ChatFormat
from agents.generation.prompts import system_prompt
from tests.agents.conftest import ENV_ID, GENERATED_ALFWORLD, tiny_backend

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ray_local")]


@pytest.fixture(scope="module")
def chat(tokenizer: Any) -> ChatFormat:
    return ChatFormat.from_tokenizer(tokenizer, system_prompt(ENV_ID))


@pytest.fixture(scope="module")
def backend(tokenizer: Any) -> HFBackend:
    return tiny_backend(tokenizer)


def requests() -> list[EpisodeRequest]:
    """Three groups of two; episodes get different turn caps so they finish at different times."""
    base = group_requests(3, 2, seed=11)
    return [EpisodeRequest(r.group_id, r.sample_index, r.seed, max_turns=2 + i % 3) for i, r in enumerate(base)]


def run(backend: HFBackend, chat: ChatFormat, *, workers: int, slots: int, kill_at_turn: int | None = None,
        **config: Any) -> RolloutResult:
    pool = WorkerPool(GENERATED_ALFWORLD, num_workers=workers, slots_per_worker=slots, worker_cpus=0)
    settings = RolloutConfig(max_new_tokens=12, temperature=0.0, **config)

    def on_turn(turn: int, done: int, total: int) -> None:
        if turn == kill_at_turn:
            ray.kill(pool.actors[0])

    try:
        result = collect(requests(), pool=pool, backend=backend, chat=chat, env_id=ENV_ID, config=settings,
                         on_turn=on_turn)
    finally:
        pool.close()
    return result


def assert_same(first: list[Trajectory], second: list[Trajectory]) -> None:
    """Equal records; log-probs to float tolerance (batches of other shapes round differently)."""
    assert [t.model_dump(exclude={"logprobs"}) for t in first] == [t.model_dump(exclude={"logprobs"}) for t in second]
    for a, b in zip(first, second, strict=True):
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-4)


@pytest.fixture(scope="module")
def two_workers(backend: HFBackend, chat: ChatFormat) -> RolloutResult:
    return run(backend, chat, workers=2, slots=2)


def test_agent_tokens_are_the_replies_and_observations_are_masked(two_workers: RolloutResult, tokenizer: Any,
                                                                   chat: ChatFormat) -> None:
    assert len(two_workers.trajectories) == 6 and not two_workers.lost
    for trajectory in two_workers.trajectories:
        agent = [t for t, m in zip(trajectory.token_ids, trajectory.agent_mask, strict=True) if m]
        env = [t for t, m in zip(trajectory.token_ids, trajectory.agent_mask, strict=True) if not m]
        assert chat.decode(agent) == "".join(turn.reply for turn in trajectory.turns)
        env_text = tokenizer.decode(env)
        assert all(turn.observation in env_text for turn in trajectory.turns)
        assert all(lp < 0 for lp, m in zip(trajectory.logprobs, trajectory.agent_mask, strict=True) if m)


def test_finished_episodes_leave_the_batch(two_workers: RolloutResult) -> None:
    turns = [t.num_turns for t in two_workers.trajectories]
    assert turns == [r.max_turns for r in requests()]  # no env ends these episodes earlier
    # Every generated token is in some trajectory: nothing was generated for finished episodes.
    assert two_workers.stats.generated_tokens == sum(sum(t.agent_mask) for t in two_workers.trajectories)
    assert two_workers.stats.env_steps == sum(turns)


def test_a_group_starts_from_one_state(two_workers: RolloutResult) -> None:
    by_group: dict[str, list[Any]] = {}
    for trajectory in two_workers.trajectories:
        by_group.setdefault(trajectory.group_id, []).append(trajectory)
    assert len(by_group) == 3
    for members in by_group.values():
        assert len({m.task_id for m in members}) == 1
        assert len({m.turns[0].observation for m in members}) == 1
    assert len({members[0].task_id for members in by_group.values()}) == 3


def test_same_seeds_same_trajectories_with_one_or_two_workers(two_workers: RolloutResult, backend: HFBackend,
                                                              chat: ChatFormat) -> None:
    one_worker = run(backend, chat, workers=1, slots=4)
    assert one_worker.trajectories == two_workers.trajectories


@pytest.mark.parametrize("context_tokens", [4096, 600], ids=["whole", "shortened"])
def test_the_prefix_cache_changes_no_trajectory(backend: HFBackend, chat: ChatFormat, context_tokens: int) -> None:
    cached, afresh = (run(backend, chat, workers=2, slots=2, prefix_cache=cache, context_tokens=context_tokens)
                      for cache in (True, False))
    assert_same(cached.trajectories, afresh.trajectories)
    assert any(t.compactions for t in cached.trajectories) == (context_tokens == 600)


def test_a_killed_worker_is_replaced_and_its_episodes_rerun(two_workers: RolloutResult, backend: HFBackend,
                                                            chat: ChatFormat) -> None:
    result = run(backend, chat, workers=2, slots=2, kill_at_turn=2)
    assert not result.lost
    assert result.stats.worker_restarts == 1 and result.stats.reruns >= 1
    assert_same(result.trajectories, two_workers.trajectories)  # nothing lost, nothing changed


def test_an_episode_out_of_attempts_is_reported_lost(backend: HFBackend, chat: ChatFormat) -> None:
    result = run(backend, chat, workers=2, slots=2, kill_at_turn=2, max_attempts=1)
    assert result.lost and all("died" in why for _, why in result.lost)
    assert len(result.trajectories) + len(result.lost) == len(requests())


def test_a_silent_worker_times_out_instead_of_hanging(backend: HFBackend, chat: ChatFormat) -> None:
    pool = WorkerPool(GENERATED_ALFWORLD, num_workers=1, slots_per_worker=2, worker_cpus=0)
    pool.timeout_s = 0.001  # no reset answers that fast
    try:
        result = collect(requests()[:2], pool=pool, backend=backend, chat=chat, env_id=ENV_ID,
                         config=RolloutConfig(max_attempts=1))
    finally:
        pool.close()
    assert not result.trajectories and len(result.lost) == 2
    assert all("no answer" in why for _, why in result.lost)


def test_more_workers_than_cpus_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="did not start"):
        WorkerPool(GENERATED_ALFWORLD, num_workers=3, slots_per_worker=1, worker_cpus=1, timeout_s=5)
