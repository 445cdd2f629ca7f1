"""``resrl/Code-v0``: write a function that passes the problem's tests, in up to ``max_attempts`` tries."""

from __future__ import annotations

import functools
import os
from typing import Any, ClassVar, Protocol

from envs.code.generator import generate_problems
from envs.code.problems import Problem, load_problems, split_problems
from envs.code.program import feedback, test_program
from envs.core import TextEnv, Transition
from sandbox.models import ExecuteRequest, ExecuteResult

INSTRUCTIONS = "Complete the Python function below. Reply with the whole function in a ```python block."


class Executor(Protocol):
    """Runs a program: the in-process :class:`sandbox.executor.Sandbox` or a
    :class:`sandbox.client.SandboxClient`."""

    def execute(self, request: ExecuteRequest) -> ExecuteResult: ...


class CodeEnv(TextEnv):
    """Each step is an attempt: the reply's code runs with the problem's tests in the sandbox.
    Reward ``success_reward`` when every test passes (the episode ends); otherwise the observation is
    the test feedback, until the attempts run out. ``info`` carries ``status`` (the sandbox's),
    ``attempt``, ``task_id`` and, for generated problems, ``task_type`` (the family);
    ``reset(options={"task_index": i})`` or ``{"task_id": ...}`` picks a problem, else it is drawn with
    the env's seed.

    ``source``: "humaneval" (HumanEval, or the JSONL in its format at ``problems_path``) or "generated"
    (``num_problems`` easy problems from :mod:`envs.code.generator`, drawn with ``generator_seed``).

    Programs run in a sandbox service at ``sandbox_url`` (default: ``$RESRL_SANDBOX_URL``) or, with
    neither set, in this process's shared :class:`Sandbox` (needs root, see :mod:`sandbox`).
    """

    max_action_chars: ClassVar[int] = 20_000
    strip_actions: ClassVar[bool] = False  # a function body's indentation is part of it
    invalid_observation: ClassVar[str] = "No code found. Reply with the whole function in a ```python block."

    def __init__(self, *, source: str = "humaneval", problems_path: str | None = None, num_problems: int | None = None,
                 generator_seed: int = 0, split: str = "train", max_attempts: int = 3,
                 timeout_s: float = 10.0, memory_mb: int = 512, success_reward: float = 1.0,
                 sandbox_url: str | None = None, render_mode: str | None = None) -> None:
        super().__init__(max_steps=max_attempts, render_mode=render_mode)
        self.split = split
        self.problems: list[Problem] = split_problems(_problems(source, problems_path, num_problems, generator_seed),
                                                      split)
        if not self.problems:
            raise ValueError(f"split {split!r} of {problems_path or source} has no problems")
        self.timeout_s, self.memory_mb, self.success_reward = timeout_s, memory_mb, success_reward
        self.sandbox_url = sandbox_url or os.environ.get("RESRL_SANDBOX_URL") or None
        self._executor: Executor | None = None
        self._problem = self.problems[0]

    @property
    def num_tasks(self) -> int:
        return len(self.problems)

    def _reset_task(self, options: dict[str, Any]) -> tuple[str, dict[str, Any], list[str] | None]:
        index = self._choose_task(options, len(self.problems), lambda i: self.problems[i].task_id,
                                  f"split {self.split}")
        self._problem = self.problems[index]
        observation = f"{INSTRUCTIONS}\n\n```python\n{self._problem.prompt}```"
        info = {"task_id": self._problem.task_id, "split": self.split}
        if self._problem.task_type:
            info["task_type"] = self._problem.task_type  # evaluation reports success per family
        return observation, info, None

    def expert_action(self) -> str:
        """The problem's canonical solution, as a complete function in a code block."""
        return f"```python\n{self._problem.prompt}{self._problem.canonical_solution}```"

    def _step_valid(self, action: str) -> tuple[Transition, list[str] | None]:
        request = ExecuteRequest(code=test_program(self._problem, action), timeout_s=self.timeout_s,
                                 memory_mb=self.memory_mb)
        result = self.executor.execute(request)
        passed = result.status == "ok"
        info = {"status": result.status, "attempt": self._steps}
        if passed:
            return Transition("All tests passed.", self.success_reward, True, True, info), None
        return Transition(feedback(result, self._steps, self.max_steps), 0.0, False, False, info), None

    @property
    def executor(self) -> Executor:
        """The sandbox, made on first use (so building the env never needs one)."""
        if self._executor is None:
            if self.sandbox_url:
                from sandbox.client import SandboxClient

                self._executor = SandboxClient(self.sandbox_url)
            else:
                from sandbox.executor import shared_sandbox

                self._executor = shared_sandbox()
        return self._executor

    def close(self) -> None:
        super().close()
        if self.sandbox_url and self._executor is not None:
            self._executor.close()  # type: ignore[attr-defined]
            self._executor = None


@functools.cache
def _problems(source: str, path: str | None, count: int | None, seed: int) -> list[Problem]:
    """Problems are read or generated once per process, however many envs use them."""
    if source == "generated":
        if path is not None:
            raise ValueError("problems_path is for source 'humaneval'; generated problems are built in")
        return generate_problems(count, seed)
    if source != "humaneval":
        raise ValueError(f"source must be humaneval or generated; got {source!r}")
    return load_problems(path)
