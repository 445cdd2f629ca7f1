"""``docker compose up`` for real: the whole stack built and started, a session played on every env
server, programs run in the sandbox, the token enforced, everything torn down.

Runs only where a Docker engine and Compose v2 answer (``docker info``, ``docker compose version``);
elsewhere, CI included, it is skipped. See docs/servers.md for running it on a machine without an
image registry."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from envs import RemoteEnv
from sandbox.client import SandboxClient
from sandbox.models import ExecuteRequest

REPO = Path(__file__).resolve().parents[2]
ENV_SERVERS = {8001: "resrl/ALFWorld-v0", 8002: "resrl/WebShop-v0", 8003: "resrl/BFCL-v0", 8004: "resrl/Code-v0"}
FIRST_ACTION = {8001: "look", 8002: "search[shoes]", 8003: "[ls(a=True)]", 8004: "pass"}


def docker_ready() -> bool:
    if shutil.which("docker") is None:
        return False
    checks = (["docker", "info"], ["docker", "compose", "version"])
    return all(subprocess.run(c, capture_output=True, timeout=60).returncode == 0 for c in checks)


pytestmark = [pytest.mark.slow, pytest.mark.skipif(not docker_ready(), reason="no Docker engine with Compose v2")]


@pytest.fixture(scope="module")
def stack() -> Iterator[str]:
    token = secrets.token_hex(16)
    environment = {**os.environ, "RESRL_GYM_TOKEN": token, "COMPOSE_PROJECT_NAME": "resrl-gym-smoke"}
    compose = ["docker", "compose", "--project-directory", str(REPO)]
    try:
        subprocess.run([*compose, "up", "--detach", "--build", "--wait", "--wait-timeout", "900"],
                       env=environment, check=True, timeout=3600)
        yield token
    finally:
        subprocess.run([*compose, "down", "--volumes", "--timeout", "60"], env=environment, timeout=600)


def test_every_env_server_plays_a_session_and_wants_the_token(stack: str) -> None:
    for port, env_id in ENV_SERVERS.items():
        url = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{url}/health").json()["status"] == "ok", env_id
        assert httpx.post(f"{url}/sessions", json={"env_id": env_id}).status_code == 401, env_id
        env = RemoteEnv(url, env_id, token=stack)
        observation, info = env.reset(seed=0)
        assert observation and info["task_id"], env_id
        observation, *_ = env.step(FIRST_ACTION[port])
        assert observation, env_id
        env.close()


def test_the_sandbox_runs_programs_isolated(stack: str) -> None:
    client = SandboxClient("http://127.0.0.1:8010", token=stack)
    assert client.execute(ExecuteRequest(code="print(6 * 7)")).stdout == "42\n"
    assert client.execute(ExecuteRequest(code="while True: pass", timeout_s=1)).status == "timeout"
    reach = "import socket; socket.create_connection(('1.1.1.1', 53), timeout=2)"
    assert client.execute(ExecuteRequest(code=reach)).status == "error"
    assert httpx.post("http://127.0.0.1:8010/execute", json={"code": "print(1)"}).status_code == 401
