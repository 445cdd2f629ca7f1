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
import io
import json
import logging
import math
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

import torch
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import resrl
from agents.collection.summary import summarize
from agents.collection.trajectory import rewards_differ, write_trajectories
from agents.collection.workers import WorkerPool, start_pool
from agents.config import BACKENDS, RunConfig, load_config, served_by, with_overrides
from agents.generation.backends import BackendError
from agents.generation.models import DEFAULT_MODEL, ModelError, recompute_activations
from agents.generation.policy import Policy, choose_backend, load_run_policy
from agents.machine import describe, peak_rss_gb
from agents.metrics import format_row
from agents.metrics import header as metrics_header
from agents.run_files import METRICS, read_metrics, trajectory_file
from agents.training.checkpoint import (
    checkpoint_extra,
    latest_checkpoint,
    restore_state,
    resume_metrics,
    save_checkpoint,
)
from agents.training.curriculum import Curriculum
from agents.training.heldout import HeldOutScore, append_score, describe_change, evaluate_heldout, read_scores
from agents.training.learner import Learner
from agents.training.sampling import groups, sample_iteration
from agents.training.task_filter import TaskFilter
from agents.warmstart import kept_summary, probe, step_printer, warm_start
from envs import make_env
from envs.spec import ConfigError, EnvSpec, config_path


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
    p.add_argument("--algo", choices=resrl.ALGOS, help="override train.algo")
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
    p.add_argument("--warm-start", choices=["auto", "always", "never"],
                   help="override train.warmstart.mode (auto: when a probe finds the model cannot act)")
    p.add_argument("--curriculum", action=argparse.BooleanOptionalAction, default=None,
                   help="use train.curriculum.levels (default: yes, unless the env plays real game files)")
    p.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="generation backend (auto: vLLM where installed, else transformers; LoRA: transformers)")
    p.add_argument("--workers", type=int, help="override rollout.workers")
    p.add_argument("--ray-address", help="join this Ray cluster instead of starting one")
    p.add_argument("--env-server", help="play the env through its servers (python -m servers <env>) at these "
                   "comma-separated URLs; their token, if any, comes from $RESRL_GYM_TOKEN(_FILE)")
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
    if args.warm_start is not None:
        config.train.warmstart.mode = args.warm_start
    if args.curriculum is False or (args.curriculum is None and config.train.curriculum.levels
                                    and plays_real_files(config.env)):
        config.train.curriculum.levels = []  # difficulty knobs shape generated tasks, not real files
    return config, {"model": args.model, "seed": args.seed, "backend": args.backend, "out": str(args.out)}


def without_env_arguments(config: RunConfig, console: Console) -> RunConfig:
    """``config`` without the stages that need the env's arguments, which an env server owns: the
    curriculum's levels, the held-out split, the expert's local env (unless forced)."""
    train = config.train
    dropped = [name for name, on in (("curriculum", bool(train.curriculum.levels)),
                                     ("task filter", train.task_filter.mode == "on" or
                                      (train.task_filter.mode == "auto" and not train.curriculum.levels)),
                                     ("held-out evaluation", bool(train.heldout.tasks)),
                                     ("warm start", train.warmstart.mode == "auto")) if on]
    if dropped:
        console.print(f"through an env server: no {', '.join(dropped)} (they need the env's arguments, which the "
                      "server owns)", soft_wrap=True)
    train.curriculum.levels = []
    train.task_filter.mode = "off"
    train.heldout.tasks = 0
    if train.warmstart.mode == "auto":
        train.warmstart.mode = "never"
    return config


def plays_real_files(spec: EnvSpec) -> bool:
    """Whether the env reads real task files (where a generator's difficulty knobs do not apply)."""
    if spec.server is not None:
        return False
    env = make_env(spec.model_dump())
    try:
        return getattr(env.unwrapped, "task_source", None) == "files"
    finally:
        env.close()


