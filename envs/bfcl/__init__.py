"""BFCL function calling (single- and multi-turn) on the data ``bfcl-eval`` ships, scored by its checkers."""

from envs.bfcl.env import BFCLEnv

__all__ = ["BFCLEnv"]
