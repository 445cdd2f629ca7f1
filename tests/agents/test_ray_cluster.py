"""``agents.rollout --ray-address`` on a real two-node Ray cluster (a head and a second node, both on
this machine, one CPU each), against the same rollout on a local Ray."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from agents.collection.trajectory import read_trajectories
from servers.local import free_port
from tests.agents.conftest import GENERATED_ALFWORLD

REPO = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).parent / "ray")
pytestmark = pytest.mark.slow


def ray_environment() -> dict[str, str]:
    """Ray's own token auth, with a token made for this cluster (drivers and nodes must share it)."""
    return {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16),
            "RAY_USAGE_STATS_ENABLED": "0"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """Two Ray nodes with one CPU each, so two env workers needing a CPU each must use both; each node
    is a `ray start --block` process, stopped on its own (never `ray stop`, which stops every Ray here)."""
    environment, port = ray_environment(), free_port()
    address = f"127.0.0.1:{port}"
    common = ["--block", "--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--disable-usage-stats"]
    nodes = [subprocess.Popen([RAY, "start", "--head", "--port", str(port), "--include-dashboard", "false",
                               "--temp-dir", str(tmp_path_factory.mktemp("ray")), *common], env=environment)]
    try:
        time.sleep(5)
        nodes.append(subprocess.Popen([RAY, "start", "--address", address, *common], env=environment))
        probe = f"import ray; ray.init(address={address!r}); print(sum(n['Alive'] for n in ray.nodes()))"
        deadline = time.monotonic() + 120
        while subprocess.run([sys.executable, "-c", probe], env=environment, capture_output=True, text=True,
                             timeout=120).stdout.strip() != "2":
            assert time.monotonic() < deadline, "the second Ray node did not join"
            time.sleep(2)
        yield address, environment
    finally:
        for node in reversed(nodes):
            node.terminate()
            try:
                node.wait(timeout=60)
            except subprocess.TimeoutExpired:
                node.kill()


def rollout(config: Path, model: Path, out: Path, environment: dict[str, str], *extra: str) -> list[tuple[object, ...]]:
    done = subprocess.run(
        [sys.executable, "-m", "agents.rollout", "--config", str(config), "--model", str(model), "--backend", "hf",
         "--tasks", "4", "--group-size", "2", "--out", str(out), *extra],
        cwd=REPO, capture_output=True, text=True, timeout=900, env=environment)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    records = read_trajectories(out / "trajectories" / "iter-000000.jsonl.gz")
    return [(r.task_id, r.group_id, r.sample_index, r.token_ids, r.reward, r.final_observation) for r in records]


def test_env_workers_on_two_nodes_play_what_one_node_plays(cluster: tuple[str, dict[str, str]], tiny_model_dir: Path,
                                                            tmp_path: Path) -> None:
    address, environment = cluster
    config = tmp_path / "alfworld.yaml"
    config.write_text(yaml.safe_dump({
        "env": GENERATED_ALFWORLD,
        "rollout": {"max_new_tokens": 8, "max_turns": 2, "workers": 2, "envs_per_worker": 2, "worker_cpus": 1},
    }))
    on_cluster = rollout(config, tiny_model_dir, tmp_path / "cluster", environment, "--ray-address", address)
    assert json.loads((tmp_path / "cluster" / "rollout.json").read_text())["worker_nodes"] == 2
    local = rollout(config, tiny_model_dir, tmp_path / "local", {**os.environ})
    assert json.loads((tmp_path / "local" / "rollout.json").read_text())["worker_nodes"] == 1
    assert len(on_cluster) == 8 and on_cluster == local
