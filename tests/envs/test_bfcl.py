"""``resrl/BFCL-v0`` against BFCL's official checkers, on every entry of the offered categories.

Answers are built from the ground truth (correct) and then corrupted (a wrong value, a wrong
function, a missing call, an extra call); the env's reward must agree with BFCL's own verdict on
the same calls: its AST checker for single-turn, its full ``multi_turn_checker`` (which re-executes
the calls itself, with ``eval`` on these trusted test strings) for multi-turn.
"""

from __future__ import annotations

import copy
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

import envs
from envs.bfcl.calls import Call, CallError, parse_calls
from envs.bfcl.data import AST_CATEGORIES, MULTI_TURN_CATEGORIES, Entry, data_dir, load_entries, split_entries
from envs.bfcl.env import BFCLEnv
from envs.bfcl.expert import expert_calls, expert_reply
from envs.bfcl.official import ast_checker
from envs.checker import check_env

GROUND_TRUTH_CATEGORIES = [c for c in AST_CATEGORIES if "relevance" not in c]


# -- answers built from the ground truth (envs.bfcl.expert) --------------------------------------
def wrong_value(calls: list[Call]) -> list[Call] | None:
    for index, call in enumerate(calls):
        for key, value in call.kwargs.items():
            changed = _changed(value)
            if changed is not None:
                return [*calls[:index], Call(call.name, call.args, {**call.kwargs, key: changed}), *calls[index + 1:]]
    return None


def _changed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 7
    if isinstance(value, str):
        return value + "zq"
    if isinstance(value, list):
        return [*value, "zq"]
    return None


def text(calls: list[Call]) -> str:
    return "[" + ", ".join(call.text() for call in calls) + "]"


def unsatisfiable(entry: Entry) -> bool:
    """Ground truth no answer can meet: it accepts no value for a parameter its function requires, or
    demands a parameter the function does not have."""
    for truth in entry.ground_truth:
        ((name, params),) = truth.items()
        schema = next(f for f in entry.functions if f["name"] == name)["parameters"]
        if any(not params.get(p) for p in schema.get("required", [])):
            return True
        if any(p not in schema.get("properties", {}) and "" not in options for p, options in params.items()):
            return True
    return False


def env_reward(env: BFCLEnv, entry: Entry, answer: str) -> float:
    env.reset(options={"task_id": entry.id})
    return env.step(answer)[1]


# -- single turn ------------------------------------------------------------------------------------
@pytest.mark.parametrize("category", GROUND_TRUTH_CATEGORIES)
def test_ast_rewards_agree_with_the_official_checker(category: str) -> None:
    env, check = BFCLEnv(category=category, split="all"), ast_checker()
    agree = total = correct = rejected = 0
    impossible = []
    for entry in env.entries:
        if unsatisfiable(entry):
            impossible.append(entry.id)
            continue
        calls = expert_calls(entry)
        variants = {"ground truth": calls, "wrong value": wrong_value(calls),
                    "wrong function": [Call(calls[0].name + "_x", (), calls[0].kwargs), *calls[1:]],
                    "missing call": calls[:-1], "extra call": [*calls, calls[0]]}
        for name, variant in variants.items():
            if variant is None:
                continue
            official = bool(check(entry.functions, [c.decoded() for c in variant], entry.ground_truth,
                                  category)["valid"])
            answer = expert_reply(entry) if name == "ground truth" else text(variant)  # the warm start's replies
            reward = env_reward(env, entry, answer)
            total += 1
            agree += reward == float(official)
            assert reward == float(official), (entry.id, name, text(variant)[:300])
            if name == "ground truth":
                correct += reward == 1.0
            else:
                rejected += reward == 0.0
    print(f"{category}: {agree}/{total} agree; ground truth 1.0 on {correct}/{len(env.entries) - len(impossible)}; "
          f"corrupted answers scoring 0: {rejected}/{total - correct}; unsatisfiable ground truth: {impossible}",
          file=sys.stderr)
    assert correct == len(env.entries) - len(impossible)
    assert len(impossible) <= 2


@pytest.mark.parametrize("category", ["irrelevance", "live_irrelevance", "live_relevance"])
def test_relevance_categories(category: str) -> None:
    env = BFCLEnv(category=category, split="all")
    for entry in env.entries[:100]:
        function = entry.functions[0]
        call = f"[{function['name']}(" + ", ".join(f"{p}=1" for p in function["parameters"].get("required", [])) + ")]"
        expect_call = category == "live_relevance"
        assert env_reward(env, entry, "I cannot help with that using these functions.") == float(not expect_call)
        assert env_reward(env, entry, call) == float(expect_call), (entry.id, call)


