"""Shared fixtures: where the real data lives, and a cache kept inside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Extracted archives and generated games persist between runs in the checkout's .cache/.
os.environ.setdefault("RESRL_GYM_CACHE", str(REPO / ".cache" / "test"))
os.environ.pop("ALFWORLD_DATA", None)
# No network here: a model lookup fails at once instead of retrying the Hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The project's real data sets (``../shared/data`` beside the checkout)."""
    path = Path(os.environ.get("RESRL_SHARED_DATA", REPO.parent / "shared" / "data"))
    if not path.is_dir():
        pytest.fail(f"shared data not found at {path}; set $RESRL_SHARED_DATA")
    return path


@pytest.fixture(scope="session")
def alfworld_archive(shared_data: Path) -> Path:
    return shared_data / "alfworld" / "json_2.1.1.tgz"
