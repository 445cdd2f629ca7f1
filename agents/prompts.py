"""What the agent is told per env family, how observations are shown, and how actions are read
back out of a free-form reply."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_ACTION_SYNTAX = """Think briefly if you need to, then end your reply with exactly one line:
Action: <your action>"""

# Actions each prompt shows, in the grammar of the env's default setting (ALFWorld's package logic
# says "move X to Y" where the archived games say "put X in/on Y"); tests play every one of them.
EXAMPLE_ACTIONS = {
    "alfworld": ("go to countertop 1", "take mug 1 from countertop 1", "move mug 1 to coffeemachine 1",
                 "open fridge 1", "heat mug 1 with microwave 1", "use desklamp 1"),
    "webshop": ("search[blue wireless headphones]", "click[Buy Now]", "search[long clip-in hair extension]"),
}
_ALFWORLD, _WEBSHOP = EXAMPLE_ACTIONS["alfworld"], EXAMPLE_ACTIONS["webshop"]

SYSTEM_PROMPTS = {
    "alfworld": f"""You are an agent in a text-based household (ALFWorld). Each turn you read what you \
observe and the actions available to you, and you choose one action to get closer to your task.
Actions look like {", ".join(f'"{a}"' for a in _ALFWORLD)}.
{_ACTION_SYNTAX}
For example:
Action: {_ALFWORLD[0]}""",
    "code": """You are an expert Python programmer. Each turn you get a function to write, or the test \
output of your last attempt. Reply with the complete function (imports included) in one ```python block.""",
    "webshop": f"""You are shopping online (WebShop) for the product the instruction describes. On the \
search page you can search; on other pages you click what the page lists in [brackets]: a product, \
its options (choose the ones the instruction asks for), "< Prev", "Next >", "Back to Search", and \
"Buy Now" when the product and options are right.
Actions look like "{_WEBSHOP[0]}" or "{_WEBSHOP[1]}".
{_ACTION_SYNTAX}
For example:
Action: {_WEBSHOP[2]}""",
    "bfcl": """You are an expert in composing functions. You are given a question and a set of possible \
functions. Based on the question, make one or more function calls to achieve the purpose. To call \
functions, reply with only a Python list of calls, with every argument by keyword, e.g.
[func_name1(param=value), func_name2(param=value)]
If none of the functions can be used, or the request lacks parameters a function requires, say so \
in plain words instead. Function results come back to you; when the task is done, answer in plain words.""",
}
# Families whose action is the whole reply (the env reads the code or calls out of it itself).
WHOLE_REPLY_FAMILIES = frozenset({"code", "bfcl"})
GENERIC_SYSTEM_PROMPT = f"""You are an agent in a text environment. Each turn you read an observation and \
choose one action to complete your task.
{_ACTION_SYNTAX}"""

_ACTION_LINE = re.compile(r"^\s*(?:[*>#-]\s*)*\**action\**\s*[:：]\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)
_QUOTES = "`'\"*."
_ENCLOSING = ("[]", "<>")  # stripped only as a pair around the whole action (click[Buy Now] keeps its own)


@dataclass(frozen=True)
class ParsedAction:
    """The action read from a reply; ``ok`` is False when the reply held none (``reason`` says why)."""

    action: str
    ok: bool
    reason: str | None = None


def family(env_id: str) -> str:
    """The env family of a registered id: ``resrl/ALFWorld-v0`` → ``alfworld``."""
    return env_id.rsplit("/", 1)[-1].split("-v", 1)[0].lower()


def system_prompt(env_id: str) -> str:
    """The system prompt for ``env_id``'s family (a generic one for families without their own)."""
    return SYSTEM_PROMPTS.get(family(env_id), GENERIC_SYSTEM_PROMPT)


def format_observation(observation: str, available_actions: Sequence[str] | None, *, show_actions: bool) -> str:
    """The user turn: the observation, then the admissible actions when the env lists them."""
    if not show_actions or not available_actions:
        return observation
    return f"{observation}\n\nAvailable actions: {'; '.join(available_actions)}"


def read_action(env_id: str, reply: str, available_actions: Sequence[str] | None = None) -> ParsedAction:
    """The action for ``env_id``: the whole reply where the env reads it itself, else :func:`parse_action`."""
    if family(env_id) in WHOLE_REPLY_FAMILIES:
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
