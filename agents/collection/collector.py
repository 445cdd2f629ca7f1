"""The multi-turn rollout loop: one generation batch per turn over every active episode, every
env worker stepping in parallel, finished episodes leaving the batch at once.

Scheduling depends only on the number of slots, never on how slots are spread over workers, and
each batch is ordered by request: the same seeds give the same trajectories with 1 or 2 workers.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from agents.collection.episode import Episode, EpisodeRequest
from agents.collection.trajectory import Trajectory
from agents.collection.workers import Command, WorkerPool
from agents.config import RolloutConfig
from agents.generation.backends.base import GenerationBackend, SamplingParams
from agents.generation.chat import ChatFormat


@dataclass
class RolloutStats:
    """Where the time went and how much was done."""

    generate_s: float = 0.0
    env_s: float = 0.0
    total_s: float = 0.0
    generated_tokens: int = 0
    env_steps: int = 0
    generation_batches: int = 0
    worker_restarts: int = 0
    reruns: int = 0


@dataclass
class RolloutResult:
    """Finished trajectories in request order; ``lost`` lists requests given up on, with why."""

    trajectories: list[Trajectory]
    lost: list[tuple[EpisodeRequest, str]] = field(default_factory=list)
    stats: RolloutStats = field(default_factory=RolloutStats)


def group_requests(num_tasks: int, group_size: int, *, seed: int, prefix: str = "g") -> list[EpisodeRequest]:
    """``group_size`` requests per task; a group shares its seed, so its samples start alike."""
    return [
        EpisodeRequest(group_id=f"{prefix}{task:05d}", sample_index=sample, seed=seed + task)
        for task in range(num_tasks)
        for sample in range(group_size)
    ]


def collect(
    requests: Sequence[EpisodeRequest],
    *,
    pool: WorkerPool,
    backend: GenerationBackend,
    chat: ChatFormat,
    env_id: str,
    config: RolloutConfig,
    seed: int = 0,
    iteration: int = 0,
    on_turn: Callable[[int, int, int], None] | None = None,
) -> RolloutResult:
    """Run every request to its end. ``on_turn(turn, finished, total)`` is called after each turn."""
    started = time.perf_counter()
    stats = RolloutStats()
    restarts_before = pool.restarts
    queue: deque[int] = deque(range(len(requests)))  # requests are referred to by position
    attempts = [0] * len(requests)
    active: dict[int, tuple[int, Episode]] = {}  # slot → (request position, episode)
    pending_actions: dict[int, str] = {}
    finished: dict[int, Trajectory] = {}
    lost: list[tuple[EpisodeRequest, str]] = []
    turn = 0
    # the weights are fixed for a whole collection, so what each turn computed can serve the next
    with backend.prefix_cache() if config.prefix_cache else contextlib.nullcontext():
        while queue or active:
            commands = [Command("step", slot, action=action) for slot, action in pending_actions.items()]
            for slot in range(pool.num_slots):
                if slot not in active and queue:
                    position = queue.popleft()
                    request = requests[position]
                    attempts[position] += 1
                    active[slot] = (position, Episode(request, env_id, chat, config))
                    commands.append(Command("reset", slot, seed=request.seed, options=request.options))
            pending_actions.clear()

            tick = time.perf_counter()
            outcomes, lost_slots = pool.run(sorted(commands, key=lambda c: c.slot))
            stats.env_s += time.perf_counter() - tick
            stats.env_steps += sum(command.kind == "step" for command in commands)

            for slot, reason in lost_slots.items():
                position, _ = active.pop(slot)
                if attempts[position] < config.max_attempts:
                    queue.appendleft(position)
                    stats.reruns += 1
                else:
                    lost.append((requests[position], f"{reason}; gave up after {attempts[position]} attempts"))
            for slot, outcome in outcomes.items():
                episode = active[slot][1]
                if outcome.error is not None:
                    episode.finish("env_error", error=outcome.error)
                elif not episode.started:
                    episode.start(outcome.observation, outcome.info or {})
                else:
                    episode.add_step(outcome.observation, outcome.reward, outcome.terminated, outcome.truncated,
                                     outcome.info or {})

            prompts: list[list[int]] = []
            waiting: list[int] = []
            for slot, (position, episode) in sorted(active.items(), key=lambda item: item[1][0]):
                prompt = None if episode.done else episode.prompt()
                if prompt is None:
                    finished[position] = episode.record(iteration)
                    del active[slot]
                else:
                    prompts.append(prompt)
                    waiting.append(slot)
            if prompts:
                params = SamplingParams(
                    max_new_tokens=config.max_new_tokens,
                    temperature=config.temperature,
                    top_p=config.top_p,
                    seed=seed * 1_000_003 + turn,
                )
                tick = time.perf_counter()
                generations = backend.generate(prompts, params)
                stats.generate_s += time.perf_counter() - tick
                stats.generation_batches += 1
                for slot, generation in zip(waiting, generations, strict=True):
                    stats.generated_tokens += len(generation.token_ids)
                    pending_actions[slot] = active[slot][1].add_reply(generation)
            turn += 1
            if on_turn is not None:
                on_turn(turn, len(finished) + len(lost), len(requests))

    stats.worker_restarts = pool.restarts - restarts_before
    stats.total_s = time.perf_counter() - started
    return RolloutResult([finished[p] for p in range(len(requests)) if p in finished], lost, stats)
