from __future__ import annotations

import typing
from pathlib import Path

import pytest

import resrl
from agents.config import Algorithm, load_config
from envs.spec import ConfigError


def test_an_unregistered_env_id_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("env: {id: resrl/Nope-v0}\n")
    with pytest.raises(ConfigError, match=r"env\.id: .*unknown env id 'resrl/Nope-v0'"):
        load_config(path)


def test_the_config_names_the_algorithms_resrl_implements() -> None:
    # the config stays free of torch, so it spells the names out; they must not drift apart
    assert set(typing.get_args(Algorithm)) == set(resrl.ALGOS)
