"""Typed settings of the agent side; every field says what it does. Loaded from a config's YAML
sections and overridden by CLI flags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class RolloutConfig(BaseModel):
    """How trajectories are collected (the ``rollout:`` section of ``configs/<env>.yaml``)."""

    model_config = ConfigDict(extra="forbid")

    max_turns: int = Field(20, ge=1, description="Agent turns per episode before it is cut (end reason max_turns).")
    max_new_tokens: int = Field(64, ge=1, description="Tokens the model may generate per reply.")
    temperature: float = Field(1.0, ge=0, description="Sampling temperature; 0 decodes greedily.")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling mass.")
    context_tokens: int = Field(
        4096, ge=64, description="Budget for the whole conversation plus one reply; older observations are shortened "
        "to stay under it, and the episode ends (end reason context) when even that is not enough."
    )
    shortened_observation_chars: int = Field(
        120, ge=0, description="Characters an older observation keeps when it is shortened."
    )
    show_available_actions: bool = Field(True, description="List the env's admissible actions in each user turn.")
    invalid_action_penalty: float = Field(
        0.0, ge=0, description="Subtracted from an episode's reward for each reply with no valid action."
    )
    workers: int = Field(2, ge=1, description="EnvWorker actors; each hosts envs_per_worker envs.")
    envs_per_worker: int = Field(4, ge=1, description="Envs per actor; workers × envs_per_worker episodes run at once.")
    worker_cpus: float = Field(1.0, ge=0, description="CPUs Ray reserves per actor (0 lets actors share cores).")
    call_timeout_s: float = Field(
        300.0, gt=0, description="Longest wait for one actor call; an actor that takes longer is killed and replaced."
    )
    max_attempts: int = Field(
        2, ge=1, description="Times an episode is run when its actor dies; after that it is reported lost."
    )
    object_store_mb: int = Field(512, ge=64, description="Ray object store size when this process starts Ray.")


class EnvSpec(BaseModel):
    """Which env to build (``envs.make_env``): a registered id and its keyword arguments."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="A registered env id, e.g. resrl/ALFWorld-v0.")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Arguments of the env's constructor.")


class RunConfig(BaseModel):
    """A whole ``configs/<env>.yaml``."""

    model_config = ConfigDict(extra="forbid")

    env: EnvSpec
    rollout: RolloutConfig = Field(default_factory=RolloutConfig)


class ConfigError(ValueError):
    """A config is missing or invalid; the message names the file and the field."""


CONFIG_DIRS = (Path.cwd() / "configs", Path(__file__).resolve().parents[1] / "configs")


def config_path(env: str) -> Path:
    """``configs/<env>.yaml`` (looked up in the working directory, then beside the package)."""
    for directory in CONFIG_DIRS:
        candidate = directory / f"{env}.yaml"
        if candidate.is_file():
            return candidate
    known = sorted({p.stem for d in CONFIG_DIRS if d.is_dir() for p in d.glob("*.yaml")})
    raise ConfigError(f"no config for env {env!r}; known: {', '.join(known) or 'none'} (or pass --config FILE)")


def load_config(path: Path) -> RunConfig:
    """Read and validate a YAML run config."""
    try:
        data = yaml.safe_load(path.read_text())
        return RunConfig.model_validate(data)
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error}") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from error
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise ConfigError(f"{path}: {problems}") from error
