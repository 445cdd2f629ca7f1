"""The compose file checked against the code (CI has no Docker engine; ``tests/servers/test_compose_smoke.py``
brings the stack up where one runs)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

import envs
from agents.config import load_config
from envs.spec import config_path
from servers.__main__ import GRACEFUL_SHUTDOWN_S
from servers.sandbox.__main__ import DEFAULT_PORT as SANDBOX_PORT

REPO = Path(__file__).resolve().parents[2]


def services() -> dict[str, Any]:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert compose["services"], "no services"
    return dict(compose["services"])


def env_servers() -> dict[str, Any]:
    return {name: s for name, s in services().items() if s["command"][:3] == ["python", "-m", "servers"]}


def test_every_service_runs_a_real_entry_point_on_its_published_port() -> None:
    for name, service in services().items():
        command = service["command"]
        assert command[:3] in (["python", "-m", "servers"], ["python", "-m", "servers.sandbox"]), name
        port = command[command.index("--port") + 1]
        assert command[command.index("--host") + 1] == "0.0.0.0", f"{name} must listen outside its container"
        assert service["ports"] == [f"${{RESRL_GYM_BIND:-127.0.0.1}}:{port}:{port}"], name  # loopback by default
        assert service["environment"]["RESRL_GYM_TOKEN"].startswith("${RESRL_GYM_TOKEN:?"), name  # or no start
        health = " ".join(service["healthcheck"]["test"])
        assert re.search(rf"127\.0\.0\.1:{port}/health", health), name
        limits = service["deploy"]["resources"]["limits"]
        assert limits["memory"] and "cpus" not in limits, name  # a CPU limit above the host's count aborts `up`
        assert int(service["stop_grace_period"].rstrip("s")) > GRACEFUL_SHUTDOWN_S
        assert (REPO / service["build"]["dockerfile"]).is_file(), name
    for name, service in env_servers().items():
        assert load_config(config_path(service["command"][3])).env.id, name  # configs/<family>.yaml is valid


def test_env_server_images_limits_and_data_volumes() -> None:
    for name, service in env_servers().items():
        text = (REPO / service["build"]["dockerfile"]).read_text()
        assert "USER " in text and "torch==2.13.0" in text  # unprivileged, CPU torch
        # dependencies before sources: editing the code must not rebuild alfworld from source
        assert text.index('".[alfworld,') < text.index("COPY envs") < text.index("--no-deps --force-reinstall .")
        assert any(":/cache" in volume for volume in service["volumes"]), name
    for family in ("alfworld", "webshop"):  # real data from the host, read-only, where the env looks for it ...
        service = services()[family]
        assert any(v.endswith(f":/data/{family}:ro") for v in service["volumes"])
        # ... only when the host names it: an empty folder must not replace the generated data
        assert service["environment"][f"{family.upper()}_DATA"] == f"${{{family.upper()}_DATA_HOST:+/data/{family}}}"
    registered = {load_config(config_path(s["command"][3])).env.id for s in env_servers().values()}
    assert registered == set(envs.ENTRY_POINTS)  # every registered env has its server


def test_build_contexts_leave_out_history_data_and_environments() -> None:
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".git", ".venv", "data", "runs"} <= set(ignored)


def test_the_code_env_runs_programs_in_the_sandbox_service() -> None:
    sandbox, code = services()["sandbox"], services()["code"]
    assert sandbox["command"][sandbox["command"].index("--port") + 1] == str(SANDBOX_PORT)
    assert code["environment"]["RESRL_SANDBOX_URL"] == f"http://sandbox:{SANDBOX_PORT}"
    assert code["depends_on"]["sandbox"]["condition"] == "service_healthy"
    # what isolation needs inside a container, and a cap on processes beyond the per-user one
    assert "SYS_ADMIN" in sandbox["cap_add"] and sandbox["init"] is True
    assert sandbox["deploy"]["resources"]["limits"]["pids"]
    text = (REPO / sandbox["build"]["dockerfile"]).read_text()
    assert "libseccomp2" in text and "pyseccomp" in text
