from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from agents.collection.trajectory import SCHEMA_VERSION, Trajectory, read_trajectories, write_trajectories
from agents.run_files import trajectory_file


def record(**changes: Any) -> Trajectory:
    fields: dict[str, Any] = {
        "env_id": "resrl/ALFWorld-v0",
        "task_id": "t",
        "task_info": {"task_type": "look_at_obj_in_light"},
        "group_id": "g0",
        "sample_index": 0,
        "seed": 1,
        "turns": [
            {"observation": "o", "reply": "Action: look", "action": "look", "parse_ok": True, "valid": True,
             "reward": 0.0, "finish_reason": "stop"}
        ],
        "final_observation": "end",
        "token_ids": [1, 2, 3],
        "agent_mask": [0, 1, 1],
        "logprobs": [0.0, -0.1, -0.2],
        "reward": 0.0,
        "env_return": 0.0,
        "success": False,
        "invalid_turns": 0,
        "end_reason": "max_turns",
    }
    return Trajectory.model_validate(fields | changes)


def test_round_trip_is_exact_and_plain_json(tmp_path: Path) -> None:
    records = [record(), record(sample_index=1, weights=[1.0, 0.5, 0.9])]
    path = write_trajectories(trajectory_file(tmp_path, 3), records)
    assert path == tmp_path / "trajectories" / "iter-000003.jsonl.gz"
    assert list(read_trajectories(path)) == records
    with gzip.open(path, "rt") as lines:  # readable without this code
        first = json.loads(next(lines))
    assert first["schema_version"] == SCHEMA_VERSION and first["agent_mask"] == [0, 1, 1]
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left behind


def test_misaligned_or_unknown_records_are_rejected() -> None:
    with pytest.raises(ValidationError, match="one length"):
        record(logprobs=[0.0])
    with pytest.raises(ValidationError, match="0 and 1"):
        record(agent_mask=[0, 2, 1])
    with pytest.raises(ValidationError):
        record(schema_version=99)
    with pytest.raises(ValidationError):
        record(surprise=True)


def test_a_corrupt_line_is_reported_with_its_number(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(record().model_dump_json() + "\n" + '{"truncated": ')
    with pytest.raises(ValueError, match=r"t.jsonl:2"):
        list(read_trajectories(path))


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    path = write_trajectories(tmp_path / "t.jsonl.gz", [record()])

    def broken() -> Any:
        yield record()
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_trajectories(path, broken())
    assert list(read_trajectories(path)) == [record()]
    assert len(list(tmp_path.iterdir())) == 1
