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


def test_the_main_config_names_every_training_setting() -> None:
    # The README sends readers to configs/alfworld.yaml for every field of `train:`.
    from pydantic import BaseModel

    from agents.config import TrainConfig
    from envs.spec import config_path, read_yaml

    def missing(model: type[BaseModel], section: dict[str, object], where: str) -> list[str]:
        gaps = [f"{where}.{name}" for name in model.model_fields if name not in section]
        for name, field in model.model_fields.items():
            kind = field.annotation
            if isinstance(kind, type) and issubclass(kind, BaseModel) and isinstance(section.get(name), dict):
                gaps += missing(kind, section[name], f"{where}.{name}")  # type: ignore[arg-type]
        return gaps

    assert missing(TrainConfig, read_yaml(config_path("alfworld"))["train"], "train") == []
