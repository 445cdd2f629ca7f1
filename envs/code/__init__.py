"""Code tasks (HumanEval, any JSONL in its format, or generated ones), solved in attempts, tested in the sandbox."""

from envs.code.env import CodeEnv

__all__ = ["CodeEnv"]