def measured_tasks(config: RunConfig) -> TaskFilter | None:
    """The task filter by measured difficulty, where it applies (``train.task_filter``)."""
    settings = config.train.task_filter
    if settings.mode == "off" or (settings.mode == "auto" and config.train.curriculum.levels):
        return None
    if config.env.server is not None:
        raise ConfigError("train.task_filter needs the env's task count, which an env server does not give; "
                          "set train.task_filter.mode: off")
    env = make_env(config.env.model_dump())
    try:
        unwrapped: Any = env.unwrapped  # every env family's base class has num_tasks
        return TaskFilter(settings, int(unwrapped.num_tasks))
    finally:
        env.close()


def run_state(curriculum: Curriculum, tasks: TaskFilter | None) -> dict[str, Any]:
    """What a checkpoint keeps of the run's task choice, so that a resume draws as a straight run."""
    return {"curriculum": curriculum.state_dict()} | ({"task_filter": tasks.state_dict()} if tasks else {})


def prepare_model(policy: Policy, config: RunConfig, checkpoint: Path | None) -> Any:
    """The trainable model: the policy's own, or LoRA adapters on it (the checkpoint's when resuming).
    Generation always uses the trained weights: the backend takes them after every update."""
    model: Any = policy.model
    lora = config.train.lora
    if lora.enabled:
        from peft import LoraConfig, PeftModel, get_peft_model

        if checkpoint is not None:
            model = PeftModel.from_pretrained(model, checkpoint / "model", is_trainable=True)
        else:
            model = get_peft_model(model, LoraConfig(r=lora.rank, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                                                     target_modules=lora.target_modules, task_type="CAUSAL_LM"))
        policy.backend.load_weights(model)  # generation goes through the adapters
    if config.train.gradient_checkpointing:
        recompute_activations(model)
    return model


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # rows show up at once in a log file or a pipe too
    console = Console()
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # ours are the ones to watch
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        config, run = resolve(args)
        config = served_by(config, args.env_server)
        if config.env.server is not None and not args.resume:
            config = without_env_arguments(config, console)
        if config.train.lora.enabled and run["backend"] == "vllm":
            raise ConfigError("LoRA with the vllm backend is not supported yet; use full fine-tuning or --backend hf")
        if run["backend"] == "auto":  # chosen once: a resume keeps the run's backend
            run["backend"] = "hf" if config.train.lora.enabled else choose_backend("auto")
        out = Path(run["out"])
        checkpoint = latest_checkpoint(out) if args.resume else None
        if not args.resume and latest_checkpoint(out) is not None:
            raise ConfigError(f"{out} already holds a run; pass --resume {out} or another --out")
        device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.bfloat16 if config.train.dtype == "bfloat16" else torch.float32
        # Full fine-tuning resumes from the checkpoint's weights; LoRA loads its adapters onto the base.
        source = str(checkpoint / "model") if checkpoint and not config.train.lora.enabled else run["model"]
        policy = load_run_policy(source, config, run["backend"], seed=int(run["seed"]), device=device, dtype=dtype)
    except (ConfigError, ModelError, BackendError, ValueError, OSError) as error:
        console.print(f"[red]error:[/red] {error}", soft_wrap=True)
        return 2
    return train(config, run, policy, checkpoint, out, console, ray_address=args.ray_address)


