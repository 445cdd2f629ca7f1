"""``python -m servers <env>`` as a real process, and training through it with ``--env-server``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
import yaml

from agents.collection.trajectory import read_trajectories
from servers.local import local_service
from tests.agents.conftest import GENERATED_ALFWORLD, default_model_dir, tiny_model_dir, tokenizer

__all__ = ["default_model_dir", "tiny_model_dir", "tokenizer"]  # the model fixtures, shared with tests/agents

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("server") / "alfworld.yaml"
    path.write_text(yaml.safe_dump({
        "env": GENERATED_ALFWORLD,
        "rollout": {"max_new_tokens": 8, "max_turns": 2, "workers": 1, "envs_per_worker": 4, "worker_cpus": 0},
        "train": {"iterations": 1, "tasks_per_iter": 2, "group_size": 2, "mini_batch_size": 4, "rank": 4,
                  "dynamic_sampling": {"enabled": False}},
    }))
    return path


@pytest.fixture(scope="module")
def server(config_file: Path) -> Iterator[str]:
    with local_service("servers", "alfworld", "--config", str(config_file), cwd=REPO, env=os.environ) as url:
        yield url


def test_training_through_the_env_server(server: str, config_file: Path, tiny_model_dir: Path,
                                         tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agents.train", "--config", str(config_file), "--model", str(tiny_model_dir),
         "--env-server", server, "--out", str(tmp_path / "run"), "--backend", "hf"],
        cwd=REPO, capture_output=True, text=True, timeout=900, env=os.environ,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    records = list(read_trajectories(tmp_path / "run" / "trajectories" / "iter-000001.jsonl.gz"))
    assert len(records) == 4 and all(r.task_info["data_source"] == "generated" for r in records)
    assert "env_steps_total" in httpx.get(f"{server}/metrics").text
    assert httpx.get(f"{server}/health").json()["sessions"] == 0  # the workers closed their sessions


def test_a_rollout_over_two_servers_survives_losing_one(config_file: Path, tiny_model_dir: Path,
                                                        tmp_path: Path) -> None:
    service = ("servers", "alfworld", "--config", str(config_file))
    with local_service(*service, cwd=REPO, env=os.environ) as second, \
            pytest.raises(RuntimeError, match="exited with status -9"), \
            local_service(*service, cwd=REPO, env=os.environ) as first:
        port = first.rsplit(":", 1)[1]
        doomed = next(p for p in psutil.Process().children() if f"--port {port}" in " ".join(p.cmdline()))
        rollout = subprocess.Popen(
            [sys.executable, "-m", "agents.rollout", "--config", str(config_file), "--model", str(tiny_model_dir),
             "--backend", "hf", "--tasks", "4", "--group-size", "2", "--max-turns", "6",
             "--env-server", f"{first},{second}", "--out", str(tmp_path / "rollout")],
            cwd=REPO, env=os.environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 600
        while "env_steps_total{" not in httpx.get(f"{first}/metrics").text:  # kill it in the middle of episodes
            assert rollout.poll() is None and time.monotonic() < deadline, "no episode reached the first server"
            time.sleep(0.02)
        doomed.kill()
        output, _ = rollout.communicate(timeout=600)
        assert rollout.returncode == 0, output[-3000:]
        report = json.loads((tmp_path / "rollout" / "rollout.json").read_text())
        assert report["lost"] == [] and report["figures"]["episodes"] == 8
        assert report["figures"]["reruns"] >= 1, output[-5000:]  # the killed server's episodes were played again
        assert httpx.get(f"{second}/health").json()["sessions"] == 0


def test_a_service_beyond_loopback_needs_a_token(tmp_path: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("RESRL_GYM_TOKEN")}
    for command in (["servers", "bfcl"], ["servers.sandbox"]):
        done = subprocess.run([sys.executable, "-m", *command, "--host", "0.0.0.0", "--port", "1"], cwd=REPO,
                              capture_output=True, text=True, timeout=120, env=environment)
        assert done.returncode == 2 and "RESRL_GYM_TOKEN" in done.stderr, command
    empty = tmp_path / "token"
    empty.write_text("\n")
    done = subprocess.run([sys.executable, "-m", "servers", "bfcl", "--token-file", str(empty)], cwd=REPO,
                          capture_output=True, text=True, timeout=120, env=environment)
    assert done.returncode == 2 and "is empty" in done.stderr


def test_a_bad_server_config_is_one_message(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "servers", "nosuchenv"], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env=os.environ)
    assert done.returncode == 2 and "no config for env 'nosuchenv'" in done.stderr
