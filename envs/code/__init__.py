"""Code tasks (HumanEval and any JSONL in its format), solved in attempts, tested in the sandbox."""

from envs.code.env import CodeEnv

__all__ = ["CodeEnv"]
