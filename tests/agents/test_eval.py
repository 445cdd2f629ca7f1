from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agents.eval import evaluate
from tests.agents.collection.test_trajectory import record
from tests.agents.conftest import GENERATED_ALFWORLD

REPO = Path(__file__).resolve().parents[2]


def test_avg_and_pass_at_k_per_task_and_type() -> None:
    runs = [("a", "heat", True, 1.0), ("a", "heat", False, 0.5), ("b", "cool", False, 0.25), ("b", "cool", False, 0.0)]
    trajectories = [record(group_id=group, sample_index=i, success=ok, reward=reward, task_info={"task_type": kind})
                    for i, (group, kind, ok, reward) in enumerate(runs)]
    refused = {"observation": "o", "reply": "Action look", "action": "Action look", "parse_ok": False, "valid": False,
               "reward": 0.0, "finish_reason": "stop"}
    turns = [trajectories[3].turns[0].model_dump(), refused, refused, trajectories[3].turns[0].model_dump()]
    trajectories[3] = record(**{**trajectories[3].model_dump(), "turns": turns, "invalid_turns": 2})
    result = evaluate(trajectories, samples=2)
    assert (result.tasks, result.episodes) == (2, 4)
    assert result.avg_at_k == pytest.approx(0.25)
    assert result.mean_reward == pytest.approx(1.75 / 4)  # partial credit counts, unlike success
    assert result.invalid_rate == pytest.approx(2 / 7)  # per reply: 3 one-turn episodes and one of 4 turns
    assert result.pass_at_k == {1: pytest.approx(0.25), 2: pytest.approx(0.5)}
    assert result.success_by_task_type == {"cool": 0.0, "heat": 0.5}


@pytest.mark.slow
def test_the_eval_cli_writes_its_report(tiny_model_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"env": GENERATED_ALFWORLD, "rollout": {
        "max_new_tokens": 6, "max_turns": 2, "workers": 1, "envs_per_worker": 4, "worker_cpus": 0}}))
    done = subprocess.run(
        [sys.executable, "-m", "agents.eval", "--config", str(config), "--model", str(tiny_model_dir),
         "--split", "eval_out_of_distribution", "--tasks", "2", "--samples", "3", "--out", str(tmp_path / "e"),
         "--backend", "hf"],
        cwd=REPO, capture_output=True, text=True, timeout=600, env=os.environ,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "e" / "eval.json").read_text())
    assert report["tasks"] == 2 and report["episodes"] == 6 and report["samples"] == 3
    assert set(report["pass_at_k"]) == {"1", "2", "3"} and report["lost"] == 0
    assert len(report["success_by_task_type"]) == 2  # two task types among the first two generated tasks
    assert "Avg@3" in done.stdout
