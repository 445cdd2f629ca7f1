"""``python -m agents.train``: train a policy with ResRL (or GRPO / NSR) on a multi-turn env.

    python -m agents.train --env alfworld                     # the default model, ResRL, a few iterations
    python -m agents.train --env alfworld --algo grpo --out runs/grpo --iterations 10
    python -m agents.train --resume runs/grpo --iterations 20 # continue where it stopped

Each iteration: collect ``tasks_per_iter × group_size`` episodes with the Ray pool, update the
policy, print one table row, append it to ``<out>/metrics.jsonl`` and TensorBoard, write the
trajectories with their ResRL weights, and checkpoint. Ctrl-C saves and exits; a second Ctrl-C
stops at once.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

import torch
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agents.backends import HFBackend
from agents.checkpoint import latest_checkpoint, restore_state, resume_metrics, save_checkpoint
from agents.collector import collect, group_requests
from agents.config import ConfigError, RunConfig, config_path, load_config, served_by, with_overrides
from agents.learner import Learner
from agents.models import DEFAULT_MODEL, ModelError
from agents.policy import Policy, load_policy
from agents.summary import summarize
from agents.trajectory import trajectory_file, write_trajectories
from agents.workers import WorkerPool, start_pool

COLUMNS = {  # metric → (header, format)
    "iteration": ("iter", "{:>4.0f}"),
    "success_rate": ("success", "{:>7.2f}"),
    "mean_return": ("return", "{:>7.3f}"),
    "mean_turns": ("turns", "{:>5.1f}"),
    "invalid_rate": ("invalid", "{:>7.2f}"),
    "omega_negative": ("ω neg", "{:>6.3f}"),
    "positive_logprob_gain": ("pos Δlp", "{:>7.4f}"),
    "clip_fraction": ("clip", "{:>6.3f}"),
    "approx_kl": ("kl", "{:>8.5f}"),
    "entropy": ("entropy", "{:>7.3f}"),
    "tokens_per_s": ("tok/s", "{:>6.1f}"),
    "rollout_s": ("rollout s", "{:>9.1f}"),
    "update_s": ("update s", "{:>8.1f}"),
}


class InterruptedRunError(Exception):
    """The user pressed Ctrl-C; the run saves what it has and stops."""


class StopFlag:
    """First Ctrl-C asks the loop to stop at a safe point; a second one stops at once."""

    def __init__(self) -> None:
        self.requested = False
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, _signum: int, _frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def check(self) -> None:
        if self.requested:
            raise InterruptedRunError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m agents.train", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--env", default="alfworld", help="env family; reads configs/<env>.yaml")
    p.add_argument("--config", type=Path, help="a run config YAML instead of configs/<env>.yaml")
    p.add_argument("--model", default=DEFAULT_MODEL, help="local checkpoint, cached Hub id, or the default")
    p.add_argument("--algo", choices=["resrl", "grpo", "nsr"], help="override train.algo")
    p.add_argument("--iterations", type=int, help="override train.iterations (with --resume: the new total)")
    p.add_argument("--tasks-per-iter", type=int, help="override train.tasks_per_iter")
    p.add_argument("--group-size", type=int, help="override train.group_size")
    p.add_argument("--max-turns", type=int, help="override rollout.max_turns")
    p.add_argument("--split", help="override env.kwargs.split")
    p.add_argument("--lr", type=float, help="override train.learning_rate")
    p.add_argument("--rank", type=int, help="ResRL subspace rank k")
    p.add_argument("--floor", type=float, help="ResRL weight floor xi")
    p.add_argument("--lambda-pos", type=float, help="weight on positive samples (ResRL, NSR)")
    p.add_argument("--quantiles", type=float, nargs=2, metavar=("LOW", "HIGH"), help="ResRL quantiles")
    p.add_argument("--num-samples", type=int, help="ResRL positive tokens sampled per group")
    p.add_argument("--kl-coef", type=float, help="KL penalty to the initial model (0 = off)")
    p.add_argument("--lora", action=argparse.BooleanOptionalAction, default=None, help="train LoRA adapters")
    p.add_argument("--backend", choices=["hf", "vllm"], default="hf", help="generation backend")
    p.add_argument("--workers", type=int, help="override rollout.workers")
    p.add_argument("--ray-address", help="join this Ray cluster instead of starting one")
    p.add_argument("--env-server", help="play the env through its server (python -m servers <env>) at this URL")
    p.add_argument("--seed", type=int, default=0, help="seed for tasks, sampling and ResRL")
    p.add_argument("--out", type=Path, default=Path("runs/train"), help="run directory")
    p.add_argument("--resume", type=Path, help="continue the run in this directory")
    return p


def resolve(args: argparse.Namespace) -> tuple[RunConfig, dict[str, Any]]:
    """The run config and the run's own settings (model, seed, backend), from a fresh start or a resume."""
    if args.resume:
        saved = yaml.safe_load((args.resume / "config.yaml").read_text()) if (args.resume / "config.yaml").is_file() \
            else None
        if saved is None:
            raise ConfigError(f"{args.resume} is not a run directory (no config.yaml)")
        run = saved.pop("run") | {"out": str(args.resume)}  # the run may have been moved or copied
        config = RunConfig.model_validate(saved)
        return with_overrides(config, env_kwargs={}, train={"iterations": args.iterations}), run
    config = load_config(args.config or config_path(args.env))
    quantiles = args.quantiles or (None, None)
    train = {"algo": args.algo, "iterations": args.iterations, "tasks_per_iter": args.tasks_per_iter,
             "group_size": args.group_size, "learning_rate": args.lr, "rank": args.rank, "floor": args.floor,
             "lambda_pos": args.lambda_pos, "quantile_low": quantiles[0], "quantile_high": quantiles[1],
             "num_samples": args.num_samples, "kl_coef": args.kl_coef}
    config = with_overrides(config, env_kwargs={"split": args.split}, train=train,
                            rollout={"max_turns": args.max_turns, "workers": args.workers})
    if args.lora is not None:
        config.train.lora.enabled = args.lora
    return config, {"model": args.model, "seed": args.seed, "backend": args.backend, "out": str(args.out)}


