"""``python -m servers.sandbox`` as a real process, through ``SandboxClient``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from sandbox.client import SandboxClient, SandboxServiceError
from sandbox.models import ExecuteRequest
from servers.local import local_service
from tests.sandbox.test_sandbox import HOSTILE

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def service() -> Iterator[str]:
    with local_service("servers.sandbox", "--concurrency", "2", "--max-queue", "2", cwd=REPO, env=os.environ) as url:
        yield url


def test_hostile_programs_through_the_service_leave_it_healthy(service: str) -> None:
    client = SandboxClient(service)
    names = ["fork bomb", "memory bomb", "huge output", "sleep past the timeout", "network"]
    with ThreadPoolExecutor(4) as pool:
        # 5 s: beside a fork bomb on a loaded 2-core machine, starting Python took more than 2
        results = list(pool.map(lambda n: client.execute(ExecuteRequest(code=HOSTILE[n][0], timeout_s=5,
                                                                         memory_mb=256)), names))
    for name, result in zip(names, results, strict=True):
        assert result.status in HOSTILE[name][1], (name, result.status)
    assert client.execute(ExecuteRequest(code="print(6 * 7)")).stdout == "42\n"
    health = httpx.get(f"{service}/health").json()
    assert health["status"] == "ok" and health["running"] == 0 and health["slots"] == 2
    assert 'sandbox_runs_total{status="timeout"}' in httpx.get(f"{service}/metrics").text
    client.close()


def test_bad_requests_get_clear_errors(service: str) -> None:
    too_big = httpx.post(f"{service}/execute", json={"code": "x" * 5_000_000})
    assert too_big.status_code == 413 and too_big.json()["error"] == "too_large"
    over = httpx.post(f"{service}/execute", json={"code": "pass", "timeout_s": 120})
    assert over.status_code == 422 and over.json()["error"] == "over_limit"
    for body in ({"code": "pass", "language": "rust"}, {"code": "pass", "files": {"../x": ""}}, {"cod": "x"}):
        assert httpx.post(f"{service}/execute", json=body).status_code == 422
    with pytest.raises(SandboxServiceError, match="422"):
        SandboxClient(service).execute(ExecuteRequest(code="pass", timeout_s=200))


def test_a_full_queue_is_refused_at_once(service: str) -> None:
    client = SandboxClient(service)
    sleeper = ExecuteRequest(code="import time\ntime.sleep(1.5)", timeout_s=5)

    def attempt(_: int) -> str:
        try:
            return client.execute(sleeper).status
        except SandboxServiceError as error:
            return "busy" if "503" in str(error) else str(error)

    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(attempt, range(6)))
    assert outcomes.count("ok") == 4 and outcomes.count("busy") == 2  # 2 slots + 2 waiting
    client.close()


def test_a_service_with_a_token_runs_nothing_for_callers_without_it(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "token"
    secret.write_text("s3cret\n")  # as a Docker secret file would hold it
    with local_service("servers.sandbox", "--token-file", str(secret), cwd=REPO, env=os.environ) as url:
        assert httpx.get(f"{url}/health").status_code == 200
        missing = httpx.post(f"{url}/execute", json={"code": "print(1)"})
        assert missing.status_code == 401 and missing.json()["error"] == "unauthorized"
        with pytest.raises(SandboxServiceError, match="403"):
            SandboxClient(url, token="wrong").execute(ExecuteRequest(code="print(1)"))
        monkeypatch.setenv("RESRL_GYM_TOKEN", "s3cret")  # what clients read by default
        assert SandboxClient(url).execute(ExecuteRequest(code="print(6 * 7)")).stdout == "42\n"
        assert 'sandbox_runs_total{status="ok"} 1.0' in httpx.get(f"{url}/metrics",
                                                                  headers={"authorization": "Bearer s3cret"}).text
