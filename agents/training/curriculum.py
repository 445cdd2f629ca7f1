"""A curriculum that keeps training groups mixed: the env's difficulty follows the success rate.

RL learns from groups whose samples disagree. A task the policy always solves, or never does, gives
every sample the same reward and so no advantage; the most informative tasks are the ones it solves
about half the time. Where an env has difficulty knobs (generated ALFWorld games: receptacles,
distractors, task types, step budget), the config lists ``levels`` of env arguments, easiest first.
After each iteration the success rate averaged over the last ``window`` iterations at the current
level decides: above ``target_high`` one level harder, below ``target_low`` one level easier,
otherwise stay. A move empties the window, so each level is judged on its own episodes.
"""

from __future__ import annotations

from typing import Any

from agents.config import CurriculumConfig
from envs.spec import EnvSpec


class Curriculum:
    """The current level and the recent success rates at it; ``state_dict`` restores it exactly."""

    def __init__(self, config: CurriculumConfig) -> None:
        if config.levels and config.start_level >= len(config.levels):
            raise ValueError(f"curriculum.start_level {config.start_level} is not one of the "
                             f"{len(config.levels)} levels")
        if config.target_low > config.target_high:
            raise ValueError("curriculum.target_low must not exceed target_high")
        self.config = config
        self.level = config.start_level
        self.recent: list[float] = []

    @property
    def enabled(self) -> bool:
        return bool(self.config.levels)

    def env_spec(self, base: EnvSpec) -> EnvSpec:
        """``base`` with the current level's arguments laid over its kwargs (``base`` itself when off)."""
        if not self.enabled:
            return base
        return base.model_copy(update={"kwargs": base.kwargs | self.config.levels[self.level]})

    def update(self, success_rate: float) -> int:
        """Record an iteration's training success at the current level; return the move (-1, 0, +1)."""
        if not self.enabled:
            return 0
        self.recent = [*self.recent, success_rate][-self.config.window:]
        if len(self.recent) < self.config.window:
            return 0
        rolling = sum(self.recent) / len(self.recent)
        move = 1 if rolling > self.config.target_high else -1 if rolling < self.config.target_low else 0
        moved = min(max(self.level + move, 0), len(self.config.levels) - 1) - self.level
        if moved:
            self.level += moved
            self.recent = []
        return moved

    def state_dict(self) -> dict[str, Any]:
        return {"level": self.level, "recent": list(self.recent)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.level = int(state["level"])
        self.recent = [float(x) for x in state["recent"]]
