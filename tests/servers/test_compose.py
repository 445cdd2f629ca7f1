"""No Docker engine runs here, so the compose file is checked against the code instead."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from agents.config import config_path, load_config
from servers.__main__ import GRACEFUL_SHUTDOWN_S

REPO = Path(__file__).resolve().parents[2]


def services() -> dict[str, Any]:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert compose["services"], "no services"
    return dict(compose["services"])


def test_every_service_runs_a_real_entry_point_on_its_published_port() -> None:
    for name, service in services().items():
        command = service["command"]
        assert command[:3] == ["python", "-m", "servers"], name
        family = command[3]
        assert load_config(config_path(family)).env.id  # configs/<family>.yaml exists and is valid
        port = command[command.index("--port") + 1]
        assert command[command.index("--host") + 1] == "0.0.0.0", f"{name} must listen outside its container"
        assert f"{port}:{port}" in service["ports"], name
        health = " ".join(service["healthcheck"]["test"])
        assert re.search(rf"127\.0\.0\.1:{port}/health", health), name


def test_images_limits_and_data_volumes() -> None:
    for name, service in services().items():
        dockerfile = REPO / service["build"]["dockerfile"]
        assert dockerfile.is_file(), dockerfile
        text = dockerfile.read_text()
        assert "USER " in text and "torch==2.13.0" in text  # unprivileged, CPU torch
        limits = service["deploy"]["resources"]["limits"]
        assert limits["cpus"] and limits["memory"]
        assert any(":/cache" in volume for volume in service["volumes"]), name
        # the grace period covers the server's own graceful shutdown of its sessions
        assert int(service["stop_grace_period"].rstrip("s")) > GRACEFUL_SHUTDOWN_S
    alfworld = services()["alfworld"]
    assert any(v.endswith(":/data/alfworld:ro") for v in alfworld["volumes"])
    assert alfworld["environment"]["ALFWORLD_DATA"] == "/data/alfworld"