def train(config: RunConfig, run: dict[str, Any], policy: Policy, checkpoint: Path | None, out: Path,
          console: Console, *, ray_address: str | None) -> int:
    started = time.perf_counter()
    seed = int(run["seed"])
    torch.manual_seed(seed)
    model = prepare_model(policy, config, checkpoint)
    correction = config.train.rollout_correction
    learner = Learner(model, config.train, pad_token_id=policy.tokenizer.pad_token_id,
                      temperature=config.rollout.temperature, seed=seed,
                      correct_rollout=correction == "on" or (correction == "auto" and policy.backend_name != "hf"))
    curriculum = Curriculum(config.train.curriculum)
    tasks = measured_tasks(config)
    start = 1
    if checkpoint is not None:
        start = restore_state(checkpoint, learner.optimizer) + 1
        extra = checkpoint_extra(checkpoint)
        curriculum.load_state_dict(extra.get("curriculum", curriculum.state_dict()))
        if tasks is not None:
            tasks.load_state_dict(extra.get("task_filter", {}))
    out.mkdir(parents=True, exist_ok=True)
    earlier_s = resume_metrics(out, start - 1)
    scores = read_scores(out, up_to=start - 1)
    run_info = run | {"machine": describe()}  # where it (last) ran
    (out / "config.yaml").write_text(yaml.safe_dump(config.model_dump() | {"run": run_info}, sort_keys=False))

    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(out / "tb"))
    pool = start_pool(curriculum.env_spec(config.env), config.rollout, ray_address=ray_address)
    stop = StopFlag()
    last_saved = completed = start - 1
    rows = read_metrics(out)
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=True) as progress:
            if checkpoint is None:
                scores = first_stage(config, run, policy, model, learner, curriculum, pool, scores, out, console,
                                     progress)
            if config.train.kl_coef > 0:  # the reference is the model RL starts from (after any warm start)
                learner.reference = copy.deepcopy(model).eval()
            console.print(f"training {run['model']} with {config.train.algo} on {config.env.id}: "
                          f"iterations {start}..{config.train.iterations}, run directory {out}", soft_wrap=True)
            console.print(metrics_header(), soft_wrap=True)
            for iteration in range(start, config.train.iterations + 1):
                pool.configure(curriculum.env_spec(config.env).model_dump())
                row = run_iteration(iteration, config, policy, learner, pool, progress, stop, seed, out, tasks)
                row["curriculum_level"] = float(curriculum.level) if curriculum.enabled else math.nan
                row["curriculum_move"] = float(curriculum.update(row["success_rate"])) if curriculum.enabled \
                    else math.nan
                row["tasks_resting"] = float(len(tasks.resting(iteration + 1))) if tasks else math.nan
                row["elapsed_s"] = earlier_s + time.perf_counter() - started
                row["peak_rss_gb"] = peak_rss_gb()
                console.print(format_row(row), soft_wrap=True)
                if not row["signal_groups"]:
                    console.print(f"     [yellow]no learning signal:[/yellow] {tied_groups(row)}", soft_wrap=True)
                rows.append(row)
                with (out / METRICS).open("a") as metrics:
                    metrics.write(json.dumps(row) + "\n")
                for key, value in row.items():
                    if key != "iteration" and not math.isnan(value):
                        writer.add_scalar(key, value, iteration)
                writer.flush()
                every = config.train.heldout.every
                last = iteration == config.train.iterations
                if config.train.heldout.tasks and (last or (every and iteration % every == 0)):
                    scores.append(heldout(config, policy, pool, progress, seed, "end" if last else
                                          f"iteration {iteration}", iteration, out, console))
                if iteration % config.train.checkpoint_every == 0 or last:
                    save_checkpoint(out, iteration, model, policy.tokenizer, learner.optimizer,
                                    config.train.keep_checkpoints, run_state(curriculum, tasks))
                    last_saved = iteration
                completed = iteration
                stop.check()
    except InterruptedRunError:  # the model is as the last completed iteration left it
        if completed > last_saved:
            save_checkpoint(out, completed, model, policy.tokenizer, learner.optimizer, config.train.keep_checkpoints,
                            run_state(curriculum, tasks))
        console.print(f"[yellow]stopped[/yellow] after iteration {completed}; "
                      f"continue with: python -m agents.train --resume {out}")
        return 130
    finally:
        pool.close()
        writer.close()
    for line in run_summary(rows, scores, config):
        console.print(line, soft_wrap=True)
    console.print(f"done: metrics {out / METRICS}, trajectories {out / 'trajectories'}, "
                  f"checkpoint {latest_checkpoint(out)}, TensorBoard: tensorboard --logdir {out / 'tb'}",
                  soft_wrap=True)
    return 0


