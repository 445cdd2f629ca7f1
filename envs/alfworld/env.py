"""``resrl/ALFWorld-v0``: household tasks in text, on the real ALFWorld engine."""

from __future__ import annotations

import os
from typing import Any

from envs.alfworld.data import DataError
from envs.alfworld.engine import Game, with_package_logic
from envs.alfworld.generator import TASK_TYPES, Difficulty, difficulty_from
from envs.alfworld.tasks import TaskPool, make_pool
from envs.core import TextEnv, Transition

GAME_LOGIC = ("package", "archived")


class ALFWorldEnv(TextEnv):
    """One ALFWorld game per episode; reward ``success_reward`` when the goal is reached.

    Observations are the engine's text (the first one states the task); ``info`` carries
    the admissible commands as ``available_actions``, ``task_type``, ``task_id``,
    ``gamefile``, ``data_source`` and ``success``. A command that is not admissible gets
    "Nothing happens." and ``invalid_action=True`` without touching the engine.

    Tasks come from real game files when found (``data_path``, ``$ALFWORLD_DATA`` or an
    archive extracted earlier), else from the built-in generator (``source='auto'``).
    ``reset(options={"task_index": i})`` or ``{"task_id": ...}`` picks a task; otherwise
    it is drawn with the env's RNG, so ``reset(seed=s)`` always gives the same task.
    """

    preload_modules = ("textworld", "textworld.envs.pddl")  # 1.7 s to import, done in each new process

    def __init__(
        self,
        *,
        split: str = "train",
        data_path: str | os.PathLike[str] | None = None,
        source: str = "auto",
        task_types: list[str] | tuple[str, ...] | None = None,
        max_steps: int = 50,
        success_reward: float = 1.0,
        step_penalty: float = 0.0,
        game_logic: str = "package",
        num_generated: int | None = None,
        generator_seed: int = 0,
        difficulty: Difficulty | dict[str, Any] | None = None,
        expert_plan: bool = False,
        render_mode: str | None = None,
    ) -> None:
        super().__init__(max_steps=max_steps, render_mode=render_mode)
        types = tuple(task_types) if task_types else TASK_TYPES
        unknown = set(types) - set(TASK_TYPES)
        if unknown:
            raise ValueError(f"unknown task types {sorted(unknown)}; expected some of {TASK_TYPES}")
        if game_logic not in GAME_LOGIC:
            raise ValueError(f"game_logic must be one of {GAME_LOGIC}, got {game_logic!r}")
        self.split = split
        self.success_reward = success_reward
        self.step_penalty = step_penalty
        self.game_logic = game_logic
        self.expert_plan = expert_plan
        self.tasks: TaskPool = make_pool(
            split=split,
            source=source,
            data_path=data_path,
            task_types=types,
            num_generated=num_generated,
            generator_seed=generator_seed,
            difficulty=difficulty_from(difficulty),
        )
        self._game: Game | None = None
        self._plan: list[str] = []  # the planner's steps from the current state (expert_plan=True)
        self._game_index: int | None = None
        self._gamefile = ""

    @property
    def num_tasks(self) -> int:
        return len(self.tasks)

    @property
    def task_source(self) -> str:
        """``files`` (real game files) or ``generated`` (the built-in generator, with difficulty knobs)."""
        return self.tasks.source

    def _reset_task(self, options: dict[str, Any]) -> tuple[str, dict[str, Any], list[str] | None]:
        index = self._choose_task(options, len(self.tasks), self.tasks.task_id, f"split {self.split}")
        if self._game is None or self._game_index != index:
            self._drop_game()
            data, path = self.tasks.load(index)
            if self.game_logic == "package":
                try:
                    data = with_package_logic(data)
                except ValueError as error:
                    raise DataError(f"{path}: {error}; try game_logic='archived'") from error
            self._game = Game(data, plan=self.expert_plan)
            self._game_index = index
            self._gamefile = str(path)
        state = self._game.reset()
        info = {
            "task_id": self.tasks.task_id(index),
            "task_index": index,
            "task_type": self.tasks.task_type(index),
            "gamefile": self._gamefile,
            "data_source": self.tasks.source,
            "split": self.split,
            **self._plan_info(state),
        }
        return state.feedback, info, list(state["admissible_commands"])

    def _step_valid(self, action: str) -> tuple[Transition, list[str] | None]:
        assert self._game is not None
        state = self._game.step(action)
        won = bool(state["won"])
        reward = (self.success_reward if won else 0.0) - self.step_penalty
        transition = Transition(state.feedback, reward, won, won, self._plan_info(state))
        return transition, list(state["admissible_commands"])

    def _plan_info(self, state: Any) -> dict[str, Any]:
        self._plan = list(state["policy_commands"] or []) if self.expert_plan else []
        return {"expert_plan": self._plan} if self.expert_plan else {}

    def expert_action(self) -> str:
        """The next step of the engine's planner, replanned from the current state every step (the env
        must be made with ``expert_plan=True``)."""
        if not self.expert_plan:
            raise ValueError("ALFWorldEnv has an expert only when made with expert_plan=True")
        if not self._plan:
            raise ValueError("the planner has no plan from this state")
        return self._plan[0]

    def _drop_game(self) -> None:
        if self._game is not None:
            self._game.close()
        self._game = None
        self._game_index = None

    def close(self) -> None:
        super().close()
        self._drop_game()
