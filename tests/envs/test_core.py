"""The text-env contract and the checker, on a small env written against the base class."""

from __future__ import annotations

from typing import Any

import gymnasium
import pytest

import envs
from envs import EnvCheckError, TextEnv, Transition, check_env
from envs.core import MAX_ACTION_CHARS


class CountingEnv(TextEnv):
    """Say the task's number to win; ``raise_on`` makes it break the contract on purpose."""

    def __init__(self, *, num_tasks: int = 5, max_steps: int = 4, raise_on: str | None = None) -> None:
        super().__init__(max_steps=max_steps)
        self.num_tasks = num_tasks
        self.raise_on = raise_on
        self.closed = 0

    def _reset_task(self, options: dict[str, Any]) -> tuple[str, dict[str, Any], list[str] | None]:
        self.target = int(options.get("task_index", self.np_random.integers(self.num_tasks)))
        return f"Say {self.target}.", {"task_id": f"task-{self.target}"}, None

    def _step_valid(self, action: str) -> tuple[Transition, list[str] | None]:
        if action == self.raise_on:
            raise RuntimeError("boom")
        won = action == str(self.target)
        return Transition("Right!" if won else "Wrong.", float(won), won, won), None

    def _close_task(self) -> None:
        self.closed += 1


def test_episode_flow_and_info_keys() -> None:
    env = CountingEnv()
    obs, info = env.reset(options={"task_index": 3})
    assert obs == "Say 3." and info["task_id"] == "task-3" and info["steps"] == 0
    obs, reward, terminated, truncated, info = env.step("2")
    assert (obs, reward, terminated, truncated, info["success"]) == ("Wrong.", 0.0, False, False, False)
    obs, reward, terminated, truncated, info = env.step(" 3 ")
    assert (reward, terminated, info["success"], info["steps"]) == (1.0, True, True, 2)
    with pytest.raises(gymnasium.error.ResetNeeded):
        env.step("3")


def test_truncation_at_max_steps() -> None:
    env = CountingEnv(max_steps=2)
    env.reset(options={"task_index": 0})
    assert env.step("9")[3] is False
    _, _, terminated, truncated, _ = env.step("9")
    assert truncated and not terminated


@pytest.mark.parametrize("action", ["", "  ", "x" * (MAX_ACTION_CHARS + 1), None, 7])
def test_malformed_actions_are_observations(action: Any) -> None:
    env = CountingEnv()
    env.reset(seed=0)
    obs, reward, terminated, _truncated, info = env.step(action)
    assert obs == "Nothing happens." and info["invalid_action"] and info["invalid_reason"]
    assert reward == 0.0 and not terminated


def test_available_actions_gate_the_engine() -> None:
    class MenuEnv(CountingEnv):
        def _reset_task(self, options: dict[str, Any]) -> tuple[str, dict[str, Any], list[str] | None]:
            obs, info, _ = super()._reset_task(options)
            return obs, info, ["1", "2"]

    env = MenuEnv(raise_on="3")
    env.reset(options={"task_index": 1})
    _, _, _, _, info = env.step("3")  # not on the menu: never reaches _step_valid, so no "boom"
    assert info["invalid_action"] and info["available_actions"] == ["1", "2"]
    assert env.step("1")[2] is True


def test_seeding_reproduces_tasks() -> None:
    env = CountingEnv(num_tasks=1000)
    first = [env.reset(seed=s)[1]["task_id"] for s in range(5)]
    assert first == [env.reset(seed=s)[1]["task_id"] for s in range(5)]
    assert len(set(first)) > 1


def test_close_is_idempotent() -> None:
    env = CountingEnv()
    env.reset(seed=0)
    env.close()
    env.close()
    with pytest.raises(gymnasium.error.ResetNeeded):
        env.step("1")


def test_checker_accepts_a_conforming_env() -> None:
    check_env(CountingEnv(num_tasks=50))


def test_checker_rejects_an_env_that_raises_on_bad_actions() -> None:
    with pytest.raises(EnvCheckError, match="raised"):
        check_env(CountingEnv(num_tasks=50, raise_on="xyzzy plugh frobnicate"))


def test_checker_rejects_unseeded_task_choice() -> None:
    class Unseeded(CountingEnv):
        counter = 0

        def _reset_task(self, options: dict[str, Any]) -> tuple[str, dict[str, Any], list[str] | None]:
            Unseeded.counter += 1
            self.target = Unseeded.counter
            return f"Say {self.target}.", {"task_id": f"task-{self.target}"}, None

    with pytest.raises((EnvCheckError, AssertionError), match=r"(?i)determinis|twice"):
        check_env(Unseeded())


def test_every_env_names_a_held_out_split_it_accepts() -> None:
    from envs import eval_split

    assert eval_split("resrl/ALFWorld-v0") == "eval_out_of_distribution"
    for env_id in set(envs.ENTRY_POINTS) - {"resrl/ALFWorld-v0"}:  # ALFWorld's splits are tested with its env
        env = envs.make_env({"id": env_id, "kwargs": {"split": eval_split(env_id)}})
        assert env.unwrapped.split == eval_split(env_id)  # type: ignore[attr-defined]
