"""Task pools for the ALFWorld env: real game files, or games generated on demand.

Both pools index tasks ``0..len-1`` and hand out game JSON; the env does not care
which one it reads from. Generated games are written to the cache in the standard
``json_2.1.1`` layout the first time they are needed, so a later run (or a user pointing
``data_path`` at that folder) reads them like real files.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from envs.alfworld.data import (
    SPLIT_DIRS,
    DataError,
    GameRef,
    find_game_root,
    list_games,
    load_game_file,
)
from envs.alfworld.generator import GENERATOR_VERSION, Difficulty, generate_game
from envs.cache import cache_dir, publish_directory

logger = logging.getLogger(__name__)

DEFAULT_NUM_GENERATED = {"train": 3000, "eval_in_distribution": 120, "eval_out_of_distribution": 120}


class TaskPool(Protocol):
    """Indexed tasks of one split."""

    @property
    def source(self) -> str: ...

    def __len__(self) -> int: ...
    def task_id(self, index: int) -> str: ...
    def task_type(self, index: int) -> str: ...
    def load(self, index: int) -> tuple[dict[str, Any], Path]: ...


@dataclass(frozen=True)
class FilePool:
    """Real game files of one split."""

    games: list[GameRef]
    source: str = "files"

    def __len__(self) -> int:
        return len(self.games)

    def task_id(self, index: int) -> str:
        return self.games[index].task_id

    def task_type(self, index: int) -> str:
        return self.games[index].task_type

    def load(self, index: int) -> tuple[dict[str, Any], Path]:
        path = self.games[index].path
        return load_game_file(path), path


@dataclass(frozen=True)
class GeneratedPool:
    """``size`` generated games of one split, task types interleaved: task ``i`` is game
    ``i // len(task_types)`` of type ``task_types[i % len(task_types)]``, so a task keeps its
    identity whatever other types are enabled."""

    split: str
    task_types: tuple[str, ...]
    size: int
    seed: int
    difficulty: Difficulty
    root: Path
    source: str = "generated"

    def __len__(self) -> int:
        return self.size

    def task_type(self, index: int) -> str:
        return self.task_types[index % len(self.task_types)]

    def task_id(self, index: int) -> str:
        return f"{self.task_type(index)}-gen-{index // len(self.task_types)}/trial_s{self.seed}"

    def load(self, index: int) -> tuple[dict[str, Any], Path]:
        path = self.root / SPLIT_DIRS[self.split] / self.task_id(index) / "game.tw-pddl"
        if not path.is_file():
            generated = generate_game(
                self.task_type(index),
                split=self.split,
                index=index // len(self.task_types),
                seed=self.seed,
                difficulty=self.difficulty,
            )
            with publish_directory(path.parent) as staging:
                (staging / "game.tw-pddl").write_text(json.dumps(generated.game))
                (staging / "traj_data.json").write_text(json.dumps(generated.traj_data))
        return load_game_file(path), path


def make_pool(
    *,
    split: str,
    source: str,
    data_path: str | os.PathLike[str] | None,
    task_types: tuple[str, ...],
    num_generated: int | None,
    generator_seed: int,
    difficulty: Difficulty,
) -> TaskPool:
    """Pick the pool: real files when found (or required), generated games otherwise."""
    if source not in ("auto", "files", "generated"):
        raise ValueError(f"source must be 'auto', 'files' or 'generated', got {source!r}")
    if split not in SPLIT_DIRS:
        raise ValueError(f"unknown split {split!r}; expected one of {tuple(SPLIT_DIRS)}")
    root = None if source == "generated" else find_game_root(data_path)
    if root is not None:
        return FilePool(list_games(root, split, task_types))
    if source == "files":
        raise DataError(
            "no ALFWorld game files found: looked at data_path, $ALFWORLD_DATA and the cache "
            f"({cache_dir() / 'alfworld'}). Download them with `alfworld-download` and set "
            "$ALFWORLD_DATA, pass data_path=<dir or json_2.1.1.tgz>, or use source='generated'."
        )
    if source == "auto":
        _warn_generated_once()
    size = num_generated if num_generated is not None else DEFAULT_NUM_GENERATED[split]
    if size < 1:
        raise ValueError(f"num_generated must be >= 1, got {size}")
    root_dir = cache_dir() / "alfworld" / "generated" / f"v{GENERATOR_VERSION}-{difficulty.key()}"
    return GeneratedPool(split, task_types, size, generator_seed, difficulty, root_dir)


@cache
def _warn_generated_once() -> None:
    logger.warning(
        "No ALFWorld game files found (data_path, $ALFWORLD_DATA, %s): using built-in generated "
        "games. For the real games run `alfworld-download` and set $ALFWORLD_DATA.",
        cache_dir() / "alfworld",
    )
