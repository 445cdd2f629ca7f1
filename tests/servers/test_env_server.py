"""The env server over real sockets (uvicorn on an ephemeral loopback port), and RemoteEnv against it."""

from __future__ import annotations

import json
import socket
import tarfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import gymnasium
import httpx
import psutil
import pytest
import uvicorn

import envs
from envs import RemoteEnv, check_env
from envs.remote import RemoteEnvError
from servers.env_server import Limits, create_app

ENV_ID = "resrl/ALFWorld-v0"
KWARGS = {"source": "generated", "split": "train", "num_generated": 24, "expert_plan": True}

pytestmark = pytest.mark.slow


class Running:
    """A uvicorn server in a thread, on a port the OS picked."""

    def __init__(self, limits: Limits, kwargs: dict[str, Any] = KWARGS,
                 served: dict[str, dict[str, Any]] | None = None, *, token: str | None = None,
                 ready: bool = True) -> None:
        served = served or {ENV_ID: kwargs}
        app = create_app(list(served), env_kwargs=served, limits=limits, token=token)
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # gets TCP_NODELAY
        self.socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started or (ready and httpx.get(f"{self.url}/health").status_code != 200):
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="module")
def server() -> Iterator[Running]:
    running = Running(Limits(max_sessions=8, max_body_bytes=1_000_000))
    yield running
    running.stop()


@pytest.fixture()
def client(server: Running) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        yield http


def test_health_and_schema(client: httpx.Client) -> None:
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["env_ids"] == [ENV_ID] and health["capacity"] == 8
    assert health["processes"] >= 1 and client.get("/health/live").json() == {"status": "ok"}
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/health", "/sessions", "/sessions/{session_id}/step", "/sessions/{session_id}"} <= set(paths)


def play(env: gymnasium.Env[str, str], seed: int) -> list[tuple[Any, ...]]:
    observation, info = env.reset(seed=seed)
    trace: list[tuple[Any, ...]] = [(observation, info["task_id"])]
    for action in [*info["expert_plan"], "dance wildly"][:6]:
        observation, reward, terminated, truncated, info = env.step(action)
        trace.append((observation, reward, terminated, truncated, info["invalid_action"], info["available_actions"]))
        if terminated or truncated:
            break
    return trace


def test_a_remote_episode_equals_the_local_one(server: Running) -> None:
    local = envs.make_env({"id": ENV_ID, "kwargs": KWARGS})
    remote = RemoteEnv(server.url, ENV_ID)
    try:
        for seed in (0, 5):
            assert play(remote, seed) == play(local, seed)
    finally:
        remote.close()
        local.close()


def test_remote_env_passes_the_checker(server: Running) -> None:
    remote = RemoteEnv(server.url, ENV_ID)
    check_env(remote, seeds=(0, 1, 2))
    assert httpx.get(f"{server.url}/health").json()["sessions"] == 0  # close() ended the session


def test_parallel_sessions_match_serial_ones(server: Running) -> None:
    def run(seed: int) -> list[tuple[Any, ...]]:
        env = RemoteEnv(server.url, ENV_ID)
        try:
            return play(env, seed)
        finally:
            env.close()

    serial = [run(seed) for seed in range(6)]
    with ThreadPoolExecutor(6) as pool:
        assert list(pool.map(run, range(6))) == serial


