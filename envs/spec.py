"""Which env to build, as a config's ``env:`` section says: the typed spec, where the per-family
configs live, and how they are read. Here (not on the training side) because an env server needs
exactly this and nothing more of a config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from envs.registry import ENTRY_POINTS
from envs.remote import server_urls

# configs/<family>.yaml: looked up in the working directory, then beside the package
CONFIG_DIRS = (Path.cwd() / "configs", Path(__file__).resolve().parents[1] / "configs")


class ConfigError(ValueError):
    """A config is missing or invalid; the message names the file and the field."""


class EnvSpec(BaseModel):
    """Which env to build (``envs.make_env``): a registered id and its keyword arguments."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="A registered env id, e.g. resrl/ALFWorld-v0.")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Arguments of the env's constructor.")
    server: list[str] | None = Field(None, description=(
        "URLs of env servers to play through (RemoteEnv) instead; sessions go to the least loaded. "
        "A string of comma-separated URLs is read as the list."))

    @field_validator("server", mode="before")
    @classmethod
    def _urls(cls, server: Any) -> Any:
        return server_urls(server) if isinstance(server, str) else server

    @field_validator("id")
    @classmethod
    def _registered(cls, env_id: str) -> str:
        if env_id not in ENTRY_POINTS:
            raise ValueError(f"unknown env id {env_id!r}; registered: {', '.join(ENTRY_POINTS)}")
        return env_id


class _EnvSection(BaseModel):
    env: EnvSpec  # the rest of a run config belongs to the training side


def config_path(family: str) -> Path:
    """``configs/<family>.yaml`` (looked up in the working directory, then beside the package)."""
    for directory in CONFIG_DIRS:
        candidate = directory / f"{family}.yaml"
        if candidate.is_file():
            return candidate
    known = sorted({p.stem for d in CONFIG_DIRS if d.is_dir() for p in d.glob("*.yaml")})
    raise ConfigError(f"no config for env {family!r}; known: {', '.join(known) or 'none'} (or pass --config FILE)")


def read_yaml(path: Path) -> Any:
    """A config file's YAML, or :class:`ConfigError` naming the file."""
    try:
        return yaml.safe_load(path.read_text())
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error}") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from error


def load_env_spec(path: Path) -> EnvSpec:
    """The ``env:`` section of a config file, validated."""
    try:
        return _EnvSection.model_validate(read_yaml(path)).env
    except ValidationError as error:
        raise ConfigError(describe(str(path), error)) from error


def describe(source: str, error: ValidationError) -> str:
    """A validation error as one line per problem: where it was found, the field, what is wrong."""
    return f"{source}: " + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
