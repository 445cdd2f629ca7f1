"""``python -m agents.eval``: success per task type, Avg@k, pass@k and mean reward of a model on held-out tasks.

    python -m agents.eval --env alfworld --model runs/demo/checkpoints/iter-000002/model \\
        --split eval_out_of_distribution --tasks 20 --samples 4

Task i of the split is played ``--samples`` times (``reset(options={"task_index": i})``); the table
and ``<out>/eval.json`` give the figures, ``<out>/trajectories/`` the episodes.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import defaultdict
from pathlib import Path

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

import resrl
from agents.collection.collector import collect
from agents.collection.episode import EpisodeRequest
from agents.collection.summary import invalid_rate, mean_reward
from agents.collection.trajectory import Trajectory, write_trajectories
from agents.collection.workers import start_pool
from agents.config import BACKENDS, load_config, with_overrides
from agents.generation.backends import BackendError
from agents.generation.models import DEFAULT_MODEL, ModelError
from agents.generation.policy import load_run_policy
from agents.run_files import trajectory_file
from envs import eval_split
from envs.spec import ConfigError, config_path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m agents.eval", description=__doc__.split("\n\n")[0])
    p.add_argument("--env", default="alfworld", help="env family; reads configs/<env>.yaml")
    p.add_argument("--config", type=Path, help="a run config YAML instead of configs/<env>.yaml")
    p.add_argument("--model", default=DEFAULT_MODEL, help="checkpoint directory, cached Hub id, or the default")
    p.add_argument("--split", help="env split to evaluate on (default: the env's held-out split, e.g. "
                                   "eval_out_of_distribution for ALFWorld, eval for the others)")
    p.add_argument("--tasks", type=int, default=20, help="tasks 0..N-1 of the split")
    p.add_argument("--samples", type=int, default=4, help="samples per task (k)")
    p.add_argument("--temperature", type=float, help="override rollout.temperature")
    p.add_argument("--max-turns", type=int, help="override rollout.max_turns")
    p.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="generation backend (auto: vLLM where installed, else transformers)")
    p.add_argument("--workers", type=int, help="override rollout.workers")
    p.add_argument("--ray-address", help="join this Ray cluster instead of starting one")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("runs/eval"), help="where eval.json and trajectories go")
    return p


class TaskOutcome(BaseModel):
    """One held-out task's samples, in sample order: what intervals over tasks are computed from."""

    successes: list[bool]
    rewards: list[float]


class EvalResult(BaseModel):
    """What ``eval.json`` holds."""

    episodes: int
    tasks: int
    samples: int
    avg_at_k: float  # mean success over the k samples of a task, averaged over tasks
    mean_reward: float  # partial credit where the env gives it (WebShop's score)
    invalid_rate: float  # share of replies the env refused
    pass_at_k: dict[int, float]  # unbiased pass@j for j = 1, 2, 4, ... <= k, and k
    success_by_task_type: dict[str, float]
    per_task: dict[str, TaskOutcome]


def eval_requests(tasks: int, samples: int, seed: int) -> list[EpisodeRequest]:
    """Task ``i`` of the split, ``samples`` times, as group ``task<i>`` with seed ``seed + i``."""
    return [EpisodeRequest(f"task{task:05d}", sample, seed + task, options={"task_index": task})
            for task in range(tasks) for sample in range(samples)]


def evaluate(trajectories: list[Trajectory], samples: int) -> EvalResult:
    """Avg@k, pass@j and success per task type of one evaluation's episodes."""
    per_task: dict[str, list[bool]] = defaultdict(list)
    per_type: dict[str, list[bool]] = defaultdict(list)
    rewards: dict[str, list[float]] = defaultdict(list)
    for t in sorted(trajectories, key=lambda t: (t.group_id, t.sample_index)):
        per_task[t.group_id].append(t.success)
        rewards[t.group_id].append(t.reward)
        per_type[str(t.task_info.get("task_type", "all"))].append(t.success)
    ks = sorted({k for k in (1, 2, 4, 8, 16, 32, 64) if k <= samples} | {samples})
    return EvalResult(
        episodes=len(trajectories),
        tasks=len(per_task),
        samples=samples,
        avg_at_k=resrl.avg_at_k(per_task),
        mean_reward=mean_reward(trajectories),
        invalid_rate=invalid_rate(trajectories),
        pass_at_k={k: resrl.mean_pass_at_k(per_task, k) for k in ks},
        success_by_task_type={kind: sum(v) / len(v) for kind, v in sorted(per_type.items())},
        per_task={task: TaskOutcome(successes=wins, rewards=rewards[task]) for task, wins in per_task.items()},
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.tasks < 1 or args.samples < 1:
            raise ConfigError("--tasks and --samples must be at least 1")
        loaded = load_config(args.config or config_path(args.env))
        args.split = args.split or eval_split(loaded.env.id)
        config = with_overrides(loaded, env_kwargs={"split": args.split},
                                rollout={"temperature": args.temperature, "max_turns": args.max_turns,
                                         "workers": args.workers})
        policy = load_run_policy(args.model, config, args.backend, seed=args.seed)
    except (ConfigError, ModelError, BackendError, ValueError) as error:
        console.print(f"[red]error:[/red] {error}", soft_wrap=True)
        return 2
    rollout = config.rollout
    requests = eval_requests(args.tasks, args.samples, args.seed)
    pool = start_pool(config.env, rollout, ray_address=args.ray_address)
    try:
        with console.status("evaluating") as status:
            result = collect(requests, pool=pool, backend=policy.backend, chat=policy.chat, env_id=config.env.id,
                             config=rollout, seed=args.seed,
                             on_turn=lambda turn, done, total: status.update(f"turn {turn}: {done}/{total} episodes"))
    finally:
        pool.close()
    figures = evaluate(result.trajectories, args.samples)
    write_trajectories(trajectory_file(args.out, 0), result.trajectories)
    report = figures.model_dump() | {"model": args.model, "env": config.env.model_dump(), "lost": len(result.lost)}
    (args.out / "eval.json").write_text(json.dumps(report, indent=2))

    table = Table(title=f"{config.env.id} {args.split}: {figures.tasks} tasks × {args.samples} samples")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row(f"Avg@{args.samples}", f"{figures.avg_at_k:.3f}")
    table.add_row("mean reward", f"{figures.mean_reward:.3f}")
    table.add_row("invalid replies", f"{figures.invalid_rate:.1%}")
    for k, value in figures.pass_at_k.items():
        table.add_row(f"pass@{k}", f"{value:.3f}")
    for kind, value in figures.success_by_task_type.items():
        table.add_row(f"success: {kind}", f"{value:.3f}")
    console.print(table)
    console.print(f"results: {args.out / 'eval.json'}", soft_wrap=True)
    return 1 if result.lost else 0


if __name__ == "__main__":
    sys.exit(main())
