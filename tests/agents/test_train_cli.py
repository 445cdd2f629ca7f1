"""``python -m agents.train`` as a user runs it: a tiny model, generated ALFWorld games, subprocesses."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from safetensors.torch import load_file

from agents.collection.trajectory import read_trajectories
from agents.metrics import METRICS
from tests.agents.conftest import GENERATED_ALFWORLD

REPO = Path(__file__).resolve().parents[2]
CONFIG: dict[str, Any] = {
    "env": GENERATED_ALFWORLD,
    "rollout": {"max_new_tokens": 8, "max_turns": 2, "workers": 1, "envs_per_worker": 4, "worker_cpus": 0},
    # weight decay moves the weights even when every reward ties, so resuming is checked on real updates
    "train": {"tasks_per_iter": 2, "group_size": 2, "mini_batch_size": 4, "micro_batch_size": 2,
              "learning_rate": 1e-3, "weight_decay": 0.1, "rank": 4,
              # the run's own stages are tested in test_train_stages.py
              "dynamic_sampling": {"enabled": False}, "warmstart": {"mode": "never"}, "heldout": {"tasks": 0}},
}


def train(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agents.train", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=900, env=os.environ)


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("config") / "alfworld-tiny.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    return path


def metrics(run: Path) -> list[dict[str, float]]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["hf", "vllm"])
def test_two_iterations_then_resume_equals_four_straight(config_file: Path, tiny_model_dir: Path, tmp_path: Path,
                                                         backend: str) -> None:
    common = ["--config", str(config_file), "--model", str(tiny_model_dir), "--seed", "3", "--backend", backend]
    straight, split = tmp_path / "straight", tmp_path / "split"
    done = train(*common, "--iterations", "4", "--out", str(straight))
    assert done.returncode == 0, done.stderr[-3000:]
    first = train(*common, "--iterations", "2", "--out", str(split))
    assert first.returncode == 0, first.stderr[-3000:]

    # the artefacts of a run
    rows = metrics(split)
    assert [row["iteration"] for row in rows] == [1, 2]
    shown = {metric.key for metric in METRICS} - {"curriculum_level"}  # this run has no curriculum
    assert shown <= set(rows[0]), shown - set(rows[0])  # every figure the row, the viewer and reports show
    assert 0.1 < rows[0]["peak_rss_gb"] <= rows[1]["peak_rss_gb"]  # the trainer's memory, for growth over a run
    # the rollout's log-probs against the trainer's; vLLM's other numerics are corrected by default
    for row in rows:
        assert all(math.isfinite(row[key]) for key in ("rollout_logprob_gap", "rollout_logprob_gap_max",
                                                        "rollout_ratio_std", "tis_weight_mean", "tis_truncated"))
        assert row["rollout_correction"] == (backend == "vllm")
        assert 0 <= row["rollout_logprob_gap"] <= row["rollout_logprob_gap_max"]
    records = list(read_trajectories(split / "trajectories" / "iter-000002.jsonl.gz"))
    assert len(records) == 4 and all(r.weights is not None and len(r.weights) == len(r.token_ids) for r in records)
    assert (split / "checkpoints" / "latest").read_text() == "iter-000002"
    assert {p.name for p in (split / "checkpoints" / "iter-000002").iterdir()} >= {"model", "optimizer.pt",
                                                                                     "state.json"}
    assert list((split / "tb").glob("events.out.tfevents.*"))
    assert "success" in first.stdout and str(split) in first.stdout.replace("\n", "")

    # a process killed after writing iteration 3's row but before its checkpoint leaves that row behind
    with (split / "metrics.jsonl").open("a") as stray:
        stray.write(json.dumps(rows[-1] | {"iteration": 3.0, "elapsed_s": 1e9}) + "\n")
    again = train("--resume", str(split), "--iterations", "4")
    assert again.returncode == 0, again.stderr[-3000:]
    assert [row["iteration"] for row in metrics(split)] == [1, 2, 3, 4]  # iteration 3 once, as redone
    elapsed = [row["elapsed_s"] for row in metrics(split)]
    assert 0 < elapsed[0] < elapsed[1] < elapsed[2] < elapsed[3] < 1e9  # the resumed process adds to the first
    assert elapsed[2] - elapsed[1] > metrics(split)[2]["update_s"]
    for a, b in zip(metrics(split)[2:], metrics(straight)[2:], strict=True):
        for key in ("success_rate", "mean_return", "loss", "entropy", "approx_kl", "grad_norm"):
            assert a[key] == pytest.approx(b[key], abs=1e-5, nan_ok=True), key
    for iteration in (3, 4):
        name = f"iter-{iteration:06d}.jsonl.gz"
        resumed = [r.token_ids for r in read_trajectories(split / "trajectories" / name)]
        assert resumed == [r.token_ids for r in read_trajectories(straight / "trajectories" / name)]
    weights = [load_file(str(run / "checkpoints" / "iter-000004" / "model" / "model.safetensors"))
               for run in (split, straight)]
    initial = load_file(str(tiny_model_dir / "model.safetensors"))
    for name, tensor in weights[0].items():
        assert torch.allclose(tensor, weights[1][name], atol=1e-6), name
    assert any(not torch.equal(weights[0][name], initial[name]) for name in initial)  # it did train


def test_bad_configuration_is_one_clear_message(config_file: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    cases = {
        ("--env", "nosuchenv"): "no config for env 'nosuchenv'",
        ("--config", str(config_file), "--model", str(tmp_path / "absent")): "does not exist",
        ("--config", str(config_file), "--model", str(tiny_model_dir), "--group-size", "1"): "train.group_size",
        ("--resume", str(tmp_path)): "not a run directory",
        ("--config", str(config_file), "--model", str(tiny_model_dir), "--env-server", "http://127.0.0.1:9"):
            "no env server answers at http://127.0.0.1:9",
    }
    for args, message in cases.items():
        done = train(*args, "--out", str(tmp_path / "run"))
        assert done.returncode == 2 and message in done.stdout, (args, done.stdout, done.stderr[-2000:])
        assert "Traceback" not in done.stdout + done.stderr
    bad_flag = train("--algo", "ppo")
    assert bad_flag.returncode == 2 and "invalid choice" in bad_flag.stderr



@pytest.mark.slow
def test_ctrl_c_saves_and_the_run_resumes(config_file: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "agents.train", "--config", str(config_file), "--model", str(tiny_model_dir),
         "--iterations", "6", "--out", str(run)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ | {"PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    for line in process.stdout:  # wait for the first iteration's row
        if line.split()[:1] == ["1"]:
            break
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=600)
    assert process.returncode == 130, rest
    stopped = int(rest.split("stopped after iteration")[1].split(";")[0])
    assert 1 <= stopped < 6
    assert (run / "checkpoints" / "latest").read_text() == f"iter-{stopped:06d}"
    assert len(metrics(run)) == stopped
    moved = run.rename(tmp_path / "moved")  # a run directory can be moved (or copied) and resumed there
    resumed = train("--resume", str(moved), "--iterations", str(stopped + 1))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert [row["iteration"] for row in metrics(moved)] == list(range(1, stopped + 2))
    assert (moved / "checkpoints" / "latest").read_text() == f"iter-{stopped + 1:06d}"