def prepare_model(policy: Policy, config: RunConfig, checkpoint: Path | None) -> Any:
    """The trainable model: the policy's own, or LoRA adapters on it (the checkpoint's when resuming).
    The HF backend is pointed at it, so generation always uses the trained weights."""
    model: Any = policy.model
    lora = config.train.lora
    if lora.enabled:
        from peft import LoraConfig, PeftModel, get_peft_model

        if checkpoint is not None:
            model = PeftModel.from_pretrained(model, checkpoint / "model", is_trainable=True)
        else:
            model = get_peft_model(model, LoraConfig(r=lora.rank, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                                                     target_modules=lora.target_modules, task_type="CAUSAL_LM"))
    if isinstance(policy.backend, HFBackend):
        policy.backend.model = model
    return model


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console()
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # ours are the ones to watch
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        config, run = resolve(args)
        config = served_by(config, args.env_server)
        if config.train.lora.enabled and run["backend"] == "vllm":
            raise ConfigError("LoRA with the vllm backend is not supported yet; use full fine-tuning or --backend hf")
        out = Path(run["out"])
        checkpoint = latest_checkpoint(out) if args.resume else None
        if not args.resume and latest_checkpoint(out) is not None:
            raise ConfigError(f"{out} already holds a run; pass --resume {out} or another --out")
        device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.bfloat16 if config.train.dtype == "bfloat16" else torch.float32
        # Full fine-tuning resumes from the checkpoint's weights; LoRA loads its adapters onto the base.
        source = str(checkpoint / "model") if checkpoint and not config.train.lora.enabled else run["model"]
        policy = load_policy(source, config.env.id, backend=run["backend"], device=device, dtype=dtype)
    except (ConfigError, ModelError, ValueError, OSError) as error:
        console.print(f"[red]error:[/red] {error}", soft_wrap=True)
        return 2
    return train(config, run, policy, checkpoint, out, console, ray_address=args.ray_address)