def test_error_paths_answer_with_structured_errors(client: httpx.Client) -> None:
    assert client.post("/sessions/nope/step", json={"action": "look"}).json()["error"] == "unknown_session"
    assert client.post("/sessions", json={"env_id": "resrl/Nope-v0"}).status_code == 404
    assert client.post("/sessions", content=b"{not json", headers={"content-type": "application/json"}
                       ).status_code == 422
    assert client.post("/sessions", json={"env_id": 5}).status_code == 422
    assert client.post("/sessions", json={"env_id": ENV_ID, "surprise": 1}).status_code == 422
    assert client.post("/sessions", content=b"\xff\xfe\xfa", headers={"content-type": "application/json"}
                       ).status_code in {400, 422}
    big = client.post("/sessions", content=b"x" * 10_000_000, headers={"content-type": "application/json"})
    assert big.status_code == 413 and big.json()["error"] == "too_large"

    created = client.post("/sessions", json={"env_id": ENV_ID, "seed": 1}).json()
    session = created["session_id"]
    too_long = client.post(f"/sessions/{session}/step", json={"action": "x" * 200_000})
    assert too_long.status_code == 422
    odd = client.post(f"/sessions/{session}/step", json={"action": None}).json()
    assert odd["info"]["invalid_action"] is True  # the env judged it, as in process
    assert client.delete(f"/sessions/{session}").status_code == 204
    assert client.delete(f"/sessions/{session}").status_code == 204  # idempotent
    assert client.post(f"/sessions/{session}/step", json={"action": "look"}).status_code == 404
    assert client.get("/health").json()["sessions"] == 0
    assert "env_steps" in client.get("/metrics").text


def test_a_finished_episode_needs_a_reset(server: Running) -> None:
    remote = RemoteEnv(server.url, ENV_ID)
    try:
        _, info = remote.reset(seed=2)
        for action in info["expert_plan"]:
            *_, terminated, _, _ = remote.step(action)
        assert terminated
        with pytest.raises(gymnasium.error.ResetNeeded):
            remote.step("look")
    finally:
        remote.close()


def test_capacity_flood_and_idle_expiry() -> None:
    running = Running(Limits(max_sessions=3, idle_timeout_s=4.0, reap_interval_s=0.2))
    try:
        with httpx.Client(base_url=running.url, timeout=60) as http:
            answers = [http.post("/sessions", json={"env_id": ENV_ID, "seed": i}) for i in range(10)]
            assert [a.status_code for a in answers] == [200] * 3 + [503] * 7
            assert answers[-1].json()["error"] == "capacity"
            assert http.get("/health").json()["sessions"] == 3
            time.sleep(5.0)  # nobody touches them: the reaper closes them
            assert http.get("/health").json()["sessions"] == 0
            session = answers[0].json()["session_id"]
            assert http.post(f"/sessions/{session}/step", json={"action": "look"}).status_code == 404
            assert http.post("/sessions", json={"env_id": ENV_ID, "seed": 0}).status_code == 200
    finally:
        running.stop()


def test_a_server_whose_env_cannot_start_is_alive_but_not_ready() -> None:
    running = Running(Limits(), kwargs={"source": "files", "data_path": "/nonexistent/json_2.1.1"}, ready=False)
    try:
        with httpx.Client(base_url=running.url, timeout=60) as http:
            deadline = time.monotonic() + 60
            while (health := http.get("/health")).json()["status"] == "starting":
                assert time.monotonic() < deadline
                time.sleep(0.1)
            assert health.status_code == 503 and "DataError" in health.json()["detail"]
            assert http.get("/health/live").status_code == 200
            failed = http.post("/sessions", json={"env_id": ENV_ID, "seed": 0})
            assert failed.status_code == 500 and failed.json()["error"] == "env_error"
            assert "DataError" in failed.json()["detail"]
            assert http.get("/health").json()["sessions"] == 0
    finally:
        running.stop()


