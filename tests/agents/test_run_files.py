from __future__ import annotations

from pathlib import Path

import pytest

from agents.run_files import (
    METRICS,
    checkpoint_dir,
    iteration_name,
    iteration_of,
    read_metrics,
    scan_metrics,
    trajectory_file,
)


def test_names_and_iterations_round_trip(tmp_path: Path) -> None:
    assert iteration_name(12) == "iter-000012"
    assert iteration_of(trajectory_file(tmp_path, 12).name) == 12
    assert iteration_of(checkpoint_dir(tmp_path, 7).name) == 7
    assert iteration_of("latest") is None and iteration_of("iter-12.txt") is None


def test_metrics_are_read_strictly_and_scanned_leniently(tmp_path: Path) -> None:
    assert read_metrics(tmp_path) == []  # no iteration finished yet
    (tmp_path / METRICS).write_text('{"iteration": 1}\n\n{"iteration": 2, "cut\n[3]\n{"iteration": 4}\n')
    scanned = list(scan_metrics(tmp_path))
    assert [number for number, _ in scanned] == [1, 3, 4, 5]
    assert scanned[0][1] == {"iteration": 1} and scanned[3][1] == {"iteration": 4}
    assert isinstance(scanned[1][1], str) and scanned[2][1] == "not an object"
    with pytest.raises(ValueError, match=r"metrics.jsonl:3: "):
        read_metrics(tmp_path)