# -- multi turn -------------------------------------------------------------------------------------
def official_multi_turn(entry: Entry, steps: list[list[list[str]]]) -> bool:
    from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker import multi_turn_checker

    record = {"id": entry.id, "initial_config": entry.initial_config, "involved_classes": entry.involved_classes}
    return bool(multi_turn_checker(steps, entry.ground_truth, record, entry.category, f"m{uuid.uuid4().hex}")["valid"])


def play(env: BFCLEnv, entry: Entry, answers: list[list[str]]) -> float:
    """One step per turn with that turn's calls (when any), then a plain answer to end the turn."""
    env.reset(options={"task_id": entry.id})
    total = 0.0
    for turn_calls in answers:
        if turn_calls:
            _, reward, terminated, _, info = env.step("[" + ", ".join(turn_calls) + "]")
            assert not info["invalid_action"], info
            total += reward
        _, reward, terminated, _, _ = env.step("Done.")
        total += reward
    assert terminated
    return total


def corruptions(truth: list[list[str]]) -> dict[str, list[list[str]]]:
    turns = [i for i, calls in enumerate(truth) if calls]
    last = turns[-1]
    variants: dict[str, list[list[str]]] = {}
    wrong = copy.deepcopy(truth)
    for i in turns:
        for j, call in enumerate(wrong[i]):
            if "='" in call:
                wrong[i][j] = call.replace("='", "='zq", 1)
                variants["wrong value"] = wrong
                break
        if "wrong value" in variants:
            break
    variants["missing call"] = [calls[:-1] if i == last else calls for i, calls in enumerate(truth)]
    variants["extra call"] = [[*calls, calls[0]] if i == turns[0] else calls for i, calls in enumerate(truth)]
    variants["missing turn"] = [[] if i == last else calls for i, calls in enumerate(truth)]
    return variants


@pytest.mark.slow
@pytest.mark.parametrize("category", MULTI_TURN_CATEGORIES)
def test_multi_turn_rewards_agree_with_the_official_checker(category: str) -> None:
    env = BFCLEnv(category=category, split="all")
    agree = total = correct = rejected = 0
    for entry in env.entries:
        truth = entry.ground_truth
        assert play(env, entry, truth) == 1.0 and official_multi_turn(entry, [[t] if t else [] for t in truth])
        correct += 1
        for name, answers in corruptions(truth).items():
            reward = play(env, entry, answers)
            official = official_multi_turn(entry, [[t] if t else [] for t in answers])
            total += 1
            agree += reward == float(official)
            rejected += reward == 0.0
            assert reward == float(official), (entry.id, name)
    print(f"{category}: ground truth 1.0 on {correct}/{len(env.entries)}; corrupted {agree}/{total} agree, "
          f"{rejected} of them scoring 0", file=sys.stderr)


@pytest.mark.parametrize("category", MULTI_TURN_CATEGORIES)
def test_the_expert_wins_every_multi_turn_entry(category: str) -> None:
    # The warm start's demonstrations: each turn's ground-truth calls in one reply, then a plain reply.
    env = BFCLEnv(category=category, split="all")
    for index, entry in enumerate(env.entries):
        env.reset(options={"task_index": index})
        replies, terminated, reward = [], False, 0.0
        while not terminated:
            replies.append(env.expert_action())
            _, reward, terminated, _, info = env.step(replies[-1])
            assert not info["invalid_action"], (entry.id, replies[-1])
        assert reward == 1.0, (entry.id, info["checker"])
        assert len(replies) == len(entry.turns) + sum(bool(calls) for calls in entry.ground_truth), entry.id


def test_per_turn_rewards_sum_to_the_episode_reward() -> None:
    entry = load_entries("multi_turn_base")[0]
    per_turn = BFCLEnv(category="multi_turn_base", split="all", reward_mode="turn")
    assert play(per_turn, entry, entry.ground_truth) == pytest.approx(1.0)
    broken = corruptions(entry.ground_truth)["missing turn"]
    assert play(per_turn, entry, broken) < 1.0


def test_functions_missing_in_miss_func_appear_at_their_turn() -> None:
    entry = next(e for e in load_entries("multi_turn_miss_func") if e.missed_functions)
    turn, (name, *_) = next(iter(entry.missed_functions.items()))
    env = BFCLEnv(category="multi_turn_miss_func", split="all")
    _, info = env.reset(options={"task_id": entry.id})
    assert name not in {t["function"]["name"] for t in info["tools"]}
    observation, _, _, _, info = env.step("[no_such_function()]")
    assert info["invalid_action"] and "not one of the functions" in observation
    for _ in range(turn):
        observation, _, _, _, info = env.step("Done.")
    assert "updated some more functions" in observation
    assert name in {t["function"]["name"] for t in info["tools"]}