@pytest.fixture(scope="module")
def broken_games(alfworld_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real ALFWorld game whose goal names an undeclared predicate: the planner's translator
    calls ``sys.exit`` on it (as ALFWorld's fast-downward does on malformed PDDL)."""
    root = tmp_path_factory.mktemp("broken")
    with tarfile.open(alfworld_archive) as archive:
        members = [m for m in archive if "/valid_seen/pick_and_place_simple" in m.name and m.isfile()][:2]
        for member in members:
            archive.extract(member, root, filter="data")
    game = next(root.rglob("game.tw-pddl"))
    data = json.loads(game.read_text())
    data["pddl_problem"] = data["pddl_problem"].replace("(:goal", "(:goal (and (nosuchpredicate agent1)) ) (:x", 1)
    game.write_text(json.dumps(data))
    return root


def test_an_env_that_exits_or_dies_fails_only_its_own_session(broken_games: Path) -> None:
    running = Running(Limits(spare_processes=0))
    broken = Running(Limits(), kwargs={"source": "files", "data_path": str(broken_games),
                                       "split": "eval_in_distribution"}, ready=False)
    try:
        with httpx.Client(base_url=running.url, timeout=60) as http, \
                httpx.Client(base_url=broken.url, timeout=60) as broken_http:
            exited = broken_http.post("/sessions", json={"env_id": ENV_ID, "seed": 0})
            assert exited.status_code == 500 and "SystemExit" in exited.json()["detail"]
            assert broken_http.get("/health/live").status_code == 200  # the server lives on

            hosts = psutil.Process().children(recursive=True)
            keep = http.post("/sessions", json={"env_id": ENV_ID, "seed": 1}).json()["session_id"]
            doomed = http.post("/sessions", json={"env_id": ENV_ID, "seed": 2}).json()["session_id"]
            new = [p for p in psutil.Process().children(recursive=True) if p not in hosts]
            assert len(new) == 2  # one process per session
            max(new, key=lambda p: p.create_time()).kill()  # the newer one is doomed's; as a C exit() would
            died = http.post(f"/sessions/{doomed}/step", json={"action": "look"})
            assert died.status_code == 500 and "exited" in died.json()["detail"]
            assert http.post(f"/sessions/{doomed}/step", json={"action": "look"}).status_code == 404
            assert http.post(f"/sessions/{keep}/step", json={"action": "look"}).status_code == 200
            assert http.get("/health").json()["sessions"] == 1
    finally:
        running.stop()
        broken.stop()


def test_a_hung_env_times_out_and_the_server_keeps_serving() -> None:
    running = Running(Limits(step_timeout_s=0.001), ready=False)
    try:
        with httpx.Client(base_url=running.url, timeout=60) as http:
            slow = http.post("/sessions", json={"env_id": ENV_ID, "seed": 0})
            assert slow.status_code == 504 and slow.json()["error"] == "timeout"
            health = http.get("/health").json()
            assert health["sessions"] == 0 and health["status"] == "failing" and "longer than" in health["detail"]
    finally:
        running.stop()


def test_the_token_is_required_beyond_the_health_probes() -> None:
    running = Running(Limits(max_sessions=2), token="s3cret")
    try:
        with httpx.Client(base_url=running.url, timeout=60) as http:
            assert http.get("/health").status_code == 200 and http.get("/health/live").status_code == 200
            missing = http.post("/sessions", json={"env_id": ENV_ID, "seed": 0})
            assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
            wrong = http.post("/sessions", json={"env_id": ENV_ID}, headers={"authorization": "Bearer nope"})
            assert wrong.status_code == 403 and wrong.json()["error"] == "forbidden"
            for path in ("/metrics", "/openapi.json", "/docs"):
                assert http.get(path).status_code == 401, path
            assert http.get("/health").json()["sessions"] == 0  # nothing was opened
        with pytest.raises(RemoteEnvError, match="401"):
            RemoteEnv(running.url, ENV_ID, token="").reset(seed=0)
        remote = RemoteEnv(running.url, ENV_ID, token="s3cret")
        assert remote.reset(seed=0)[1]["task_id"]
        remote.close()
    finally:
        running.stop()


OTHER_ENVS: dict[str, dict[str, Any]] = {
    "resrl/WebShop-v0": {"split": "eval"},
    "resrl/BFCL-v0": {"category": "multi_turn_base", "split": "eval"},
    "resrl/Code-v0": {"split": "eval", "timeout_s": 5.0},
}


def test_one_server_hosts_every_other_env() -> None:
    running = Running(Limits(max_sessions=4), served=OTHER_ENVS)
    try:
        for env_id, kwargs in OTHER_ENVS.items():
            check_env(RemoteEnv(running.url, env_id), seeds=(0, 1, 2))
            remote, local = RemoteEnv(running.url, env_id), envs.make_env({"id": env_id, "kwargs": kwargs})
            for env in (remote, local):
                env.reset(seed=3)
            action = "search[shoes]" if "WebShop" in env_id else "[ls(a=True)]" if "BFCL" in env_id else "pass"
            assert remote.step(action) == local.step(action), env_id  # same transition, info included
            remote.close()
    finally:
        running.stop()
