"""Multi-turn text environments: one contract (``TextEnv``), one registry, one checker.

``import envs`` registers every env, so ``gymnasium.make("resrl/ALFWorld-v0")`` works.
"""

from envs.checker import EnvCheckError, check_env
from envs.core import TextEnv, Transition
from envs.family import EnvFamily
from envs.registry import ENTRY_POINTS, FAMILIES, eval_split, family_of, make_env, register_envs
from envs.remote import RemoteEnv, RemoteEnvError

register_envs()

__all__ = [
    "ENTRY_POINTS",
    "FAMILIES",
    "EnvCheckError",
    "EnvFamily",
    "RemoteEnv",
    "RemoteEnvError",
    "TextEnv",
    "Transition",
    "check_env",
    "eval_split",
    "family_of",
    "make_env",
    "register_envs",
]