def first_stage(config: RunConfig, run: dict[str, Any], policy: Policy, model: Any, learner: Learner,
                curriculum: Curriculum, pool: WorkerPool, scores: list[HeldOutScore], out: Path, console: Console,
                progress: Progress) -> list[HeldOutScore]:
    """Before iteration 1: the held-out score of the starting model, and a warm start when the model
    cannot act in the env (or when forced), checkpointed as iteration 0 so a resume skips it."""
    seed = int(run["seed"])
    settings = config.train.warmstart
    if config.train.heldout.tasks and not any(s.stage == "start" for s in scores):
        scores.append(heldout(config, policy, pool, progress, seed, "start", 0, out, console))
    pool.configure(curriculum.env_spec(config.env).model_dump())
    if settings.mode == "never":
        return scores
    if settings.mode == "auto":
        with console.status("probing whether the model can act in the env"):
            found = probe(config, policy, pool, seed=seed)
        able = not found.cannot_act(settings.probe_invalid_rate)
        console.print(f"probe: {found.successes}/{found.episodes} successes, {found.invalid_rate:.0%} invalid replies: "
                      + ("no warm start needed" if able else "warm start on expert demonstrations first"),
                      soft_wrap=True)
        if able:
            return scores
    specs = [config.env.model_copy(update={"kwargs": config.env.kwargs | level})
             for level in curriculum.config.levels or [{}]]
    console.print(f"warm start on up to {settings.demonstrations} expert demonstrations", soft_wrap=True)
    report = warm_start(model, config, policy, specs, seed=seed, on_step=step_printer(console, time.perf_counter()))
    policy.backend.load_weights(model)
    (out / "warmstart.json").write_text(json.dumps(report, indent=2))
    losses = report["losses"]
    kept = kept_summary(report["demonstrations"], report["dropped_failed"], report["dropped_too_long"])
    console.print(f"warm start: {kept}, loss {losses[0]:.3f} -> {losses[-1]:.3f} in {report['wall_s']:.0f} s",
                  soft_wrap=True)
    save_checkpoint(out, 0, model, policy.tokenizer, learner.optimizer, config.train.keep_checkpoints,
                    {"curriculum": curriculum.state_dict()})
    if config.train.heldout.tasks:
        scores.append(heldout(config, policy, pool, progress, seed, "warm start", 0, out, console))
    return scores


def heldout(config: RunConfig, policy: Policy, pool: WorkerPool, progress: Progress, seed: int, stage: str,
            iteration: int, out: Path, console: Console) -> HeldOutScore:
    """Evaluate on the held-out tasks, record the score and print it."""
    task = progress.add_task(f"held-out evaluation ({stage})", total=config.train.heldout.tasks *
                             config.train.heldout.samples)
    score = evaluate_heldout(stage, iteration, config, policy, pool, seed=seed,
                             on_turn=lambda _turn, done, _total: progress.update(task, completed=done))
    progress.remove_task(task)
    append_score(out, score)
    console.print(f"held-out ({stage}): success {score.success:.2f} (+/- {score.stderr:.2f}), "
                  f"{score.invalid_rate:.0%} invalid replies, {score.wall_s:.0f} s", soft_wrap=True)
    return score


def tied_groups(row: dict[str, float]) -> str:
    """Why an iteration had nothing to learn from, in words."""
    parts = [f"{int(row[key])} {words}" for key, words in (("groups_all_success", "all succeeded"),
                                                           ("groups_all_failure", "all failed"),
                                                           ("groups_tied_other", "tied on a partial reward"))
             if row.get(key)]
    collected = int(row["groups_collected"])
    detail = f" ({', '.join(parts)})" if parts else ""
    return f"every one of {collected} groups tied{detail}; the model was not changed by this iteration"


def tie_advice(tied: list[dict[str, float]], warm_started: bool, dynamic_sampling: bool) -> str:
    """What to change when iterations tied, from how their groups tied: all failing, all succeeding,
    both (each task always or never solved: only larger groups or other tasks help), or a partial reward."""
    failed = sum(row.get("groups_all_failure", 0) for row in tied)
    solved = sum(row.get("groups_all_success", 0) for row in tied)
    if failed > 2 * solved:
        more = "more demonstrations or epochs (train.warmstart)" if warm_started else \
            "warm-start it (train.warmstart.mode: always)"
        advice = [f"the model rarely succeeds: {more}, use easier tasks or a curriculum (train.curriculum.levels)"]
    elif solved > 2 * failed:
        advice = ["the model nearly always succeeds: use harder tasks or a curriculum (train.curriculum.levels)"]
    elif solved and failed:
        advice = [f"groups tied both ways ({int(solved)} all succeeded, {int(failed)} all failed): each task is "
                  "solved always or never, so raise train.group_size or use tasks of middle difficulty"]
    else:
        advice = ["groups tied on a partial reward: raise train.group_size so its samples can differ"]
    advice.append("raise train.dynamic_sampling.max_extra_groups" if dynamic_sampling
                  else "turn on train.dynamic_sampling to replace tied groups")
    return "tied iterations teach nothing; " + "; ".join(advice)


