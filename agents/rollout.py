"""``python -m agents.rollout``: collect trajectories with the current policy, without training.

    python -m agents.rollout --env alfworld --tasks 8 --group-size 4 --out runs/rollout-demo

Writes ``<out>/trajectories/iter-000000.jsonl.gz`` and ``<out>/rollout.json`` (settings, figures,
episodes that were lost), and prints a summary table.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from agents.collection.collector import collect, group_requests
from agents.collection.summary import summarize
from agents.collection.trajectory import write_trajectories
from agents.collection.workers import start_pool
from agents.config import BACKENDS, RunConfig, load_config, served_by, with_overrides
from agents.generation.backends import BackendError
from agents.generation.models import DEFAULT_MODEL, ModelError
from agents.generation.policy import load_run_policy
from agents.run_files import trajectory_file
from envs.spec import ConfigError, config_path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m agents.rollout", description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="alfworld", help="env family; reads configs/<env>.yaml (default alfworld)")
    parser.add_argument("--config", type=Path, help="a run config YAML instead of configs/<env>.yaml")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="local checkpoint, Hub id (cached), or the default")
    parser.add_argument("--backend", choices=BACKENDS, default="auto",
                        help="generation backend (auto: vLLM where installed, else transformers)")
    parser.add_argument("--tasks", type=int, default=4, help="tasks (groups) to collect")
    parser.add_argument("--group-size", type=int, default=2, help="samples per task (same start state)")
    parser.add_argument("--split", help="override env.kwargs.split (e.g. eval_out_of_distribution)")
    parser.add_argument("--max-turns", type=int, help="override rollout.max_turns")
    parser.add_argument("--temperature", type=float, help="override rollout.temperature (0 = greedy)")
    parser.add_argument("--workers", type=int, help="override rollout.workers")
    parser.add_argument("--envs-per-worker", type=int, help="override rollout.envs_per_worker")
    parser.add_argument("--seed", type=int, default=0, help="task and sampling seed")
    parser.add_argument("--ray-address", help="join this Ray cluster instead of starting one")
    parser.add_argument("--env-server", help="play the env through its servers at these comma-separated URLs")
    parser.add_argument("--out", type=Path, default=Path("runs/rollout"), help="run directory")
    return parser


def resolve_config(args: argparse.Namespace) -> RunConfig:
    """The YAML config with the CLI's overrides applied (and validated again)."""
    rollout = {"max_turns": args.max_turns, "temperature": args.temperature, "workers": args.workers,
               "envs_per_worker": args.envs_per_worker}
    config = with_overrides(load_config(args.config or config_path(args.env)), env_kwargs={"split": args.split},
                            rollout=rollout)
    return served_by(config, args.env_server)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.tasks < 1 or args.group_size < 1:
        console.print("[red]error:[/red] --tasks and --group-size must be at least 1", soft_wrap=True)
        return 2
    try:
        config = resolve_config(args)
        policy = load_run_policy(args.model, config, args.backend, seed=args.seed)
    except (ConfigError, ModelError, BackendError, ValueError) as error:
        console.print(f"[red]error:[/red] {error}", soft_wrap=True)
        return 2
    rollout = config.rollout
    pool = start_pool(config.env, rollout, ray_address=args.ray_address)
    try:
        with console.status("collecting trajectories") as status:
            result = collect(
                group_requests(args.tasks, args.group_size, seed=args.seed),
                pool=pool,
                backend=policy.backend,
                chat=policy.chat,
                env_id=config.env.id,
                config=rollout,
                seed=args.seed,
                on_turn=lambda turn, done, total: status.update(f"turn {turn}: {done}/{total} episodes done"),
            )
    finally:
        pool.close()
    path = write_trajectories(trajectory_file(args.out, 0), result.trajectories)
    figures = summarize(result.trajectories, result.stats)
    (args.out / "rollout.json").write_text(
        json.dumps(
            {
                "config": config.model_dump(),
                "model": args.model,
                "backend": policy.backend_name,
                "seed": args.seed,
                "worker_nodes": len(pool.nodes),
                "figures": figures,
                "lost": [{"group_id": r.group_id, "sample": r.sample_index, "why": why} for r, why in result.lost],
            },
            indent=2,
        )
    )
    keys = ("success_rate", "mean_reward", "mean_turns", "invalid_rate", "tokens_per_s", "generate_s", "env_s")
    table = Table(title=f"{config.env.id}: {len(result.trajectories)} episodes")
    for key in keys:
        table.add_column(key.replace("_", " "))
    table.add_row(*(f"{figures[key]:.3g}" for key in keys))
    console.print(table)
    for request, why in result.lost:
        console.print(f"[yellow]lost[/yellow] {request.group_id}/{request.sample_index}: {why}")
    console.print(f"trajectories: {path}")
    return 1 if result.lost else 0


if __name__ == "__main__":
    sys.exit(main())
