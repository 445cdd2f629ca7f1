"""Every environment of the suite, registered with Gymnasium under the ``resrl/`` namespace."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import gymnasium

ENTRY_POINTS: dict[str, str] = {
    "resrl/ALFWorld-v0": "envs.alfworld.env:ALFWorldEnv",
    "resrl/BFCL-v0": "envs.bfcl.env:BFCLEnv",
    "resrl/Code-v0": "envs.code.env:CodeEnv",
    "resrl/WebShop-v0": "envs.webshop.env:WebShopEnv",
}


# The held-out split each env is evaluated on (the others call theirs "eval").
EVAL_SPLITS: dict[str, str] = {"resrl/ALFWorld-v0": "eval_out_of_distribution"}


def eval_split(env_id: str) -> str:
    """The name of ``env_id``'s held-out split."""
    return EVAL_SPLITS.get(env_id, "eval")


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
