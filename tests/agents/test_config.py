from __future__ import annotations

from pathlib import Path

import pytest

import resrl
from agents.config import load_config
from envs.spec import ConfigError


def test_an_unregistered_env_id_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("env: {id: resrl/Nope-v0}\n")
    with pytest.raises(ConfigError, match=r"env\.id: .*unknown env id 'resrl/Nope-v0'"):
        load_config(path)


def test_the_config_takes_exactly_the_algorithms_resrl_implements(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    for algo in resrl.ALGOS:
        path.write_text(f"env: {{id: resrl/BFCL-v0}}\ntrain: {{algo: {algo}}}\n")
        assert load_config(path).train.algo == algo
    path.write_text("env: {id: resrl/BFCL-v0}\ntrain: {algo: ppo}\n")
    with pytest.raises(ConfigError, match=r"train\.algo: .*'grpo'"):
        load_config(path)
