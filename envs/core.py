"""The text-environment contract every env of the suite implements.

A ``TextEnv`` is a ``gymnasium.Env`` with ``str`` observations and ``str`` actions. The
base class owns what must behave the same everywhere: seeding, the step budget
(``truncated``), turning malformed actions into an observation plus an ``info`` flag
(never an exception), and the ``info`` keys every env reports. Subclasses implement
``_reset_task`` and ``_step_valid``.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import gymnasium
from gymnasium import spaces

MAX_ACTION_CHARS = 2_000
MAX_TEXT_CHARS = 1_000_000
INFO_KEYS: tuple[str, ...] = ("task_id", "success", "invalid_action", "available_actions", "steps")


class EpisodeLostError(RuntimeError):
    """The episode cannot go on for a reason outside the env's rules (e.g. its server went away):
    not a result to learn from; playing it again, elsewhere, is the remedy."""


class TextSpace(spaces.Text):
    """Any Python string up to ``max_length`` characters.

    Gymnasium's ``Text`` space only admits a fixed charset; game text holds punctuation,
    newlines and (for shops and code) arbitrary Unicode, so membership only checks the
    type and length. Sampling still draws from printable ASCII.
    """

    def __init__(self, max_length: int = MAX_TEXT_CHARS) -> None:
        printable = "".join(chr(c) for c in range(32, 127)) + "\n"
        super().__init__(max_length=max_length, min_length=0, charset=printable)

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and len(x) <= self.max_length


@dataclass
class Transition:
    """What a subclass returns from one valid step; the base adds the shared info keys."""

    observation: str
    reward: float
    terminated: bool
    success: bool
    info: dict[str, Any] = field(default_factory=dict)
    invalid: bool = False


class TextEnv(gymnasium.Env[str, str]):
    """Base class of every text env: see the module docstring for the contract."""

    metadata = {"render_modes": ["ansi"]}  # noqa: RUF012 (Gymnasium's own convention)
    invalid_observation: ClassVar[str] = "Nothing happens."
    max_action_chars: ClassVar[int] = MAX_ACTION_CHARS  # envs whose actions are programs allow more
    strip_actions: ClassVar[bool] = True  # False where leading whitespace means something (code)
    # modules a server imports once, before it forks the processes that host this env's sessions
    preload_modules: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, max_steps: int, render_mode: str | None = None) -> None:
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}")
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.max_steps = max_steps
        self.render_mode = render_mode
        self.observation_space = TextSpace()
        self.action_space = TextSpace(self.max_action_chars)
        self._steps = 0
        self._episode_over = True
        self._last_observation = ""
        self._task_info: dict[str, Any] = {}
        self._available_actions: list[str] | None = None

    # -- what subclasses implement -------------------------------------------------------
    @abstractmethod
    def _reset_task(self, options: dict[str, Any]) -> tuple[str, dict[str, Any], list[str] | None]:
        """Start an episode (task chosen from ``options`` or ``self.np_random``).

        Returns the first observation, per-episode info (must include ``task_id``) and
        the available actions (None where the env has no closed action set).
        """

    @abstractmethod
    def _step_valid(self, action: str) -> tuple[Transition, list[str] | None]:
        """Apply a well-formed action; return the transition and the new available actions."""

    def _close_task(self) -> None:
        """Release per-episode engine resources (default: nothing to release)."""

    def expert_action(self) -> str:
        """What an expert does now in the current episode (warm-start demonstrations write it as a reply
        with ``EnvFamily.expert_reply``). Envs without an expert raise ``NotImplementedError``."""
        raise NotImplementedError(f"{type(self).__name__} has no expert")

    # -- the Gymnasium API ----------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        self._close_task()
        observation, task_info, actions = self._reset_task(dict(options or {}))
        self._steps = 0
        self._episode_over = False
        self._task_info = task_info
        self._available_actions = actions
        self._last_observation = observation
        return observation, self._info(success=False, invalid=False, extra={})

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self._episode_over:
            raise gymnasium.error.ResetNeeded("the episode is over (or never started): call reset() first")
        self._steps += 1
        problem = self.action_problem(action)
        if problem is not None:
            transition = Transition(
                self.invalid_observation, 0.0, False, False, {"invalid_reason": problem}, invalid=True
            )
        else:
            transition, self._available_actions = self._step_valid(action.strip() if self.strip_actions else action)
        truncated = not transition.terminated and self._steps >= self.max_steps
        self._episode_over = transition.terminated or truncated
        self._last_observation = transition.observation
        info = self._info(success=transition.success, invalid=transition.invalid, extra=transition.info)
        return transition.observation, transition.reward, transition.terminated, truncated, info

    def action_problem(self, action: Any) -> str | None:
        """Why an action is malformed before the env even looks at it, or None."""
        if not isinstance(action, str):
            return f"action must be a string, got {type(action).__name__}"
        if not action.strip():
            return "empty action"
        if len(action) > self.max_action_chars:
            return f"action longer than {self.max_action_chars} characters"
        if self._available_actions is not None and action.strip() not in self._available_actions:
            return "not an available action"
        return None

    def _choose_task(self, options: dict[str, Any], count: int, task_id: Callable[[int], str], where: str) -> int:
        """The task ``reset(options=...)`` asks for (``task_index`` or ``task_id``), else one drawn with
        the env's seeded generator. ``where`` names the task set in errors (e.g. the split)."""
        unknown = set(options) - {"task_index", "task_id"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; use 'task_index' or 'task_id'")
        if "task_id" in options:
            found = next((index for index in range(count) if task_id(index) == options["task_id"]), None)
            if found is None:
                raise ValueError(f"no task {options['task_id']!r} in {where}")
            return found
        if "task_index" in options:
            index = int(options["task_index"])
            if not 0 <= index < count:
                raise ValueError(f"task_index {index} out of range: {where} has {count} tasks")
            return index
        return int(self.np_random.integers(count))

    def render(self) -> str | None:
        return self._last_observation if self.render_mode == "ansi" else None

    def close(self) -> None:
        self._close_task()
        self._episode_over = True

    def _info(self, *, success: bool, invalid: bool, extra: dict[str, Any]) -> dict[str, Any]:
        actions = list(self._available_actions) if self._available_actions is not None else None
        return {
            **self._task_info,
            **extra,
            "success": success,
            "invalid_action": invalid,
            "available_actions": actions,
            "steps": self._steps,
        }
