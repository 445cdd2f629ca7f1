"""Generated requests (hypothesis) against a live env server and sandbox service: arbitrary JSON,
wrong types, unknown ids, odd paths and methods, calls out of order. No route answers 500 except
the documented env failure (``env_error``), every error has the documented body, and the service
stays ready."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from servers.env_server import Limits
from servers.local import local_service
from tests.servers.test_env_server import Running

REPO = Path(__file__).resolve().parents[2]
ENV_ID = "resrl/BFCL-v0"
pytestmark = pytest.mark.slow

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) |
                    st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=20)
SESSION_BODIES = st.one_of(
    JSON,
    st.fixed_dictionaries({"env_id": st.sampled_from([ENV_ID, "resrl/Nope-v0", ""]) | st.text(max_size=10)},
                          optional={"seed": st.integers() | JSON, "options": JSON, "extra": JSON}),
)
STEP_BODIES = st.one_of(JSON, st.fixed_dictionaries({"action": JSON}, optional={"extra": JSON}))
PATHS = st.sampled_from(["/sessions", "/sessions/x/step", "/health", "/metrics", "/nope", "/sessions/"]) | \
    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=30).map(lambda p: "/" + p)
DOCUMENTED = {200, 204, 401, 403, 404, 405, 409, 413, 422, 503}  # and 500 for env_error only


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    running = Running(Limits(max_sessions=8, idle_timeout_s=30), served={ENV_ID: {"split": "eval"}})
    yield running.url
    running.stop()


def documented(response: httpx.Response) -> None:
    if response.status_code == 500:
        assert response.json()["error"] == "env_error", response.text
        return
    assert response.status_code in DOCUMENTED, (response.status_code, response.text)
    if (response.status_code >= 400 and response.status_code not in (405, 422)) or \
            (response.status_code == 422 and "error" in response.json()):
        assert set(response.json()) == {"error", "detail"}, response.text


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(create=SESSION_BODIES, steps=st.lists(STEP_BODIES, max_size=4), stray=st.tuples(
    st.sampled_from(["GET", "POST", "DELETE", "PUT", "PATCH"]), PATHS, JSON))
def test_no_request_breaks_the_env_server(server: str, create: Any, steps: list[Any],
                                          stray: tuple[str, str, Any]) -> None:
    with httpx.Client(base_url=server, timeout=60) as http:
        made = http.post("/sessions", json=create)
        documented(made)
        session = made.json()["session_id"] if made.status_code == 200 else "no-such-session"
        try:
            for body in steps:
                documented(http.post(f"/sessions/{session}/step", json=body))
            method, path, body = stray
            documented(http.request(method, path, json=body))
        finally:
            documented(http.delete(f"/sessions/{session}"))
        health = http.get("/health")
        assert health.status_code == 200 and health.json()["sessions"] == 0


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    with local_service("servers.sandbox", "--concurrency", "2", cwd=REPO, env=os.environ) as url:
        yield url


EXECUTE_BODIES = st.one_of(JSON, st.fixed_dictionaries(
    {"code": st.text(max_size=200)},
    optional={"language": st.sampled_from(["python", "rust"]) | JSON, "stdin": JSON, "files": JSON,
              "timeout_s": st.floats(allow_nan=False, allow_infinity=False) | st.integers() | JSON,
              "memory_mb": st.integers() | JSON}))


@settings(max_examples=100, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(body=EXECUTE_BODIES)
def test_no_request_breaks_the_sandbox_service(sandbox: str, body: Any) -> None:
    response = httpx.post(f"{sandbox}/execute", json=body, timeout=120)
    assert response.status_code in {200, 413, 422, 503}, (response.status_code, response.text)
    if response.status_code != 200:
        assert set(response.json()) == {"error", "detail"}, response.text
    assert httpx.get(f"{sandbox}/health").status_code == 200
