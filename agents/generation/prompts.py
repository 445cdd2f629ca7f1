"""How observations are shown to the agent and how actions are read back out of a free-form reply.
What the agent is told, and whether a family reads the whole reply, come from the family's
registration (:mod:`envs.family`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from envs import FAMILIES, family_of

_ACTION_LINE = re.compile(r"^\s*(?:[*>#-]\s*)*\**action\**\s*[:：]\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)
_QUOTES = "`'\"*."
_ENCLOSING = ("[]", "<>")  # stripped only as a pair around the whole action (click[Buy Now] keeps its own)


@dataclass(frozen=True)
class ParsedAction:
    """The action read from a reply; ``ok`` is False when the reply held none (``reason`` says why)."""

    action: str
    ok: bool
    reason: str | None = None


def system_prompt(env_id: str) -> str:
    """The system prompt of ``env_id``'s family (its registration, ``envs/<family>/family.py``)."""
    return family_of(env_id).system_prompt


def format_observation(observation: str, available_actions: Sequence[str] | None, *, show_actions: bool) -> str:
    """The user turn: the observation, then the admissible actions when the env lists them."""
    if not show_actions or not available_actions:
        return observation
    return f"{observation}\n\nAvailable actions: {'; '.join(available_actions)}"


def read_action(env_id: str, reply: str, available_actions: Sequence[str] | None = None) -> ParsedAction:
    """The action for ``env_id``: the whole reply where the env reads it itself, else :func:`parse_action`."""
    family = FAMILIES.get(env_id)  # an id nobody registered (a scripted test env) reads the action line
    if family is not None and family.whole_reply:
        return ParsedAction(reply, True) if reply.strip() else ParsedAction("", False, "empty reply")
    return parse_action(reply, available_actions)


def parse_action(reply: str, available_actions: Sequence[str] | None = None) -> ParsedAction:
    """The action in ``reply``: the last ``Action: ...`` line, quotes and brackets stripped; without
    one, the most specific admissible action the reply mentions, or else a reply that is a single
    line. With a list of admissible actions, case and spacing are matched to it (the env still
    judges validity)."""
    matches = _ACTION_LINE.findall(reply)
    lines = [line for line in reply.strip().splitlines() if line.strip()]
    if matches:
        candidate = matches[-1]
    elif mentioned := _mentioned_action(reply, available_actions or ()):
        return ParsedAction(mentioned, True)
    elif len(lines) == 1:
        candidate = lines[0]
    else:
        return ParsedAction("", False, "empty reply" if not lines else "no 'Action: ...' line in a multi-line reply")
    action = " ".join(candidate.strip().strip(_QUOTES).split())
    while action[:1] + action[-1:] in _ENCLOSING and action.count(action[0]) == 1:
        action = action[1:-1].strip().strip(_QUOTES)
    if not action:
        return ParsedAction("", False, "the action line is empty")
    if available_actions:
        canonical = {" ".join(a.lower().split()): a for a in available_actions}
        action = canonical.get(action.lower(), action)
    return ParsedAction(action, True)


def _mentioned_action(reply: str, available_actions: Sequence[str]) -> str | None:
    """The longest admissible action written out in ``reply`` (the earliest among equals)."""
    text = " ".join(reply.lower().split())
    hits = []
    for action in available_actions:
        words = " ".join(action.lower().split())
        match = re.search(rf"(?<!\w){re.escape(words)}(?!\w)", text) if words else None
        if match:
            hits.append((-len(words), match.start(), action))
    return min(hits)[2] if hits else None