def run_summary(rows: list[dict[str, float]], scores: list[HeldOutScore], config: RunConfig) -> list[str]:
    """The end-of-run lines: how many updates could learn, why not, and the held-out change."""
    tied = [row for row in rows if row.get("signal_groups", 1) == 0]
    lines = [f"updates with a learning signal: {len(rows) - len(tied)} of {len(rows)} iterations"]
    warm = [s for s in scores if s.stage == "warm start"]
    if tied:
        lines.append(tie_advice(tied, bool(warm), config.train.dynamic_sampling.enabled))
    if len(scores) >= 2:
        lines.append(describe_change(scores[0], scores[-1]))
        if warm and scores[-1] is not warm[0]:
            lines.append("  of which RL after the warm start: " + describe_change(warm[0], scores[-1]))
    return lines


def run_iteration(iteration: int, config: RunConfig, policy: Policy, learner: Learner, pool: WorkerPool,
                  progress: Progress, stop: StopFlag, seed: int, out: Path, tasks: TaskFilter | None = None
                  ) -> dict[str, float]:
    """Rollout, update and records of one iteration; returns its table row."""
    episodes = progress.add_task(f"iteration {iteration}: rollout", total=None)

    def on_turn(_turn: int, done: int, total: int) -> None:
        progress.update(episodes, completed=done, total=total)
        stop.check()

    batch = sample_iteration(iteration, config, policy, pool, seed=seed, tasks=tasks, on_turn=on_turn)
    progress.remove_task(episodes)
    tick = time.perf_counter()
    steps = progress.add_task(f"iteration {iteration}: update", total=None)
    update = learner.update(batch.kept, iteration, lambda done, total: progress.update(steps, completed=done,
                                                                                      total=total))
    progress.remove_task(steps)
    if update.optimizer_steps:
        policy.backend.load_weights(learner.model)
    update_s = time.perf_counter() - tick
    weights = {(t.group_id, t.sample_index): w for t, w in zip(batch.kept, update.weights, strict=True)}
    # every episode, for the viewer; those the update learnt from carry their ResRL weights
    write_trajectories(trajectory_file(out, iteration), [
        t.model_copy(update={"weights": weights.get((t.group_id, t.sample_index))}) for t in batch.trajectories])
    figures = summarize(batch.trajectories, batch.stats)
    counts = batch.counts
    return {
        "iteration": float(iteration),
        "success_rate": figures["success_rate"],
        "mean_return": sum(t.env_return for t in batch.trajectories) / max(len(batch.trajectories), 1),
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
        "rollout_logprob_gap": update.mismatch.gap_mean,
        "rollout_logprob_gap_max": update.mismatch.gap_max,
        "rollout_ratio_std": update.mismatch.ratio_std,
        "tis_weight_mean": update.mismatch.weight_mean,
        "tis_truncated": update.mismatch.truncated,
        "rollout_correction": float(update.corrected),
        "positive_logprob": update.positive_logprob,
        "positive_logprob_gain": update.positive_logprob_gain,
        "tokens_per_s": figures["tokens_per_s"],
        "rollout_s": batch.stats.total_s,
        "generate_s": batch.stats.generate_s,
        "env_s": batch.stats.env_s,
        "update_s": update_s,
        "episodes": float(len(batch.trajectories)),
        "lost_episodes": float(len(batch.lost)),
        "env_errors": float(sum(t.end_reason == "env_error" for t in batch.trajectories)),
        "groups_collected": float(counts.collected),
        "groups_kept": float(counts.kept),
        "signal_groups": float(sum(map(rewards_differ, groups(batch.kept).values()))),
        "groups_all_success": float(counts.all_success),
        "groups_all_failure": float(counts.all_failure),
        "groups_tied_other": float(counts.tied_other),
        "groups_incomplete": float(counts.incomplete),
        "groups_surplus": float(counts.surplus),
        "extra_rounds": float(counts.extra_rounds),
    }


if __name__ == "__main__":
    sys.exit(main())
