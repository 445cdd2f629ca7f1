"""``resrl/Code-v0`` on HumanEval and generated problems, with programs run in the real sandbox."""

from __future__ import annotations

import collections
import json
import os
from pathlib import Path

import pytest

import envs
from envs.checker import check_env
from envs.code.env import CodeEnv
from envs.code.generator import available_problems, generate_problems
from envs.code.problems import Problem, load_problems, split_problems
from envs.code.program import extract_code
from servers.local import local_service

REPO = Path(__file__).resolve().parents[2]
TOY = {"task_id": "toy/0", "prompt": "def double(x):\n    \"\"\"Twice x.\"\"\"\n", "entry_point": "double",
       "test": "def check(candidate):\n    assert candidate(2) == 4\n    assert candidate(-1) == -2\n",
       "canonical_solution": "    return 2 * x\n"}


@pytest.mark.slow
def test_canonical_solutions_pass_and_stubs_fail_on_all_of_humaneval() -> None:
    env = CodeEnv(split="all")
    assert env.num_tasks == 164
    passed = stubs = 0
    for index, problem in enumerate(env.problems):
        env.reset(options={"task_index": index})
        _, reward, terminated, _, info = env.step(problem.canonical_solution)
        passed += reward == 1.0 and terminated and info["success"]
        env.reset(options={"task_index": index})
        _, reward, *_ = env.step(f"```python\n{problem.prompt}    pass\n```")
        stubs += reward > 0
    assert (passed, stubs) == (164, 0)


@pytest.mark.slow
def test_generated_problems_pass_their_solutions_and_fail_the_rest_of_their_family() -> None:
    env = CodeEnv(source="generated", split="all")
    families: dict[str, list[Problem]] = collections.defaultdict(list)
    for problem in env.problems:
        families[problem.task_type].append(problem)
    assert env.num_tasks == 140 and all(len(members) == 10 for members in families.values())
    passed = siblings = 0
    for index, problem in enumerate(env.problems):
        env.reset(options={"task_index": index})
        passed += env.step(problem.canonical_solution)[1] == 1.0
        sibling = next(p for p in families[problem.task_type] if p != problem)
        env.reset(options={"task_index": index})  # the right name, another constant's body
        siblings += env.step(problem.prompt + sibling.canonical_solution)[1] > 0
    assert (passed, siblings) == (140, 0)


def test_generated_problems_are_fixed_by_their_seed_and_split_like_any_other() -> None:
    problems = generate_problems(seed=0)
    assert generate_problems(seed=0) == problems and generate_problems(seed=1) != problems
    assert len({p.prompt for p in problems}) == len(problems) == available_problems()
    assert generate_problems(5, seed=0) == problems[:5]
    train, held_out = (CodeEnv(source="generated", split=split).problems for split in ("train", "eval"))
    assert (len(train), len(held_out)) == (105, 35) and not set(train) & set(held_out)
    kinds = collections.Counter(p.task_type for p in problems)
    assert len(kinds) == 14 and set(kinds.values()) == {10} and "cap" in kinds and "count_above" in kinds
    assert all(p.entry_point.startswith(p.task_type) for p in problems)
    env = CodeEnv(source="generated", split="eval")
    assert env.reset(options={"task_index": 3})[1]["task_type"] == held_out[3].task_type  # eval's per-family success
    with pytest.raises(ValueError, match="between 1 and 140"):
        generate_problems(141)
    with pytest.raises(ValueError, match="problems_path is for source 'humaneval'"):
        CodeEnv(source="generated", problems_path="x.jsonl")
    with pytest.raises(ValueError, match="source must be humaneval or generated"):
        CodeEnv(source="mbpp")


def test_attempts_feedback_and_success() -> None:
    env = CodeEnv(split="all", max_attempts=2)
    _, info = env.reset(options={"task_id": "HumanEval/0"})
    assert "task_type" not in info  # HumanEval's problems have no family; evaluation reports them as "all"
    wrong = "Here you go:\n```python\ndef has_close_elements(numbers, threshold):\n    return True\n```"
    observation, reward, terminated, truncated, info = env.step(wrong)
    assert (reward, terminated, truncated, info["status"], info["attempt"]) == (0.0, False, False, "error", 1)
    assert "Attempt 1 of 2" in observation and "AssertionError" in observation and "1 attempt left" in observation
    right = env.problems[0].prompt + env.problems[0].canonical_solution
    observation, reward, terminated, truncated, info = env.step(f"```python\n{right}```")
    assert (reward, terminated, info["success"]) == (1.0, True, True)
    env.reset(options={"task_id": "HumanEval/0"})
    env.step(wrong)
    _, reward, terminated, truncated, _ = env.step("while True: pass")
    assert (reward, terminated, truncated) == (0.0, False, True)  # out of attempts


def test_the_code_env_passes_the_contract_checker() -> None:
    check_env(envs.make_env({"id": "resrl/Code-v0", "kwargs": {"split": "eval"}}))


def test_splits_are_a_fixed_partition() -> None:
    problems = load_problems()
    train, held_out = split_problems(problems, "train"), split_problems(problems, "eval")
    assert len(held_out) == 41 and len(train) == 123
    assert {p.task_id for p in train}.isdisjoint(p.task_id for p in held_out)
    assert [p.task_id for p in split_problems(problems, "eval")] == [p.task_id for p in held_out]
    with pytest.raises(ValueError, match="unknown split"):
        split_problems(problems, "test")


def test_problems_from_a_jsonl_path(tmp_path: Path) -> None:
    path = tmp_path / "toy.jsonl"
    path.write_text(json.dumps(TOY) + "\n")
    env = CodeEnv(problems_path=str(path), split="all")
    env.reset(seed=0)
    assert env.step(TOY["canonical_solution"])[1] == 1.0
    (tmp_path / "bad.jsonl").write_text('{"task_id": "x"}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:1"):
        load_problems(tmp_path / "bad.jsonl")


def test_extracting_code_from_replies() -> None:
    assert extract_code("text\n```python\na = 1\n```\nmore\n```py\nb = 2\n```") == "b = 2\n"
    assert extract_code("```\n```\nx = 3") == "```\n```\nx = 3"  # an empty block is no code
    assert extract_code("def f():\n    return 1") == "def f():\n    return 1"


@pytest.mark.slow
def test_the_env_through_a_sandbox_service_gives_the_same_results(tmp_path: Path) -> None:
    path = tmp_path / "toy.jsonl"
    path.write_text(json.dumps(TOY) + "\n")
    with local_service("servers.sandbox", cwd=REPO, env=os.environ) as url:
        local, remote = (CodeEnv(problems_path=str(path), split="all", sandbox_url=u) for u in (None, url))
        for reply in (TOY["canonical_solution"], "def double(x):\n    return x", "x = bytearray(1 << 34)"):
            outcomes = []
            for env in (local, remote):
                env.reset(seed=0)
                observation, reward, _, _, info = env.step(reply)
                outcomes.append((observation, reward, info["status"]))
            assert outcomes[0] == outcomes[1]
        remote.close()