# -- safety -----------------------------------------------------------------------------------------
INJECTIONS = [
    "[__import__('os').system('touch /tmp/bfcl-pwned')]",
    "[ls(a=__import__('os').system('touch /tmp/bfcl-pwned'))]",
    "[ls(a=().__class__.__base__.__subclasses__())]",
    "[ls.__globals__['__builtins__']['exec']('1')]",
    "[exec('import os')]",
    "[eval('1+1')]",
    "[_load_scenario(scenario={})]",
    "[ls(a=lambda: 1)]",
    "[ls(a=[x for x in range(10)])]",
    "[ls(**{'a': True})]",
    "[ls(a=" + "[" * 200 + "]" * 200 + ")]",
    "[ls(a=" + "(" * 500 + "1" + ")" * 500 + ")]",
    "[ls(a='" + "x" * 30_000 + "')]",
    "[" + ", ".join(["pwd()"] * 100) + "]",
]


@pytest.mark.parametrize("attempt", INJECTIONS, ids=range(len(INJECTIONS)))
def test_injection_attempts_are_invalid_and_change_nothing(attempt: str) -> None:
    entry = next(e for e in load_entries("multi_turn_base") if "GorillaFileSystem" in e.involved_classes)
    env = BFCLEnv(category="multi_turn_base", split="all")
    env.reset(options={"task_id": entry.id})
    episode = env._episode
    assert episode is not None
    before = copy.deepcopy(vars(episode.model["GorillaFileSystem"]))
    observation, reward, terminated, _, info = env.step(attempt)
    assert info["invalid_action"] and not terminated and reward == 0.0, observation
    assert observation.startswith("Invalid call, nothing was run:") or "longer than" in info["invalid_reason"]
    assert vars(episode.model["GorillaFileSystem"]) == before and episode.model_results == []
    assert not Path("/tmp/bfcl-pwned").exists()


def test_calls_are_parsed_never_evaluated() -> None:
    assert parse_calls("[f(a=1, b=-2.5, c=[1, {'k': (None, True)}])]", {"f"}) == [
        Call("f", (), {"a": 1, "b": -2.5, "c": [1, {"k": (None, True)}]})]
    assert parse_calls("```python\nf(a='x')\n```", {"f"}) == [Call("f", (), {"a": "x"})]
    assert parse_calls("I would call nothing here.", {"f"}) is None
    with pytest.raises(CallError, match="by keyword"):
        parse_calls("[f(1)]", {"f"}, positional=False)


def test_episodes_do_not_share_state() -> None:
    entry = next(e for e in load_entries("multi_turn_base") if "GorillaFileSystem" in e.involved_classes)
    env = BFCLEnv(category="multi_turn_base", split="all")
    other = BFCLEnv(category="multi_turn_base", split="all")

    def state(environment: BFCLEnv) -> Any:
        assert environment._episode is not None
        return copy.deepcopy(vars(environment._episode.model["GorillaFileSystem"]))

    env.reset(options={"task_id": entry.id})
    initial = state(env)
    env.step("[mkdir(dir_name='leak_test')]")
    assert state(env) != initial
    other.reset(options={"task_id": entry.id})
    env.reset(options={"task_id": entry.id})
    assert state(env) == initial == state(other)


def test_nothing_is_written_inside_site_packages() -> None:
    package = data_dir().parent
    before = sorted(p.name for p in package.parent.iterdir())
    env = BFCLEnv(category="multi_turn_base", split="all")
    play(env, env.entries[0], env.entries[0].ground_truth)
    assert sorted(p.name for p in package.parent.iterdir()) == before
    assert not any((package / name).exists() for name in ("result", "score", ".file_locks"))
    assert "bfcl_eval.constants.model_config" not in sys.modules  # the heavy harness was never imported


def test_splits_and_the_contract() -> None:
    entries = load_entries("simple_python")
    train, held_out = split_entries(entries, "train"), split_entries(entries, "eval")
    assert len(held_out) == 80 and len(train) == 320
    assert {e.id for e in train}.isdisjoint(e.id for e in held_out)
    for category in ("simple_python", "multi_turn_miss_func"):
        check_env(envs.make_env({"id": "resrl/BFCL-v0", "kwargs": {"category": category, "split": "eval"}}))
    with pytest.raises(ValueError, match="unknown BFCL category"):
        BFCLEnv(category="web_search")


def test_too_many_steps_in_one_turn_end_the_episode() -> None:
    entry = next(e for e in load_entries("multi_turn_base") if "GorillaFileSystem" in e.involved_classes)
    env = BFCLEnv(category="multi_turn_base", split="all", max_steps_per_turn=3)
    env.reset(options={"task_id": entry.id})
    outcomes = [env.step("[pwd()]") for _ in range(3)]
    assert [terminated for _, _, terminated, _, _ in outcomes] == [False, False, True]
    _, reward, _, _, info = outcomes[-1]
    assert reward == 0.0 and info["checker"]["error_type"] == "multi_turn:force_terminated"
