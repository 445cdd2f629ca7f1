"""Tasks chosen by measured difficulty, where an env has no difficulty knobs (real ALFWorld game
files, WebShop, BFCL, code): the curriculum's counterpart.

A task whose group just tied (every sample solved it, or none did) is, for now, too easy or too
hard: it would tie again and teach nothing. Such a task rests for ``cooldown`` iterations, and the
iteration's tasks are drawn from the others. A resting task comes back afterwards, since the policy
may have moved past it or up to it. Each task's record (groups, successes, samples) is kept, and
all of it goes into the checkpoint so that a resumed run draws as a straight one would.
"""

from __future__ import annotations

import random
from collections.abc import Set
from dataclasses import asdict, dataclass
from typing import Any

from agents.collection.trajectory import Trajectory, rewards_differ
from agents.config import TaskFilterConfig


@dataclass
class TaskRecord:
    groups: int = 0
    samples: int = 0
    successes: int = 0
    rests_until: int = 0  # first iteration at which the task may be drawn again


class TaskFilter:
    """Draws task indices of a split of ``num_tasks`` tasks, leaving out the resting ones."""

    def __init__(self, config: TaskFilterConfig, num_tasks: int) -> None:
        if num_tasks < 1:
            raise ValueError("the split has no tasks")
        self.config = config
        self.num_tasks = num_tasks
        self.records: dict[int, TaskRecord] = {}

    def resting(self, iteration: int) -> set[int]:
        return {task for task, record in self.records.items() if record.rests_until > iteration}

    def draw(self, count: int, iteration: int, rng: random.Random, exclude: Set[int] = frozenset()) -> list[int]:
        """``count`` distinct tasks that are neither resting nor in ``exclude``; when too few are left,
        resting ones fill up (those whose rest ends first)."""
        skip = self.resting(iteration) | set(exclude)
        free = self.num_tasks - len(skip)
        chosen: list[int] = []
        if free > 0:
            while len(chosen) < min(count, free):  # rejection sampling: splits hold thousands of tasks
                task = rng.randrange(self.num_tasks)
                if task not in skip and task not in chosen:
                    chosen.append(task)
        if len(chosen) < count:
            waiting = sorted(skip - set(exclude) - set(chosen), key=lambda t: (self.records[t].rests_until, t))
            chosen.extend(waiting[: count - len(chosen)])
        return chosen

    def record(self, iteration: int, group: list[Trajectory]) -> None:
        """Remember how a group of one task fared; a tie sends the task to rest."""
        task = group[0].task_info.get("task_index")
        if task is None:
            return
        record = self.records.setdefault(int(task), TaskRecord())
        record.groups += 1
        record.samples += len(group)
        record.successes += sum(t.success for t in group)
        if len(group) > 1 and not rewards_differ(group):
            record.rests_until = iteration + 1 + self.config.cooldown

    def state_dict(self) -> dict[str, Any]:
        return {"records": {str(task): asdict(record) for task, record in self.records.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.records = {int(task): TaskRecord(**record) for task, record in state.get("records", {}).items()}
