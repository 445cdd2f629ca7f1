"""The names of a run directory's files, in one place, and the reader of its metrics.

    runs/<name>/
      config.yaml            the resolved run config (+ model, seed, backend)
      metrics.jsonl          one line per iteration
      heldout.jsonl          held-out scores (start, after the warm start, the end)
      tb/                    TensorBoard event files
      trajectories/          iter-NNNNNN.jsonl.gz, with ResRL weights per token
      checkpoints/iter-NNNNNN/{model/, optimizer.pt, state.json}   the newest keep_checkpoints
      checkpoints/latest     name of the newest complete checkpoint
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

METRICS = "metrics.jsonl"
_ITERATION = re.compile(r"^iter-(\d+)(?:\.jsonl(?:\.gz)?)?$")


def iteration_name(iteration: int) -> str:
    """``iter-000012``: a checkpoint directory's name, and a trajectory file's stem."""
    return f"iter-{iteration:06d}"


def iteration_of(name: str) -> int | None:
    """The iteration a checkpoint directory or trajectory file is named after (None: not one of them)."""
    match = _ITERATION.match(name)
    return int(match.group(1)) if match else None


def trajectory_file(run_dir: Path, iteration: int) -> Path:
    """Where iteration ``iteration``'s trajectories of a run are written."""
    return run_dir / "trajectories" / f"{iteration_name(iteration)}.jsonl.gz"


def checkpoint_dir(run_dir: Path, iteration: int) -> Path:
    return run_dir / "checkpoints" / iteration_name(iteration)


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The rows of ``metrics.jsonl``, one per iteration (none before the first); a bad line raises
    naming its line number."""
    rows = []
    for number, row in scan_metrics(run_dir):
        if isinstance(row, str):
            raise ValueError(f"{run_dir / METRICS}:{number}: {row}")
        rows.append(row)
    return rows


def scan_metrics(run_dir: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, row) for every line of ``metrics.jsonl``, or (line number, why it is not a row)
    for a bad one, going on after it (the replay viewer shows the rest)."""
    path = run_dir / METRICS
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as error:
                yield number, str(error)[:200]
                continue
            yield number, row if isinstance(row, dict) else "not an object"
