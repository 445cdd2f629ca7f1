"""ALFWorld on the real engine: game files or built-in generated games."""

from envs.alfworld.data import DataError
from envs.alfworld.env import ALFWorldEnv
from envs.alfworld.generator import TASK_TYPES, Difficulty, generate_game

__all__ = ["TASK_TYPES", "ALFWorldEnv", "DataError", "Difficulty", "generate_game"]
