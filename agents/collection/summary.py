"""Figures a user reads after a rollout: success, return, turns, validity, throughput."""

from __future__ import annotations

from collections.abc import Sequence

from agents.collection.collector import RolloutStats
from agents.collection.trajectory import Trajectory


def mean_reward(trajectories: Sequence[Trajectory]) -> float:
    """Mean episode reward (0 for none): partial credit where the env gives it, e.g. WebShop's score."""
    return sum(t.reward for t in trajectories) / max(len(trajectories), 1)


def invalid_rate(trajectories: Sequence[Trajectory]) -> float:
    """Share of replies the env refused (0 for none): a policy losing its action format shows here first."""
    return sum(t.invalid_turns for t in trajectories) / max(sum(t.num_turns for t in trajectories), 1)


def summarize(trajectories: Sequence[Trajectory], stats: RolloutStats) -> dict[str, float]:
    """Means over episodes, and where the rollout's time went."""
    count = max(len(trajectories), 1)
    turns = sum(t.num_turns for t in trajectories)
    return {
        "episodes": float(len(trajectories)),
        "success_rate": sum(t.success for t in trajectories) / count,
        "mean_reward": mean_reward(trajectories),
        "mean_turns": turns / count,
        "invalid_rate": invalid_rate(trajectories),
        "generated_tokens": float(stats.generated_tokens),
        "tokens_per_s": stats.generated_tokens / stats.generate_s if stats.generate_s else 0.0,
        "env_steps_per_s": stats.env_steps / stats.env_s if stats.env_s else 0.0,
        "generate_s": stats.generate_s,
        "env_s": stats.env_s,
        "total_s": stats.total_s,
        "worker_restarts": float(stats.worker_restarts),
        "reruns": float(stats.reruns),
    }
