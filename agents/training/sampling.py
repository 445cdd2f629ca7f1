"""An iteration's training groups, with dynamic sampling (as in DAPO).

A group whose samples all got the same reward has zero advantage: it costs a rollout and an update
and teaches nothing. With dynamic sampling on, such groups are dropped and new tasks are collected
in their place, round after round, until the iteration has ``tasks_per_iter`` groups with mixed
rewards or ``max_extra_groups`` more groups have been tried. Every collected episode still counts
in the iteration's success figures (and in the curriculum), since that is what the policy did.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace

from agents.collection.collector import RolloutResult, RolloutStats, collect, group_requests
from agents.collection.episode import EpisodeRequest
from agents.collection.trajectory import Trajectory, rewards_differ
from agents.collection.workers import WorkerPool
from agents.config import DynamicSamplingConfig, RunConfig
from agents.generation.policy import Policy
from agents.training.task_filter import TaskFilter

# Extra groups draw their tasks from seeds far from the ones iterations use (seed·1_000_003 + i·T).
_EXTRA_SEED_OFFSET = 500_000_000


@dataclass
class GroupCounts:
    """How the iteration's groups fared: ``kept`` go into the update; the rest were dropped."""

    collected: int = 0
    kept: int = 0
    all_success: int = 0  # dropped: every sample succeeded
    all_failure: int = 0  # dropped: every sample failed
    tied_other: int = 0  # dropped: every sample got the same partial reward
    incomplete: int = 0  # dropped: a lone sample (its siblings lost) or the agent never spoke
    surplus: int = 0  # mixed but beyond tasks_per_iter
    extra_rounds: int = 0


@dataclass
class IterationBatch:
    """Every episode collected, the whole groups kept for the update, and the counts."""

    trajectories: list[Trajectory]
    kept: list[Trajectory]
    lost: list[tuple[EpisodeRequest, str]] = field(default_factory=list)
    stats: RolloutStats = field(default_factory=RolloutStats)
    counts: GroupCounts = field(default_factory=GroupCounts)


def groups(trajectories: Sequence[Trajectory]) -> dict[str, list[Trajectory]]:
    """Trajectories by group, in order of first appearance."""
    grouped: dict[str, list[Trajectory]] = defaultdict(list)
    for t in trajectories:
        grouped[t.group_id].append(t)
    return dict(grouped)


def sample_iteration(
    iteration: int,
    config: RunConfig,
    policy: Policy,
    pool: WorkerPool,
    *,
    seed: int,
    tasks: TaskFilter | None = None,
    on_turn: Callable[[int, int, int], None] | None = None,
) -> IterationBatch:
    """Collect the iteration's groups and choose the ones the update learns from. With ``tasks``
    the groups' tasks are drawn by measured difficulty, and each group's outcome is recorded there."""
    train = config.train
    dynamic: DynamicSamplingConfig = train.dynamic_sampling
    batch = IterationBatch([], [])
    wanted, extra_left, round_index = train.tasks_per_iter, dynamic.max_extra_groups, 0
    base_seed = seed * 1_000_003
    drawn: set[int] = set()
    while True:
        if round_index == 0:
            count, prefix = train.tasks_per_iter, f"i{iteration}-g"
            round_seed = base_seed + iteration * train.tasks_per_iter
        else:
            count, prefix = min(wanted, extra_left), f"i{iteration}-r{round_index}-g"
            extra_left -= count
            round_seed = base_seed + _EXTRA_SEED_OFFSET + iteration * 10_000 + 100 * round_index
        requests = group_requests(count, train.group_size, seed=round_seed, prefix=prefix)
        if tasks is not None:
            chosen = tasks.draw(count, iteration, random.Random(round_seed), exclude=drawn)
            drawn.update(chosen)
            requests = [replace(r, options={"task_index": chosen[i // train.group_size]})
                        for i, r in enumerate(requests)]
        result = collect(requests, pool=pool, backend=policy.backend, chat=policy.chat, env_id=config.env.id,
                         config=config.rollout, seed=seed + iteration + 100_003 * round_index, iteration=iteration,
                         on_turn=on_turn)
        _absorb(batch, result)
        if tasks is not None:
            for group in groups(result.trajectories).values():
                tasks.record(iteration, group)
        kept = _choose(result.trajectories, batch.counts, wanted, dynamic.enabled)
        batch.kept.extend(kept)
        wanted -= len({t.group_id for t in kept})
        if not dynamic.enabled or wanted <= 0 or extra_left <= 0:
            return batch
        round_index += 1
        batch.counts.extra_rounds = round_index


def _absorb(batch: IterationBatch, result: RolloutResult) -> None:
    batch.trajectories.extend(result.trajectories)
    batch.lost.extend(result.lost)
    for name in (f.name for f in fields(RolloutStats)):
        setattr(batch.stats, name, getattr(batch.stats, name) + getattr(result.stats, name))


def _choose(trajectories: Sequence[Trajectory], counts: GroupCounts, wanted: int, dynamic: bool) -> list[Trajectory]:
    """The whole groups to learn from, in order; ``counts`` records why others were dropped. Without
    dynamic sampling every complete group is kept, ties included (they add nothing to the gradient)."""
    kept: list[Trajectory] = []
    for group in groups(trajectories).values():
        counts.collected += 1
        usable = [t for t in group if any(t.agent_mask)]  # an env error at reset: the agent never spoke
        if len(usable) < 2:
            counts.incomplete += 1
        elif dynamic and not rewards_differ(usable):
            if all(t.success for t in usable):
                counts.all_success += 1
            elif not any(t.success for t in usable):
                counts.all_failure += 1
            else:
                counts.tied_other += 1
        elif dynamic and wanted <= 0:
            counts.surplus += 1
        else:
            kept.extend(usable)
            counts.kept += 1
            wanted -= 1
    return kept
