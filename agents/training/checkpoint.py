"""Checkpoints of a run (laid out as ``agents.run_files`` says): written atomically, enough to
continue a run exactly."""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.run_files import METRICS, checkpoint_dir, iteration_of, read_metrics
from envs.cache import publish_directory


def save_checkpoint(run_dir: Path, iteration: int, model: Any, tokenizer: Any, optimizer: Any, keep: int,
                    extra: dict[str, Any] | None = None) -> Path:
    """Model (or LoRA adapter), optimizer and RNG states of a finished iteration (and ``extra``: other
    state the run needs to continue exactly, e.g. the curriculum's), then ``latest``."""
    target = checkpoint_dir(run_dir, iteration)
    shutil.rmtree(target, ignore_errors=True)
    with publish_directory(target) as staging:
        model.save_pretrained(staging / "model")
        tokenizer.save_pretrained(staging / "model")
        torch.save(optimizer.state_dict(), staging / "optimizer.pt")
        state = {
            "iteration": iteration,
            "python_rng": _jsonable(random.getstate()),
            "numpy_rng": _jsonable(np.random.get_state()),
            "extra": extra or {},
        }
        torch.save(torch.get_rng_state(), staging / "torch_rng.pt")
        (staging / "state.json").write_text(json.dumps(state))
    write_atomically(run_dir / "checkpoints" / "latest", target.name)
    checkpoints = [path for path in (run_dir / "checkpoints").iterdir() if iteration_of(path.name) is not None]
    for old in sorted(checkpoints, key=lambda path: iteration_of(path.name) or 0)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def latest_checkpoint(run_dir: Path) -> Path | None:
    pointer = run_dir / "checkpoints" / "latest"
    if not pointer.is_file():
        return None
    path = run_dir / "checkpoints" / pointer.read_text().strip()
    return path if (path / "state.json").is_file() else None


def restore_state(checkpoint: Path, optimizer: Any) -> int:
    """Load the optimizer and RNG states of ``checkpoint``; return its iteration."""
    optimizer.load_state_dict(torch.load(checkpoint / "optimizer.pt", weights_only=True))
    state = json.loads((checkpoint / "state.json").read_text())
    random.setstate(_tuples(state["python_rng"]))
    np.random.set_state(_tuples(state["numpy_rng"]))
    torch.set_rng_state(torch.load(checkpoint / "torch_rng.pt", weights_only=True))
    return int(state["iteration"])


def checkpoint_extra(checkpoint: Path) -> dict[str, Any]:
    """The ``extra`` state saved with ``checkpoint`` (empty for checkpoints written without one)."""
    return dict(json.loads((checkpoint / "state.json").read_text()).get("extra", {}))


def resume_metrics(run_dir: Path, checkpointed: int) -> float:
    """Keep the rows up to the checkpoint resumed from (later ones are redone); return their wall time.

    ``elapsed_s`` counts the run's wall time over every process that worked on it, so a run that was
    stopped and resumed reports what it cost in all.
    """
    rows = read_metrics(run_dir)
    kept = [row for row in rows if row["iteration"] <= checkpointed]
    if len(kept) < len(rows):
        write_atomically(run_dir / METRICS, "".join(json.dumps(row) + "\n" for row in kept))
    return float(kept[-1].get("elapsed_s", 0.0)) if kept else 0.0


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(temporary, path)


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value
