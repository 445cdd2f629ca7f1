from __future__ import annotations

import re

import pytest

import envs
from agents.generation.prompts import ParsedAction, format_observation, parse_action, read_action, system_prompt
from envs.alfworld.family import FAMILY as ALFWORLD
from envs.alfworld.generator import TASK_TYPES
from envs.webshop.family import FAMILY as WEBSHOP

ACTIONS = ["go to countertop 1", "go to countertop 12", "take mug 1 from countertop 1", "look"]


def test_action_line_wins_and_is_stripped() -> None:
    reply = "I should look around first.\nAction: `go to countertop 1`."
    assert parse_action(reply, ACTIONS).action == "go to countertop 1"


def test_last_action_line_is_taken_and_case_matched() -> None:
    reply = "Action: look\nHmm, better:\n**Action:**  Go To   Countertop 12"
    parsed = parse_action(reply, ACTIONS)
    assert parsed.ok and parsed.action == "go to countertop 12"


def test_mentioned_admissible_action_without_marker() -> None:
    reply = "The mug is there.\nI will take mug 1 from countertop 1 now, then look."
    assert parse_action(reply, ACTIONS).action == "take mug 1 from countertop 1"


def test_words_inside_other_words_do_not_count() -> None:
    parsed = parse_action("It looks nice.\nNothing else.", ["look"])
    assert not parsed.ok and parsed.reason is not None


def test_single_line_reply_is_the_action() -> None:
    assert parse_action("open fridge 1").action == "open fridge 1"


def test_unparseable_replies_are_flagged() -> None:
    assert parse_action("").reason == "empty reply"
    assert not parse_action("line one\nline two").ok
    assert parse_action("Action:   ``").reason == "the action line is empty"


def test_family_and_prompts() -> None:
    assert envs.family_of("resrl/ALFWorld-v0").name == "alfworld"
    assert "ALFWorld" in system_prompt("resrl/ALFWorld-v0")
    with pytest.raises(ValueError, match="unknown env 'resrl/Unknown-v0'"):
        system_prompt("resrl/Unknown-v0")
    assert format_observation("obs", ["a", "b"], show_actions=True).endswith("Available actions: a; b")
    assert format_observation("obs", ["a"], show_actions=False) == "obs"
    assert format_observation("obs", None, show_actions=True) == "obs"


def test_code_replies_are_actions_whole() -> None:
    reply = "Sure.\n```python\ndef f():\n    return 1\n```\nAction: nonsense"
    assert read_action("resrl/Code-v0", reply) == ParsedAction(reply, True)
    assert not read_action("resrl/Code-v0", "  \n").ok
    assert read_action("resrl/ALFWorld-v0", "Action: look", ACTIONS).action == "look"
    assert "```python" in system_prompt("resrl/Code-v0")
    prompts = [system_prompt(env_id) for env_id in envs.ENTRY_POINTS]  # every registered family has its own
    assert len(set(prompts)) == len(prompts) == 4 and all(prompts)
    assert {family.name for family in envs.FAMILIES.values()} == {"alfworld", "bfcl", "code", "webshop"}


def test_webshop_actions_keep_their_brackets() -> None:
    actions = ["click[Back to Search]", "click[< Prev]", "click[Next >]", "click[B0ABC]"]
    assert parse_action("I'll go on.\nAction: click[Next >]", actions).action == "click[Next >]"
    assert parse_action("Action: `click[b0abc]`.", actions).action == "click[B0ABC]"
    assert parse_action("Action: search[blue shoes]").action == "search[blue shoes]"
    assert parse_action("Action: [look]").action == "look" and parse_action("Action: <look>").action == "look"


def _template(action: str) -> str:
    """An ALFWorld command with its objects and receptacles ("mug 1") replaced by a placeholder."""
    return re.sub(r"[a-z]+ \d+", "X", action)


def test_every_alfworld_example_action_is_accepted_by_the_default_env() -> None:
    """The planner plays one generated game of each task type in the env's default setting; every
    example the system prompt shows must be admissible (the env's test of validity) somewhere."""
    examples = {_template(action): action for action in ALFWORLD.example_actions}
    assert all(f'"{action}"' in ALFWORLD.system_prompt for action in examples.values())
    accepted: set[str] = set()
    for task_type in TASK_TYPES:
        env = envs.make_env({"id": "resrl/ALFWorld-v0", "kwargs": {
            "source": "generated", "num_generated": 24, "task_types": [task_type], "expert_plan": True}})
        _, info = env.reset(options={"task_index": 0})
        for _ in range(40):
            accepted |= {_template(a) for a in info["available_actions"]}
            _, _, terminated, _, info = env.step(info["expert_plan"][0])
            assert not info["invalid_action"]
            if terminated:
                break
        env.close()
    rejected = [action for template, action in examples.items() if template not in accepted]
    assert not rejected, f"the default ALFWorld env never accepts {rejected}"


def test_every_webshop_example_action_is_accepted_by_the_default_env() -> None:
    env = envs.make_env({"id": "resrl/WebShop-v0", "kwargs": {}})
    searches = [a for a in WEBSHOP.example_actions if a.startswith("search[")]
    for action in searches:
        env.reset(seed=0)
        _, _, _, _, info = env.step(action)
        assert not info["invalid_action"], action
    product = next(a for a in info["available_actions"] if a.startswith("click[") and a[6:-1].isalnum()
                   and a[6:-1].isupper())
    env.step(product)
    for action in set(WEBSHOP.example_actions) - set(searches):
        _, _, terminated, _, info = env.step(action)
        assert not info["invalid_action"] and terminated, action
    env.close()
