"""Expert answers for BFCL entries, built from the ground truth: demonstrations for a supervised warm
start (``agents.warmstart``) and correct answers for tests; never shown to a policy during RL."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from envs.bfcl.calls import Call
from envs.bfcl.data import Entry


def expert_calls(entry: Entry) -> list[Call]:
    """Every ground-truth call with an accepted value per parameter; optional parameters the ground
    truth allows to leave out are left out."""
    if entry.multi_turn:
        raise ValueError(f"{entry.id}: expert answers exist for single-turn entries only")
    calls = []
    for truth in entry.ground_truth:
        ((name, params),) = truth.items()
        function = next(f for f in entry.functions if f["name"] == name)
        required = function["parameters"].get("required", [])
        kwargs = {}
        for key, options in params.items():
            if any(o != "" for o in options) and ("" not in options or key in required):
                kwargs[key] = _pick(options)
            elif key in required:
                kwargs[key] = ""  # a required parameter whose only accepted value is the empty string
        calls.append(Call(name, (), kwargs))
    return calls


def expert_reply(entry: Entry) -> str:
    """:func:`expert_calls` written as the policy is asked to reply: a Python list of calls."""
    return _call_list(call.text() for call in expert_calls(entry))


def expert_turn_reply(entry: Entry, turn: int, *, called: bool) -> str:
    """Multi-turn: the user turn's ground-truth calls as one reply, then (``called``) a plain reply that
    ends the turn. BFCL's rule compares state and results, not how the calls are split into steps."""
    calls = entry.ground_truth[turn]
    return _call_list(calls) if calls and not called else "Done."


def _call_list(calls: Iterable[str]) -> str:
    """Calls written as the policy is asked to reply: a Python list."""
    return f"[{', '.join(calls)}]"


def _pick(options: list[Any]) -> Any:
    return _resolve(next(option for option in options if option != ""))


def _resolve(value: Any) -> Any:
    """An accepted value → one concrete value (nested dicts hold a list of accepted values per key)."""
    if isinstance(value, dict) and all(isinstance(v, list) for v in value.values()):
        return {k: _pick(v) for k, v in value.items() if any(o != "" for o in v) and "" not in v}
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [_resolve(v) for v in value]
    return value
