"""Trajectory records: one per episode, versioned, stored as gzipped JSONL readable without this code.

``token_ids`` is the whole conversation as the model saw it; ``agent_mask`` is 1 exactly on the
ids the backend generated and 0 on every template and environment token; ``logprobs`` holds the
rollout log-prob of each agent token (0.0 under mask 0). ``Trajectory.model_json_schema()`` is
the schema.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from envs.datasets import jsonl_lines

SCHEMA_VERSION = 1

EndReason = Literal["terminated", "truncated", "max_turns", "context", "env_error", "lost"]
"""Why an episode ended: the env ended it (``terminated``) or ran out of steps (``truncated``); the
rollout's turn cap (``max_turns``); the conversation no longer fit the context budget even with old
observations shortened (``context``); the env raised (``env_error``); its worker died too often
(``lost``)."""


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TurnRecord(_Record):
    """One agent turn: what it was shown, what it said, what was done, and what came of it."""

    observation: str
    reply: str
    action: str
    parse_ok: bool
    valid: bool
    reward: float
    finish_reason: Literal["stop", "length"]


class Compaction(_Record):
    """Older observations were shortened before turn ``turn`` to fit the context budget."""

    turn: int
    shortened_turns: list[int]
    tokens_before: int
    tokens_after: int


class Trajectory(_Record):
    """One episode, ready for training and for the replay viewer."""

    schema_version: Literal[1] = 1
    env_id: str
    task_id: str
    task_info: dict[str, Any]
    group_id: str
    sample_index: int
    seed: int
    iteration: int = 0
    turns: list[TurnRecord]
    final_observation: str
    token_ids: list[int]
    agent_mask: list[int]
    logprobs: list[float]
    reward: float
    env_return: float
    success: bool
    invalid_turns: int
    end_reason: EndReason
    error: str | None = None
    compactions: list[Compaction] = []
    weights: list[float] | None = None  # ResRL's per-token weights, set by the trainer

    @model_validator(mode="after")
    def _aligned(self) -> Trajectory:
        lengths = {len(self.token_ids), len(self.agent_mask), len(self.logprobs)}
        if self.weights is not None:
            lengths.add(len(self.weights))
        if len(lengths) != 1:
            raise ValueError("token_ids, agent_mask, logprobs (and weights) must have one length")
        if not set(self.agent_mask) <= {0, 1}:
            raise ValueError("agent_mask holds only 0 and 1")
        return self

    @property
    def num_turns(self) -> int:
        return len(self.turns)


def rewards_differ(group: Sequence[Trajectory]) -> bool:
    """Whether a group's samples got different rewards: only then do they have an advantage to learn from."""
    return len({t.reward for t in group}) > 1


def write_trajectories(path: Path, trajectories: Iterable[Trajectory]) -> Path:
    """Write gzipped JSONL atomically: readers see the old file, or the complete new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
            for trajectory in trajectories:
                out.write(trajectory.model_dump_json().encode() + b"\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def read_trajectories(path: Path) -> Iterator[Trajectory]:
    """The records of a trajectory file, one at a time; a bad line raises naming its line number."""
    for number, record in scan_trajectories(path):
        if isinstance(record, str):
            raise ValueError(f"{path}:{number}: {record}")
        yield record


def scan_trajectories(path: Path) -> Iterator[tuple[int, Trajectory | str]]:
    """(line number, record) for every line of a trajectory file, or (line number, why it is not a
    record) for a bad one — a truncated line, another schema version, a cut-off gzip stream — and
    then go on where that is possible (the replay viewer shows the rest)."""
    number = 0
    try:
        for number, line in jsonl_lines(path):
            try:
                data = json.loads(line)
                version = data.get("schema_version") if isinstance(data, dict) else None
                if version != SCHEMA_VERSION:
                    yield number, f"schema version {version!r}; this code reads version {SCHEMA_VERSION}"
                    continue
                yield number, Trajectory.model_validate(data)
            except ValueError as error:
                yield number, f"not a trajectory record ({str(error).splitlines()[0][:300]})"
    except (EOFError, OSError) as error:  # a gzip stream cut off mid-way: what came before stands
        yield number + 1, f"the file ends early ({error})"
