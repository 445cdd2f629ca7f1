"""What the dataset-backed envs share: JSONL files (plain or gzipped) and fixed held-out splits."""

from __future__ import annotations

import gzip
import random
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
SPLITS = ("train", "eval", "all")


def jsonl_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line) of every non-blank line; ``.gz`` files are read through gzip."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if line.strip():
                yield number, line


def seeded_split(items: Sequence[T], split: str, task_id: Callable[[T], str], *, eval_fraction: float,
                 seed: int = 0) -> list[T]:
    """A fixed partition: ``eval_fraction`` of the task ids (at least one), drawn with ``seed`` from the
    ids in sorted order, is ``eval``; the rest ``train``; ``all`` is every item in order. The seed and
    fraction are part of a benchmark's definition: changing them changes which tasks are held out."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    if split == "all":
        return list(items)
    ids = sorted(task_id(item) for item in items)
    held_out = set(random.Random(seed).sample(ids, max(1, round(len(ids) * eval_fraction))))
    return [item for item in items if (task_id(item) in held_out) == (split == "eval")]
