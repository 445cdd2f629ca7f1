"""``python -m agents.rollout`` as a user runs it, in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agents.collection.trajectory import read_trajectories
from tests.agents.conftest import GENERATED_ALFWORLD

REPO = Path(__file__).resolve().parents[2]


def rollout(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agents.rollout", *args],
        cwd=REPO, capture_output=True, text=True, timeout=600, env=os.environ | {"RAY_DEDUP_LOGS": "0"},
    )


@pytest.mark.slow
def test_collects_and_writes_trajectories(tiny_model_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / "alfworld-generated.yaml"
    rollout_settings = {"max_new_tokens": 8, "workers": 1, "envs_per_worker": 2, "worker_cpus": 0}
    config.write_text(yaml.safe_dump({"env": GENERATED_ALFWORLD, "rollout": rollout_settings}))
    out = tmp_path / "run"
    done = rollout("--config", str(config), "--model", str(tiny_model_dir), "--tasks", "2", "--group-size", "2",
                   "--max-turns", "2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    records = list(read_trajectories(out / "trajectories" / "iter-000000.jsonl.gz"))
    assert len(records) == 4 and all(r.num_turns == 2 for r in records)
    assert [r.group_id for r in records] == ["g00000", "g00000", "g00001", "g00001"]
    summary = json.loads((out / "rollout.json").read_text())
    assert summary["figures"]["episodes"] == 4 and summary["lost"] == []
    assert "success" in done.stdout and "trajectories:" in done.stdout


def test_bad_input_is_one_clear_message(tiny_model_dir: Path, tmp_path: Path) -> None:
    unknown_env = rollout("--env", "nosuchenv", "--out", str(tmp_path))
    assert unknown_env.returncode == 2 and "no config for env 'nosuchenv'" in unknown_env.stdout
    missing_model = rollout("--model", str(tmp_path / "absent"), "--out", str(tmp_path))
    assert missing_model.returncode == 2 and "does not exist" in missing_model.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("env: {id: resrl/ALFWorld-v0}\nrollout: {max_turns: 0}\n")
    bad_value = rollout("--config", str(bad), "--model", str(tiny_model_dir), "--out", str(tmp_path))
    assert bad_value.returncode == 2 and "rollout.max_turns" in bad_value.stdout
    for done in (unknown_env, missing_model, bad_value):
        assert "Traceback" not in done.stdout + done.stderr
