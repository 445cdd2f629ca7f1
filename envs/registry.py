"""Every environment of the suite, registered with Gymnasium under the ``resrl/`` namespace. The
families are found, not listed: every ``envs/<family>/family.py`` holds one :class:`EnvFamily`."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gymnasium

from envs.family import EnvFamily


def _find_families() -> dict[str, EnvFamily]:
    here, found = Path(__file__).parent, {}
    for package in sorted(info.name for info in pkgutil.iter_modules([str(here)]) if info.ispkg):
        if (here / package / "family.py").is_file():
            family: EnvFamily = importlib.import_module(f"envs.{package}.family").FAMILY
            found[family.env_id] = family
    return found


FAMILIES: dict[str, EnvFamily] = _find_families()  # env id → its family
ENTRY_POINTS: dict[str, str] = {env_id: family.entry_point for env_id, family in FAMILIES.items()}


def family_of(env_id: str) -> EnvFamily:
    """The family of a registered env id."""
    try:
        return FAMILIES[env_id]
    except KeyError:
        raise ValueError(f"unknown env {env_id!r}; registered: {sorted(FAMILIES)}") from None


def eval_split(env_id: str) -> str:
    """The name of ``env_id``'s held-out split."""
    return family_of(env_id).eval_split


def register_envs() -> None:
    """Register every env id (idempotent); ``import envs`` does this for you."""
    for env_id, entry_point in ENTRY_POINTS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(env_id, entry_point=entry_point)


def preload_modules(env_id: str) -> tuple[str, ...]:
    """The modules a process that hosts ``env_id`` should import ahead: its entry point's module and
    the costly imports the env class names (``TextEnv.preload_modules``)."""
    module, _, name = ENTRY_POINTS[env_id].partition(":")
    env_class = getattr(importlib.import_module(module), name)
    return (module, *getattr(env_class, "preload_modules", ()))


def make_env(spec: Mapping[str, Any]) -> gymnasium.Env[Any, Any]:
    """Build an env from a config's ``env`` section: ``{"id": ..., "kwargs": {...}}``, or
    ``{"id": ..., "server": URL}`` for a :class:`envs.remote.RemoteEnv` (the server's config then
    decides the env's arguments, so ``kwargs`` must be empty)."""
    unknown = set(spec) - {"id", "kwargs", "server"}
    if unknown or "id" not in spec:
        raise ValueError(f"an env spec needs 'id' and optional 'kwargs' or 'server'; got keys {sorted(spec)}")
    if spec["id"] not in ENTRY_POINTS:
        raise ValueError(f"unknown env {spec['id']!r}; registered: {sorted(ENTRY_POINTS)}")
    if spec.get("server"):
        if spec.get("kwargs"):
            raise ValueError("an env reached through a server takes its arguments from the server; drop 'kwargs'")
        from envs.remote import RemoteEnv

        return RemoteEnv(spec["server"], spec["id"])
    return gymnasium.make(spec["id"], **dict(spec.get("kwargs") or {}))
