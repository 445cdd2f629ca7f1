"""Finding ALFWorld game files: a directory, a ``.tgz`` archive, ``$ALFWORLD_DATA`` or the cache.

The standard layout is ``json_2.1.1/<split dir>/<task dir>/<trial>/game.tw-pddl`` (plus
``traj_data.json``), the files ``alfworld-download`` fetches. An archive is extracted once
into the cache, atomically (a temporary directory renamed into place after it has been
checked), and reused while its checksum matches.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from envs.alfworld.generator import TASK_TYPES
from envs.cache import cache_dir, publish_directory

SPLIT_DIRS = {
    "train": "train",
    "eval_in_distribution": "valid_seen",
    "eval_out_of_distribution": "valid_unseen",
}
DATA_ROOT = "json_2.1.1"
ALFWORLD_DEFAULT_DATA = Path("~/.cache/alfworld").expanduser()
_MANIFEST = "resrl-extracted.json"

# Importing alfworld creates the folder $ALFWORLD_DATA names and dies on an empty value, which a shell's
# `ALFWORLD_DATA=` or a compose file's unset substitution gives: empty means unset. This package's
# __init__ imports this module before any code of it can import alfworld.
if os.environ.get("ALFWORLD_DATA") == "":
    del os.environ["ALFWORLD_DATA"]


class DataError(RuntimeError):
    """Game files are missing or unusable; the message says what was looked for and how to fix it."""


@dataclass(frozen=True)
class GameRef:
    """One game on disk: its id (``<task dir>/<trial>``), file and task type."""

    task_id: str
    path: Path
    task_type: str


def find_game_root(data_path: str | os.PathLike[str] | None, *, cache: Path | None = None) -> Path | None:
    """The ``json_2.1.1`` directory to read, or None when no game files are found.

    ``data_path`` (a directory or a ``.tgz``) wins; then ``$ALFWORLD_DATA`` (ALFWorld's own
    convention); then an archive extracted earlier into the cache. An explicit path that
    does not hold games raises :class:`DataError`.
    """
    cache = cache or cache_dir()
    if data_path is not None:
        root = _root_at(Path(data_path).expanduser(), cache)
        if root is None:
            raise DataError(
                f"no ALFWorld games at {data_path}: expected a '{DATA_ROOT}' directory (with "
                f"{', '.join(SPLIT_DIRS.values())}) or a {DATA_ROOT}.tgz archive. Get them with "
                "`alfworld-download`, or drop data_path to use the built-in generated games."
            )
        return root
    env_path = os.environ.get("ALFWORLD_DATA")
    if env_path:
        root = _root_at(Path(env_path).expanduser(), cache)
        # Importing alfworld sets $ALFWORLD_DATA to its default folder when unset: only a
        # folder the user chose is an error when empty.
        if root is None and Path(env_path).expanduser() != ALFWORLD_DEFAULT_DATA:
            raise DataError(
                f"$ALFWORLD_DATA={env_path} holds no ALFWorld games (looked for {DATA_ROOT}/ and "
                f"{DATA_ROOT}.tgz there). Fix or unset it."
            )
        if root is not None:
            return root
    extracted = sorted((cache / "alfworld").glob(f"archive-*/{DATA_ROOT}"))
    return extracted[-1] if extracted else None


def list_games(root: Path, split: str, task_types: tuple[str, ...] = TASK_TYPES) -> list[GameRef]:
    """Every playable game of a split, sorted by id (ALFWorld skips movable and sliced tasks)."""
    if split not in SPLIT_DIRS:
        raise ValueError(f"unknown split {split!r}; expected one of {tuple(SPLIT_DIRS)}")
    split_dir = root / SPLIT_DIRS[split]
    games = []
    for path in sorted(split_dir.glob("*/*/game.tw-pddl")):
        task_dir = path.parent.parent.name
        task_type = task_dir.split("-", 1)[0]
        if "movable" in task_dir or "Sliced" in task_dir or task_type not in task_types:
            continue
        games.append(GameRef(f"{task_dir}/{path.parent.name}", path, task_type))
    if not games:
        raise DataError(f"0 games in split {split} (task types {list(task_types)}) under {split_dir}")
    return games


def load_game_file(path: Path) -> dict[str, object]:
    """A game's JSON, with a clear error for unreadable or unsolvable files."""
    try:
        game = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise DataError(f"cannot read ALFWorld game {path}: {error}") from error
    if not isinstance(game, dict) or not {"pddl_domain", "grammar", "pddl_problem"} <= game.keys():
        raise DataError(f"{path} is not a game.tw-pddl file (needs pddl_domain, grammar, pddl_problem)")
    if game.get("solvable") is False:
        raise DataError(f"{path} is marked unsolvable")
    return game


def _root_at(path: Path, cache: Path) -> Path | None:
    if path.is_file() and path.name.endswith((".tgz", ".tar.gz")):
        return extract_archive(path, cache)
    for candidate in (path, path / DATA_ROOT):
        if candidate.is_dir() and any((candidate / d).is_dir() for d in SPLIT_DIRS.values()):
            return candidate
    archive = path / f"{DATA_ROOT}.tgz"
    return extract_archive(archive, cache) if archive.is_file() else None


def extract_archive(archive: Path, cache: Path) -> Path:
    """Extract ``archive`` into the cache once and return its ``json_2.1.1`` directory."""
    stat = archive.stat()
    digest = _sha256(archive.resolve(), stat.st_size, stat.st_mtime_ns)
    target = cache / "alfworld" / f"archive-{digest[:16]}"
    manifest = target / _MANIFEST
    if manifest.is_file() and json.loads(manifest.read_text()).get("sha256") == digest:
        return target / DATA_ROOT
    shutil.rmtree(target, ignore_errors=True)  # a stale or partial copy
    with publish_directory(target) as staging:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                files = sum(1 for member in tar.getmembers() if member.isfile())
                tar.extractall(staging, filter="data")
        except (tarfile.TarError, OSError, EOFError) as error:
            raise DataError(f"{archive} is not a readable .tgz archive ({error}); download it again") from error
        extracted = sum(1 for path in staging.rglob("*") if path.is_file())
        if extracted != files:
            raise DataError(f"{archive}: extracted {extracted} of its {files} files; check the disk and try again")
        games = len(list((staging / DATA_ROOT).glob("*/*/*/game.tw-pddl")))
        if not games:
            raise DataError(f"{archive} holds no {DATA_ROOT}/<split>/<task>/<trial>/game.tw-pddl files")
        (staging / _MANIFEST).write_text(json.dumps({"sha256": digest, "files": files, "games": games}))
    return target / DATA_ROOT


@lru_cache(maxsize=16)
def _sha256(path: Path, _size: int, _mtime_ns: int) -> str:
    """Checksum of a file, computed once per (path, size, mtime) in a process."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
