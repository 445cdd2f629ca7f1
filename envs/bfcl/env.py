"""``resrl/BFCL-v0``: answer with function calls; rewards from BFCL's own checkers.

Single-turn categories (``simple_python``, ``multiple``, ``parallel``, ``live_*``, ...): one step; the
reply's calls are scored by BFCL's AST checker (irrelevance: 1.0 when the reply makes no call;
live_relevance: when it makes any). Multi-turn categories: a stateful episode on fresh instances of
BFCL's backends, loaded with the entry's initial config. Each step may issue calls, whose results
are the next observation; a reply without calls ends the user turn and the next one follows
(the documentation of functions held out in ``miss_func`` appears at their turn). At the end of each turn the ground
truth's calls run on their own fresh instances and BFCL's rule is applied: equal public state of
every instance, and every ground-truth result among the model's results so far. Reward 1.0 when
every turn passes, paid at the end (``reward_mode="episode"``) or 1/turns per passing turn as it
ends (``"turn"``). More than ``max_steps_per_turn`` steps in one turn ends the episode with 0, as
BFCL's harness force-terminates it.

Calls are parsed, never evaluated (``envs.bfcl.calls``): only offered functions, literal
arguments; anything else is an invalid action with the reason, and runs nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from envs.bfcl.calls import Call, CallError, parse_calls
from envs.bfcl.data import CATEGORIES, Entry, load_entries, openai_tools, split_entries
from envs.bfcl.expert import expert_reply, expert_turn_reply
from envs.bfcl.official import ast_checker, new_backend, state_and_response_check
from envs.core import TextEnv, Transition

CALL_FORMAT = ("Call functions by replying with a Python list of calls, e.g. [func_a(x=1), func_b(name='text')], "
               "with every argument by keyword. If no function fits, or you are done, reply in plain words.")
NEW_FUNCTIONS = "I have updated some more functions you can choose from. What about now?"
REWARD_MODES = ("episode", "turn")


class BFCLEnv(TextEnv):
    """See the module docstring. ``info`` carries ``category``, ``tools`` (the functions as an
    OpenAI-style tool list) and, multi-turn, ``turn``; the step that decides the reward adds
    ``checker`` (BFCL's verdict)."""

    max_action_chars: ClassVar[int] = 20_000

    def __init__(self, *, category: str = "simple_python", split: str = "train", data_path: str | None = None,
                 reward_mode: str = "episode", max_steps_per_turn: int = 20, render_mode: str | None = None) -> None:
        super().__init__(max_steps=1, render_mode=render_mode)
        if category not in CATEGORIES:
            raise ValueError(f"unknown BFCL category {category!r}; expected one of {CATEGORIES}")
        if reward_mode not in REWARD_MODES:
            raise ValueError(f"reward_mode must be one of {REWARD_MODES}, got {reward_mode!r}")
        self.category, self.split, self.reward_mode = category, split, reward_mode
        self.max_steps_per_turn = max_steps_per_turn
        self.entries = split_entries(load_entries(category, Path(data_path) if data_path else None), split)
        if not self.entries:
            raise ValueError(f"split {split!r} of {category} has no entries")
        self._entry = self.entries[0]
        self._episode: _MultiTurnEpisode | None = None

    @property
    def num_tasks(self) -> int:
        return len(self.entries)

    def _reset_task(self, options: dict[str, Any]) -> tuple[str, dict[str, Any], list[str] | None]:
        index = self._choose_task(options, len(self.entries), lambda i: self.entries[i].id,
                                  f"split {self.split} of {self.category}")
        entry = self._entry = self.entries[index]
        info: dict[str, Any] = {"task_id": entry.id, "category": entry.category, "split": self.split}
        if not entry.multi_turn:
            self.max_steps = 1
            info["tools"] = openai_tools(entry.functions)
            return _first_observation(entry.functions, entry.turns[0]), info, None
        self._episode = _MultiTurnEpisode(entry)
        self.max_steps = len(entry.turns) * (self.max_steps_per_turn + 1)
        info["tools"] = openai_tools(self._episode.offered())
        return _first_observation(self._episode.offered(), entry.turns[0]), info, None

    def expert_action(self) -> str:
        """The ground truth's calls as the policy is asked to reply: a single-turn entry's whole answer;
        multi-turn, each user turn's calls in one reply, then a plain reply that ends the turn."""
        if self._entry.multi_turn and self._episode is not None:
            return expert_turn_reply(self._entry, self._episode.turn, called=self._episode.steps_in_turn > 0)
        return expert_reply(self._entry)

    def _step_valid(self, action: str) -> tuple[Transition, list[str] | None]:
        if self._entry.multi_turn:
            assert self._episode is not None
            return self._step_multi_turn(self._episode, action), None
        return self._step_single_turn(action), None

    def _step_single_turn(self, action: str) -> Transition:
        entry = self._entry
        try:
            calls = parse_calls(action, {f["name"] for f in entry.functions}, positional=False)
        except CallError as error:
            return _invalid(error)
        if "irrelevance" in entry.category:
            passed = not calls
            verdict: dict[str, Any] = {"valid": passed}
        elif entry.category == "live_relevance":
            passed = bool(calls)
            verdict = {"valid": passed}
        else:
            verdict = ast_checker()(entry.functions, [c.decoded() for c in calls or []], entry.ground_truth,
                                    entry.category)
            passed = bool(verdict["valid"])
        observation = "Correct." if passed else f"Incorrect. {'; '.join(map(str, verdict.get('error', [])))}"
        info = {"checker": _jsonable(verdict)}
        return Transition(observation.strip(), 1.0 if passed else 0.0, True, passed, info)

    def _step_multi_turn(self, episode: _MultiTurnEpisode, action: str) -> Transition:
        try:
            # Held-out functions are callable before their docs appear, as in BFCL (some ground truths do).
            calls = parse_calls(action, {f["name"] for f in episode.entry.functions})
        except CallError as error:
            step = _invalid(error, {"turn": episode.turn})
        else:
            if not calls:  # a plain answer ends the user turn
                return self._end_turn(episode)
            step = Transition(episode.run(calls), 0.0, False, False, {"turn": episode.turn})
        episode.steps_in_turn += 1
        if episode.steps_in_turn >= self.max_steps_per_turn:
            verdict = {"valid": False, "error_type": "multi_turn:force_terminated",
                       "error_message": f"more than {self.max_steps_per_turn} steps in turn {episode.turn}"}
            return Transition(f"{self.max_steps_per_turn} steps in one turn: the episode ends.", 0.0, True, False,
                              {"turn": episode.turn, "checker": verdict}, invalid=step.invalid)
        return step

    def _end_turn(self, episode: _MultiTurnEpisode) -> Transition:
        passed_before = episode.all_passed
        turn_passed = episode.check_turn()
        turns = len(self._entry.turns)
        last = episode.turn == turns - 1
        if self.reward_mode == "turn":
            reward = 1.0 / turns if turn_passed and passed_before else 0.0
        else:
            reward = 1.0 if last and episode.all_passed else 0.0
        info: dict[str, Any] = {"turn": episode.turn, "turn_passed": turn_passed}
        if last:
            info["checker"] = _jsonable(episode.first_failure or {"valid": True})
            return Transition("The conversation is over.", reward, True, episode.all_passed, info)
        observation, new_functions = episode.next_turn()
        if new_functions:
            info["tools"] = openai_tools(episode.offered())
        return Transition(observation, reward, False, False, info)


class _MultiTurnEpisode:
    """One multi-turn conversation: the model's instances, the ground truth's, and the verdicts so far."""

    def __init__(self, entry: Entry) -> None:
        self.entry = entry
        self.model, self.truth = self._instances(), self._instances()
        # method name → instance, worked out once (the backends' methods never change)
        self.model_methods, self.truth_methods = _method_owner(self.model), _method_owner(self.truth)
        self.turn = 0
        self.steps_in_turn = 0
        self.turn_calls = 0
        self.model_results: list[str] = []
        self.first_failure: dict[str, Any] | None = None
        self.hidden = {name for names in entry.missed_functions.values() for name in names}

    def _instances(self) -> dict[str, Any]:
        long_context = "long_context" in self.entry.category
        return {name: new_backend(name, self.entry.initial_config, long_context=long_context)
                for name in self.entry.involved_classes}

    @property
    def all_passed(self) -> bool:
        return self.first_failure is None

    def offered(self) -> list[dict[str, Any]]:
        return [f for f in self.entry.functions if f["name"] not in self.hidden]

    def run(self, calls: list[Call]) -> str:
        results = [_execute(self.model_methods, call) for call in calls]
        self.model_results.extend(results)
        self.turn_calls += len(calls)
        return "\n".join(f"{call.text()} -> {result}" for call, result in zip(calls, results, strict=True))

    def check_turn(self) -> bool:
        """Run the turn's ground truth and apply BFCL's rule; remembers the first failure."""
        truth_calls = [c for text in self.entry.ground_truth[self.turn]
                       for c in parse_calls(text, self.truth_methods) or []]
        truth_results = [_execute(self.truth_methods, call) for call in truth_calls]
        if not truth_calls:
            verdict: dict[str, Any] = {"valid": True}
        elif not self.turn_calls:
            verdict = {"valid": False, "error_type": "multi_turn:empty_turn_model_response",
                       "error_message": f"Model response list is empty for turn {self.turn}"}
        else:
            verdict = state_and_response_check(self.model, self.truth, self.model_results, truth_results, self.turn)
        if not verdict["valid"] and self.first_failure is None:
            self.first_failure = verdict
        return bool(verdict["valid"])

    def next_turn(self) -> tuple[str, bool]:
        """Move to the next user turn: its message, and whether functions were revealed in it."""
        self.turn += 1
        self.steps_in_turn = self.turn_calls = 0
        revealed = set(self.entry.missed_functions.get(self.turn, []))
        self.hidden -= revealed
        if revealed:
            docs = [f for f in self.entry.functions if f["name"] in revealed]
            return f"{json.dumps(docs)}\n{NEW_FUNCTIONS}", True
        return _messages(self.entry.turns[self.turn]), False


def _method_owner(instances: dict[str, Any]) -> dict[str, Any]:
    """Public method name → the instance it runs on (a later class wins a clash, as in BFCL)."""
    owners = {}
    for instance in instances.values():
        for name in dir(instance):
            if not name.startswith("_") and callable(getattr(instance, name)):
                owners[name] = instance
    return owners


def _execute(methods: dict[str, Any], call: Call) -> str:
    """Run one call on the episode's own instances (``methods``: name → instance); the result as BFCL renders it."""
    owner = methods.get(call.name)
    try:
        if owner is None:
            raise NameError(f"name '{call.name}' is not defined")
        result = getattr(owner, call.name)(*call.args, **call.kwargs)
    except Exception as error:  # a backend's own error is the model's feedback, as in BFCL
        return f"Error during execution: {error}"
    if isinstance(result, str):
        return result
    if isinstance(result, dict):
        try:
            return json.dumps(result)
        except (TypeError, ValueError):
            return str(result)
    return str(result)


def _messages(turn: list[dict[str, str]]) -> str:
    if len(turn) == 1 and turn[0].get("role") == "user":
        return str(turn[0]["content"])
    return "\n".join(f"{m.get('role', 'user')}: {m.get('content', '')}" for m in turn)


def _first_observation(functions: list[dict[str, Any]], turn: list[dict[str, str]]) -> str:
    return f"{_messages(turn)}\n\nFunctions you can call (JSON):\n{json.dumps(functions)}\n\n{CALL_FORMAT}"


def _invalid(error: CallError, info: dict[str, Any] | None = None) -> Transition:
    return Transition(f"Invalid call, nothing was run: {error}", 0.0, False, False,
                      {**(info or {}), "invalid_reason": str(error)}, invalid=True)


def _jsonable(value: Any) -> Any:
    """A checker verdict made JSON-safe (they can hold tuples, sets and arbitrary values)."""
    return json.loads(json.dumps(value, default=str))