def train(config: RunConfig, run: dict[str, Any], policy: Policy, checkpoint: Path | None, out: Path,
          console: Console, *, ray_address: str | None) -> int:
    started = time.perf_counter()
    seed = int(run["seed"])
    torch.manual_seed(seed)
    model = prepare_model(policy, config, checkpoint)
    reference = copy.deepcopy(model).eval() if config.train.kl_coef > 0 else None
    learner = Learner(model, config.train, pad_token_id=policy.tokenizer.pad_token_id,
                      temperature=config.rollout.temperature, seed=seed, reference=reference)
    start = restore_state(checkpoint, learner.optimizer) + 1 if checkpoint is not None else 1
    out.mkdir(parents=True, exist_ok=True)
    earlier_s = resume_metrics(out, start - 1)
    (out / "config.yaml").write_text(yaml.safe_dump(config.model_dump() | {"run": run}, sort_keys=False))

    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(out / "tb"))
    rollout = config.rollout
    pool = start_pool(config.env, rollout, ray_address=ray_address)
    stop = StopFlag()
    last_saved = completed = start - 1
    console.print(f"training {run['model']} with {config.train.algo} on {config.env.id}: "
                  f"iterations {start}..{config.train.iterations}, run directory {out}", soft_wrap=True)
    console.print(" ".join(header for header, _ in COLUMNS.values()), soft_wrap=True)
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=True) as progress:
            for iteration in range(start, config.train.iterations + 1):
                row = run_iteration(iteration, config, policy, learner, pool, progress, stop, seed, out)
                row["elapsed_s"] = earlier_s + time.perf_counter() - started
                console.print(" ".join(fmt.format(row[key]) for key, (_, fmt) in COLUMNS.items()), soft_wrap=True)
                with (out / "metrics.jsonl").open("a") as metrics:
                    metrics.write(json.dumps(row) + "\n")
                for key, value in row.items():
                    if key != "iteration" and not math.isnan(value):
                        writer.add_scalar(key, value, iteration)
                writer.flush()
                if iteration % config.train.checkpoint_every == 0 or iteration == config.train.iterations:
                    save_checkpoint(out, iteration, model, policy.tokenizer, learner.optimizer,
                                    config.train.keep_checkpoints)
                    last_saved = iteration
                completed = iteration
                stop.check()
    except InterruptedRunError:  # the model is as the last completed iteration left it
        if completed > last_saved:
            save_checkpoint(out, completed, model, policy.tokenizer, learner.optimizer, config.train.keep_checkpoints)
        console.print(f"[yellow]stopped[/yellow] after iteration {completed}; "
                      f"continue with: python -m agents.train --resume {out}")
        return 130
    finally:
        pool.close()
        writer.close()
    console.print(f"done: metrics {out / 'metrics.jsonl'}, trajectories {out / 'trajectories'}, "
                  f"checkpoint {latest_checkpoint(out)}, TensorBoard: tensorboard --logdir {out / 'tb'}",
                  soft_wrap=True)
    return 0


def run_iteration(iteration: int, config: RunConfig, policy: Policy, learner: Learner, pool: WorkerPool,
                  progress: Progress, stop: StopFlag, seed: int, out: Path) -> dict[str, float]:
    """Rollout, update and records of one iteration; returns its table row."""
    train = config.train
    requests = group_requests(train.tasks_per_iter, train.group_size,
                              seed=seed * 1_000_003 + iteration * train.tasks_per_iter, prefix=f"i{iteration}-g")
    episodes = progress.add_task(f"iteration {iteration}: rollout", total=len(requests))

    def on_turn(_turn: int, done: int, _total: int) -> None:
        progress.update(episodes, completed=done)
        stop.check()

    result = collect(requests, pool=pool, backend=policy.backend, chat=policy.chat, env_id=config.env.id,
                     config=config.rollout, seed=seed + iteration, iteration=iteration, on_turn=on_turn)
    progress.remove_task(episodes)
    # Episodes the agent never spoke in (an env error at reset) teach nothing; a lone sample of a
    # group (its siblings lost) has no advantage.
    usable = [t for t in result.trajectories if any(t.agent_mask)]
    sizes = Counter(t.group_id for t in usable)
    complete = [t for t in usable if sizes[t.group_id] > 1]
    tick = time.perf_counter()
    steps = progress.add_task(f"iteration {iteration}: update", total=None)
    update = learner.update(complete, iteration, lambda done, total: progress.update(steps, completed=done,
                                                                                    total=total))
    progress.remove_task(steps)
    if not isinstance(policy.backend, HFBackend):  # the HF backend generates with the trained model itself
        policy.backend.load_weights(learner.model.state_dict())
    update_s = time.perf_counter() - tick
    weighted = [t.model_copy(update={"weights": w}) for t, w in zip(complete, update.weights, strict=True)]
    write_trajectories(trajectory_file(out, iteration), weighted)
    figures = summarize(result.trajectories, result.stats)
    return {
        "iteration": float(iteration),
        "success_rate": figures["success_rate"],
        "mean_return": sum(t.env_return for t in result.trajectories) / max(len(result.trajectories), 1),
        "mean_reward": figures["mean_reward"],
        "mean_turns": figures["mean_turns"],
        "invalid_rate": figures["invalid_rate"],
        "omega_negative": update.negative_weight_mean,
        "clip_fraction": update.clip_fraction,
        "approx_kl": update.approx_kl,
        "kl_to_reference": update.kl_to_reference,
        "entropy": update.entropy,
        "loss": update.loss,
        "grad_norm": update.grad_norm,
        "rollout_logprob_gap": update.rollout_logprob_gap,
        "positive_logprob": update.positive_logprob,
        "positive_logprob_gain": update.positive_logprob_gain,
        "tokens_per_s": figures["tokens_per_s"],
        "rollout_s": result.stats.total_s,
        "generate_s": result.stats.generate_s,
        "env_s": result.stats.env_s,
        "update_s": update_s,
        "episodes": float(len(result.trajectories)),
        "lost_episodes": float(len(result.lost)),
        "env_errors": float(sum(t.end_reason == "env_error" for t in result.trajectories)),
    }


if __name__ == "__main__":
    sys.exit(main())
