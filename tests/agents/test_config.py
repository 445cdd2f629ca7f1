from __future__ import annotations

from pathlib import Path

import pytest

from agents.config import ConfigError, load_config


def test_an_unregistered_env_id_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("env: {id: resrl/Nope-v0}\n")
    with pytest.raises(ConfigError, match=r"env\.id: .*unknown env id 'resrl/Nope-v0'"):
        load_config(path)
