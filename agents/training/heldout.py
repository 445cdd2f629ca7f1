"""The held-out evaluation inside a training run: the same seeded tasks at the start, after a warm
start, every N iterations if asked, and at the end, each score in ``<out>/heldout.jsonl``.

The same tasks are scored each time, so a change is judged on paired per-task differences; its
standard error is the spread of those differences over tasks (``√(var/n)``).
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from agents.collection.collector import collect
from agents.collection.summary import invalid_rate, mean_reward
from agents.collection.workers import WorkerPool
from agents.config import RunConfig
from agents.eval import eval_requests
from agents.generation.policy import Policy
from envs import eval_split
from envs.spec import ConfigError, EnvSpec

HELDOUT_FILE = "heldout.jsonl"


class HeldOutScore(BaseModel):
    """One held-out evaluation: success per task (mean over its samples) and the totals."""

    stage: str  # "start", "warm start", "iteration N", "end"
    iteration: int
    success: float
    stderr: float  # over tasks
    mean_reward: float
    invalid_rate: float
    per_task: dict[str, float]
    wall_s: float


def heldout_spec(config: RunConfig) -> EnvSpec:
    """The env the held-out tasks come from: the run's env (the curriculum's target) on the held-out split."""
    env = config.env
    if env.server is not None:
        raise ConfigError("a held-out evaluation needs the env's arguments, which an env server owns; "
                          "set train.heldout.tasks: 0 with --env-server")
    split = config.train.heldout.split or eval_split(env.id)
    return env.model_copy(update={"kwargs": env.kwargs | {"split": split}})


def evaluate_heldout(stage: str, iteration: int, config: RunConfig, policy: Policy, pool: WorkerPool, *,
                     seed: int, on_turn: Callable[[int, int, int], None] | None = None) -> HeldOutScore:
    """Play held-out tasks ``0..tasks-1`` ``samples`` times each (the pool is left on the held-out env)."""
    settings = config.train.heldout
    started = time.perf_counter()
    pool.configure(heldout_spec(config).model_dump())
    requests = eval_requests(settings.tasks, settings.samples, seed)
    result = collect(requests, pool=pool, backend=policy.backend, chat=policy.chat, env_id=config.env.id,
                     config=config.rollout, seed=seed, on_turn=on_turn)
    per_task: dict[str, list[bool]] = {}
    for t in result.trajectories:
        per_task.setdefault(t.group_id, []).append(t.success)
    means = {task: sum(wins) / len(wins) for task, wins in per_task.items()}
    return HeldOutScore(
        stage=stage, iteration=iteration, success=statistics.fmean(means.values()) if means else 0.0,
        stderr=_stderr(list(means.values())), mean_reward=mean_reward(result.trajectories),
        invalid_rate=invalid_rate(result.trajectories), per_task=means,
        wall_s=time.perf_counter() - started,
    )


def change(first: HeldOutScore, last: HeldOutScore) -> tuple[float, float]:
    """``last − first`` in success and its standard error over the tasks both scored."""
    shared = sorted(first.per_task.keys() & last.per_task.keys())
    differences = [last.per_task[task] - first.per_task[task] for task in shared]
    return (statistics.fmean(differences) if differences else math.nan), _stderr(differences)


def describe_change(first: HeldOutScore, last: HeldOutScore) -> str:
    """``held-out success 0.00 -> 0.45 (+/- 0.09)``: the change's standard error in brackets."""
    delta, stderr = change(first, last)
    spread = f"+/- {stderr:.2f}" if math.isfinite(stderr) else "+/- n/a"
    verdict = ""
    if math.isfinite(stderr) and stderr > 0:
        verdict = f", {delta / stderr:+.1f} standard errors"
    elif math.isfinite(delta) and stderr == 0 and delta != 0:
        verdict = ", every task moved alike"
    return f"held-out success {first.success:.2f} -> {last.success:.2f} ({spread}{verdict})"


def append_score(out: Path, score: HeldOutScore) -> None:
    with (out / HELDOUT_FILE).open("a") as scores:
        scores.write(score.model_dump_json() + "\n")


def read_scores(out: Path, *, up_to: int | None = None) -> list[HeldOutScore]:
    """The scores written so far (those of iterations after ``up_to`` are dropped from the file:
    a resumed run redoes them)."""
    path = out / HELDOUT_FILE
    if not path.is_file():
        return []
    scores = [HeldOutScore.model_validate(json.loads(line)) for line in path.read_text().splitlines() if line]
    if up_to is not None and any(s.iteration > up_to for s in scores):
        scores = [s for s in scores if s.iteration <= up_to]
        path.write_text("".join(s.model_dump_json() + "\n" for s in scores))
    return scores


def _stderr(values: list[float]) -> float:
    return statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else math.nan
