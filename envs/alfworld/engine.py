"""Thin layer over the real ALFWorld engine (textworld's PDDL env + alfworld's demangler).

Games are loaded from their JSON data (``pddl_domain``, ``grammar``, ``pddl_problem``)
rather than from a path, so the env can swap in the domain and grammar the installed
``alfworld`` package ships while keeping each game's task sentence.
"""

from __future__ import annotations

import copy
import logging
import os
import re
from collections.abc import Callable
from functools import cache, lru_cache
from importlib import resources
from typing import Any

logger = logging.getLogger(__name__)

TASK_PLACEHOLDER = "UNKNOWN GOAL"
_TASK_SENTENCE = re.compile(r"Your task is to: ([^\"\n]*?)\.?\"")


@cache
def package_logic() -> tuple[str, str]:
    """The PDDL domain and the grammar template (with its task placeholder) alfworld ships."""
    data = resources.files("alfworld") / "data"
    return (data / "alfred.pddl").read_text(), (data / "alfred.twl2").read_text()


def task_sentence(game: dict[str, Any]) -> str:
    """The task a game's grammar states, e.g. ``put a clean mug in coffeemachine``."""
    match = _TASK_SENTENCE.search(game.get("grammar", ""))
    if match is None:
        raise ValueError("the game's grammar has no 'Your task is to: ...' sentence")
    return match.group(1)


def with_package_logic(game: dict[str, Any]) -> dict[str, Any]:
    """The same game on the package's domain and grammar (the archived files embed an older
    grammar that says "You arrive at loc 14" instead of naming the receptacle)."""
    domain, grammar = package_logic()
    return {**game, "pddl_domain": domain, "grammar": grammar.replace(TASK_PLACEHOLDER, task_sentence(game))}


@cache
def memoize_text_generation() -> bool:
    """Cache textworld's parsing of grammar templates and rule conditions (once per process).

    textworld re-parses the same few hundred template strings with a PEG parser on every
    step, which is most of a step's time; parsing is pure, so a cache of the parsed
    symbols (handed out as deep copies, since derivation mutates them) gives the same
    text several times faster (see benchmarks/env_step.py). Returns False, with a
    warning, if textworld's internals are not the ones this was written against;
    ``RESRL_GYM_TEXTWORLD_CACHE=0`` turns it off.
    """
    if os.environ.get("RESRL_GYM_TEXTWORLD_CACHE", "1") == "0":
        return False
    from textworld.envs.pddl import textgen
    from textworld.logic import Rule

    parse = getattr(textgen, "_parse_and_convert", None)
    query = getattr(Rule, "parse_conjunctive_query", None)
    if not callable(parse) or not callable(query):
        logger.warning("textworld's text generation changed; ALFWorld runs without the parse cache (slower)")
        return False
    textgen._parse_and_convert = _copying_cache(
        lambda text, rule_name, trace=False: parse(text, rule_name=rule_name, trace=trace)
    )
    Rule.parse_conjunctive_query = staticmethod(_copying_cache(query))
    return True


def _copying_cache(function: Callable[..., Any]) -> Callable[..., Any]:
    cached = lru_cache(maxsize=65_536)(function)
    return lambda *args, **kwargs: copy.deepcopy(cached(*args, **kwargs))


class Game:
    """One loaded ALFWorld game on the real engine; ``reset``/``step`` return textworld states."""

    def __init__(self, data: dict[str, Any], *, plan: bool = False) -> None:
        memoize_text_generation()
        import textworld
        from alfworld.agents.environment.alfred_tw_env import AlfredDemangler
        from textworld.envs.pddl import PddlEnv

        infos = textworld.EnvInfos(won=True, admissible_commands=True, policy_commands=plan)
        self._env = AlfredDemangler(PddlEnv(infos), shuffle=False)
        self._env.load(data)

    def reset(self) -> Any:
        return self._env.reset()

    def step(self, command: str) -> Any:
        state, _score, _done = self._env.step(command)
        return state

    def close(self) -> None:
        self._env.close()


def solve(data: dict[str, Any]) -> list[str] | None:
    """The engine planner's solution from the initial state, or None if it finds none."""
    game = Game(data, plan=True)
    try:
        plan = game.reset()["policy_commands"]
    finally:
        game.close()
    return list(plan) if plan else None
