"""Generated bad input (hypothesis) against every env: whatever an agent sends, and in whatever order
it calls ``reset`` and ``step``, nothing raises out of the env except Gymnasium's ``ResetNeeded``
after an episode ended, and every answer keeps the contract."""

from __future__ import annotations

from typing import Any

import gymnasium
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import envs
from envs.core import INFO_KEYS

ENVS: dict[str, dict[str, Any]] = {
    "resrl/ALFWorld-v0": {"source": "generated", "split": "train", "num_generated": 8},
    "resrl/WebShop-v0": {"split": "eval"},
    "resrl/BFCL-v0": {"category": "multi_turn_base", "split": "eval"},
    "resrl/Code-v0": {"split": "eval", "timeout_s": 2.0},
}
# actions an agent could send: any text (unicode, control characters, very long), near-misses of
# each env's syntax, and values that are not text at all
SYNTAX = ["go to ", "take ", "search[", "click[", "[", "(", "```python\n", "def ", "Action: ", "\x00", "]"]
ACTIONS = st.one_of(
    st.text(max_size=300),
    st.builds(lambda prefix, rest: prefix + rest, st.sampled_from(SYNTAX), st.text(max_size=200)),
    st.text(min_size=2_000, max_size=20_000),
    st.none(), st.integers(), st.floats(allow_nan=True), st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
)
CALLS = st.lists(st.one_of(st.tuples(st.just("reset"), st.integers(-(2**31), 2**31)),
                           st.tuples(st.just("step"), ACTIONS)), min_size=1, max_size=8)
EXAMPLES = {"resrl/ALFWorld-v0": 20, "resrl/Code-v0": 25}  # their resets and steps cost the most


@pytest.fixture(scope="module", params=list(ENVS))
def env(request: pytest.FixtureRequest) -> Any:
    made = envs.make_env({"id": request.param, "kwargs": ENVS[request.param]})
    yield made
    made.close()


def run_calls(env: gymnasium.Env[Any, Any], calls: list[tuple[str, Any]]) -> None:
    for kind, value in calls:
        if kind == "reset":
            observation, info = env.reset(seed=value % 2**31)
            assert isinstance(observation, str) and observation
            assert set(INFO_KEYS) <= set(info)
            continue
        try:
            observation, reward, terminated, truncated, info = env.step(value)
        except gymnasium.error.ResetNeeded:
            continue  # the one exception the contract allows: a step with no episode running (yet)
        assert isinstance(observation, str) and observation
        assert isinstance(reward, float | int) and isinstance(terminated, bool) and isinstance(truncated, bool)
        assert set(INFO_KEYS) <= set(info)
        if not isinstance(value, str):
            assert info["invalid_action"] is True


@pytest.mark.slow
def test_no_input_breaks_an_env(env: gymnasium.Env[Any, Any]) -> None:
    env_id = env.spec.id if env.spec else ""

    @settings(max_examples=EXAMPLES.get(env_id, 100), deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(CALLS)
    def check(calls: list[tuple[str, Any]]) -> None:
        run_calls(env, calls)

    check()
