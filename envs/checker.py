"""``check_env``: the checks every registered text env must pass (Gymnasium's own, plus text ones)."""

from __future__ import annotations

import warnings
from typing import Any

import gymnasium
from gymnasium.utils.env_checker import check_env as gymnasium_check_env

from envs.core import INFO_KEYS, MAX_ACTION_CHARS

# Malformed for every env: these must be flagged invalid.
MALFORMED_ACTIONS: tuple[Any, ...] = ("", "   ", "x" * 100_000, None, 42)
# Nonsense: must never raise, and must be flagged when the env lists its available actions.
NONSENSE_ACTIONS: tuple[str, ...] = ("ñandú → 北京 🚀", "xyzzy plugh frobnicate", "go to [unbalanced", "\x00\x1b[2J")


class EnvCheckError(AssertionError):
    """An env broke the text-env contract."""


def check_env(env: gymnasium.Env[Any, Any], *, seeds: tuple[int, ...] = (0, 1, 2, 3, 4, 5)) -> None:
    """Raise :class:`EnvCheckError` if ``env`` breaks the contract of ``envs.core.TextEnv``.

    Runs Gymnasium's checker, then: observations are ``str`` and ``info`` has the shared
    keys; the same seed gives the same task and first observation, different seeds give
    different tasks (when the env has several); malformed actions return an observation
    and ``invalid_action=True`` without raising (nonsense ones too, where the env lists
    its available actions); ``close()`` can be called twice.
    """
    base = env.unwrapped
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gymnasium_check_env(base, skip_render_check=True, skip_close_check=True)

    first = [_reset(base, seed) for seed in seeds]
    again = _reset(base, seeds[0])
    _expect(again == first[0], f"reset(seed={seeds[0]}) twice gave different tasks or observations")
    tasks = {task for task, _ in first}
    _expect(len(tasks) > 1 or getattr(base, "num_tasks", 2) == 1, f"seeds {seeds} all gave the task {tasks}")

    _, info = base.reset(seed=seeds[0])
    for action in MALFORMED_ACTIONS + NONSENSE_ACTIONS:
        listed = info["available_actions"]
        must_flag = action in MALFORMED_ACTIONS or (listed is not None and action not in listed)
        try:
            observation, reward, terminated, truncated, info = base.step(action)
        except Exception as error:  # the contract: malformed actions never raise
            raise EnvCheckError(f"step({_short(action)}) raised {error!r}") from error
        _expect(isinstance(observation, str) and observation != "", f"step({_short(action)}) gave no text observation")
        _expect(
            info.get("invalid_action") is True or not must_flag,
            f"step({_short(action)}) did not set info['invalid_action']",
        )
        _check_info(info, f"step({_short(action)})")
        _expect(isinstance(reward, float | int), f"step({_short(action)}) gave a non-numeric reward")
        _expect(not terminated or not must_flag, f"step({_short(action)}) ended the episode")
        if terminated or truncated:
            _, info = base.reset(seed=seeds[0])

    base.close()
    base.close()


def _reset(env: gymnasium.Env[Any, Any], seed: int) -> tuple[str, str]:
    observation, info = env.reset(seed=seed)
    _expect(isinstance(observation, str) and observation != "", f"reset(seed={seed}) gave no text observation")
    _check_info(info, f"reset(seed={seed})")
    return str(info["task_id"]), observation


def _check_info(info: dict[str, Any], where: str) -> None:
    missing = [key for key in INFO_KEYS if key not in info]
    _expect(not missing, f"{where}: info lacks {missing}")
    actions = info["available_actions"]
    _expect(
        actions is None or all(isinstance(a, str) and len(a) <= MAX_ACTION_CHARS for a in actions),
        f"{where}: available_actions must be None or a list of short strings",
    )


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise EnvCheckError(message)


def _short(action: Any) -> str:
    text = repr(action)
    return text if len(text) <= 40 else text[:37] + "..."
