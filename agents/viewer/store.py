"""Read-only access to run directories, for the viewer.

A run is a directory with ``trajectories/iter-NNNNNN.jsonl.gz`` and/or ``metrics.jsonl`` (and its
``config.yaml``). Runs are found once under the root and afterwards addressed by name only: no path
from a request is ever joined to the file system, so nothing outside the root can be read. Files are
streamed, never loaded whole; the summaries of a file are cached (bounded) until it changes.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from agents.collection.trajectory import Trajectory, scan_trajectories
from agents.run_files import METRICS, iteration_of, scan_metrics

MAX_TOKENS_SHOWN = 20_000


class NotFoundError(LookupError):
    """No such run, iteration or trajectory."""


@dataclass(frozen=True)
class Summary:
    """One trajectory as listed: enough to filter and search on."""

    index: int
    line: int
    env_id: str
    task_id: str
    task_type: str
    group_id: str
    sample_index: int
    reward: float
    success: bool
    turns: int
    end_reason: str
    text: str  # lower-cased task and replies, for search


class RunStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        if not self.root.is_dir():
            raise NotFoundError(f"{root} is not a directory")
        self.runs = {self._name(path): path for path in self._find_runs()}

    def _find_runs(self) -> list[Path]:
        candidates = [self.root, *sorted(p for p in self.root.rglob("*") if p.is_dir())]
        return [p for p in candidates if (p / "trajectories").is_dir() or (p / METRICS).is_file()]

    def _name(self, path: Path) -> str:
        return str(path.relative_to(self.root)) if path != self.root else self.root.name

    def run(self, name: str) -> Path:
        try:
            return self.runs[name]
        except KeyError:
            raise NotFoundError(f"no run {name!r}") from None

    def describe(self, name: str) -> dict[str, Any]:
        path = self.run(name)
        config: dict[str, Any] = {}
        if (path / "config.yaml").is_file():
            try:
                config = yaml.safe_load((path / "config.yaml").read_text()) or {}
            except yaml.YAMLError:
                config = {}
        return {"name": name, "iterations": sorted(self._iteration_files(path)),
                "algorithm": (config.get("train") or {}).get("algo", "unknown"),
                "env_id": (config.get("env") or {}).get("id", "")}

    def _iteration_files(self, run: Path) -> dict[int, Path]:
        folder = run / "trajectories"
        if not folder.is_dir():
            return {}
        found = {}
        for path in folder.iterdir():
            iteration = iteration_of(path.name)
            if iteration is not None and path.is_file():
                found[iteration] = path
        return found

    def iteration_file(self, name: str, iteration: int) -> Path:
        files = self._iteration_files(self.run(name))
        if iteration not in files:
            raise NotFoundError(f"run {name!r} has no iteration {iteration}")
        return files[iteration]

    def summaries(self, name: str, iteration: int) -> tuple[list[Summary], list[dict[str, Any]]]:
        """Every trajectory of an iteration as a summary, and the problems found in the file."""
        path = self.iteration_file(name, iteration)
        stat = path.stat()
        return _summaries(path, stat.st_mtime_ns, stat.st_size)

    def trajectory(self, name: str, iteration: int, index: int) -> dict[str, Any]:
        """One trajectory in full, with its tokens decoded when the run's tokenizer is at hand."""
        path = self.iteration_file(name, iteration)
        position = 0
        for _, record in scan_trajectories(path):
            if isinstance(record, str):
                continue
            if position == index:
                return self._full(self.run(name), record)
            position += 1
        raise NotFoundError(f"iteration {iteration} of {name!r} has no trajectory {index}")

    def _full(self, run: Path, record: Trajectory) -> dict[str, Any]:
        data = record.model_dump(exclude={"token_ids", "agent_mask", "logprobs", "weights"})
        decode = _decoder(str(run))
        ids = record.token_ids[:MAX_TOKENS_SHOWN]
        pieces = decode(ids) if decode else [f"<{i}>" for i in ids]
        weights: list[float | None] = list(record.weights) if record.weights else [None] * len(record.token_ids)
        data["tokens"] = [{"text": text, "agent": bool(mask), "weight": weight}
                          for text, mask, weight in zip(pieces, record.agent_mask, weights, strict=False)]
        data["tokens_cut"] = len(record.token_ids) > MAX_TOKENS_SHOWN
        data["has_weights"] = record.weights is not None
        data["decoded"] = decode is not None
        return data

    def metrics(self, name: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        rows, problems = [], []
        for number, row in scan_metrics(self.run(name)):
            if isinstance(row, str):
                problems.append({"file": METRICS, "line": number, "problem": row})
            else:  # NaN (a metric with nothing to average) is not JSON: send it as null
                rows.append({k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()})
        return rows, problems


@functools.lru_cache(maxsize=32)
def _summaries(path: Path, _mtime: int, _size: int) -> tuple[list[Summary], list[dict[str, Any]]]:
    summaries: list[Summary] = []
    problems: list[dict[str, Any]] = []
    for line, record in scan_trajectories(path):
        if isinstance(record, str):
            problems.append({"file": path.name, "line": line, "problem": record})
            continue
        text = " ".join([record.task_id, *(t.reply for t in record.turns), *(t.action for t in record.turns)])
        summaries.append(Summary(
            index=len(summaries), line=line, env_id=record.env_id, task_id=record.task_id,
            task_type=str(record.task_info.get("task_type") or record.task_info.get("category") or ""),
            group_id=record.group_id, sample_index=record.sample_index, reward=record.reward,
            success=record.success, turns=record.num_turns, end_reason=record.end_reason,
            text=text.lower()[:20_000],
        ))
    return summaries, problems


@functools.lru_cache(maxsize=8)
def _decoder(run: str) -> Any:
    """Token id → text for the run's tokenizer (the ``tokenizer.json`` its checkpoints carry), or None."""
    found = sorted(Path(run).glob("checkpoints/*/model/tokenizer.json"))
    if not found:
        return None
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(found[-1]))
    return lambda ids: tokenizer.decode_batch([[i] for i in ids], skip_special_tokens=False)
