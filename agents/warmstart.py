"""``python -m agents.warmstart``: a short supervised fine-tune on expert demonstrations.

    python -m agents.warmstart --config configs/bfcl.yaml --out runs/warm --demonstrations 48

RL learns only from groups whose samples differ in reward. A model that never succeeds (the
default 135M model on every env here, measured in docs/results.md) gives it nothing; a brief
warm start on a few demonstrations of the *train* split lifts it off zero, and RL takes it from
there. Demonstrations are laid out exactly as rollouts are (same chat template, same agent mask),
and the loss is the mean negative log-likelihood of the agent tokens. Experts: single-turn BFCL
(the ground truth's calls), ALFWorld (the engine's planner), WebShop (search the goal's query, open
the target, choose its options, buy) and Code (the problem's canonical solution).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

import resrl
from agents.collection.collector import collect, group_requests
from agents.collection.episode import Episode, EpisodeRequest
from agents.collection.trajectory import Trajectory
from agents.collection.workers import WorkerPool
from agents.config import RolloutConfig, RunConfig, load_config
from agents.generation.backends.base import Generation
from agents.generation.chat import ChatFormat
from agents.generation.models import DEFAULT_MODEL, ModelError, recompute_activations
from agents.generation.policy import Policy, load_policy
from agents.training.learner import Batch, bf16_autocast
from envs import family_of, make_env
from envs.cache import publish_directory
from envs.spec import ConfigError, EnvSpec


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m agents.warmstart", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--config", type=Path, required=True, help="a run config; its env (train split) gives the tasks")
    p.add_argument("--model", default=DEFAULT_MODEL, help="local checkpoint, cached Hub id, or the default")
    p.add_argument("--demonstrations", type=int, default=48, help="tasks 0..N-1 of the env's split")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--lr", type=float, default=5e-5, help="AdamW learning rate")
    p.add_argument("--batch-size", type=int, default=8, help="demonstrations per optimizer step")
    p.add_argument("--micro-batch-size", type=int, default=None,
                   help="demonstrations per forward/backward (default: the config's "
                        "train.warmstart.micro_batch_size, else the whole batch)")
    p.add_argument("--seed", type=int, default=0, help="order of the demonstrations")
    p.add_argument("--out", type=Path, required=True, help="writes <out>/model and <out>/warmstart.json")
    return p


@dataclass(frozen=True)
class Demonstrations:
    """The expert episodes kept, and how many were dropped and why (a silent drop hides a bad setting)."""

    trajectories: list[Trajectory]
    failed: int  # the env did not confirm success
    too_long: int  # a reply needed more than rollout.max_new_tokens

    def summary(self) -> str:
        return kept_summary(len(self.trajectories), self.failed, self.too_long)


def kept_summary(kept: int, failed: int, too_long: int) -> str:
    """E.g. "47 of 48 demonstrations kept (1 with a reply over rollout.max_new_tokens)"."""
    dropped = [f"{n} {why}" for n, why in ((failed, "unsuccessful"),
                                          (too_long, "with a reply over rollout.max_new_tokens")) if n]
    return f"{kept} of {kept + failed + too_long} demonstrations kept" + (f" ({', '.join(dropped)})" if dropped else "")


def demonstrations(spec: EnvSpec, chat: ChatFormat, tokenizer: Any, count: int,
                   layout: RolloutConfig) -> Demonstrations:
    """Expert episodes on tasks ``0..count-1``, laid out by ``layout`` as rollouts are (turn limit,
    context budget, listed actions), kept only where the env confirms success and every reply fits
    in ``layout.max_new_tokens`` (what the policy could not finish in a rollout, it should not learn)."""
    family = family_of(spec.id)
    env = make_env({"id": spec.id, "kwargs": spec.kwargs | dict(family.expert_kwargs)})
    kept, failed, too_long = [], 0, 0
    for index in range(min(count, env.unwrapped.num_tasks)):  # type: ignore[attr-defined]
        observation, info = env.reset(seed=index, options={"task_index": index})
        episode = Episode(EpisodeRequest(f"demo{index:05d}", 0, index), spec.id, chat, layout)
        episode.start(observation, info)
        fits = True
        while not episode.done and episode.prompt() is not None:
            reply = family.expert_reply(env.unwrapped.expert_action())  # type: ignore[attr-defined]
            ids = [*tokenizer(reply, add_special_tokens=False).input_ids, chat.stop_token_ids[0]]
            fits = fits and len(ids) <= layout.max_new_tokens
            action = episode.add_reply(Generation(ids, [0.0] * len(ids), "stop"))
            observation, reward, terminated, truncated, info = env.step(action)
            episode.add_step(observation, float(reward), terminated, truncated, info)
        record = episode.record(0)
        if not fits:
            too_long += 1
        elif not record.success:
            failed += 1
        else:
            kept.append(record)
    env.close()
    found = Demonstrations(kept, failed, too_long)
    if not kept:
        raise ConfigError(f"no demonstration of {spec.id} to learn from: {found.summary()}; check "
                          f"rollout.max_new_tokens ({layout.max_new_tokens}) and the env's arguments")
    return found


@dataclass(frozen=True)
class Probe:
    """How the starting model does on a few train tasks: whether it can act in the env at all."""

    episodes: int
    successes: int
    invalid_rate: float

    def cannot_act(self, invalid_threshold: float) -> bool:
        """No success and mostly invalid replies: RL would see only tied groups."""
        return self.successes == 0 and self.invalid_rate > invalid_threshold


def probe(config: RunConfig, policy: Policy, pool: WorkerPool, *, seed: int) -> Probe:
    """Play ``train.warmstart.probe_tasks`` train tasks once each (the pool's current env)."""
    requests = group_requests(config.train.warmstart.probe_tasks, 1, seed=seed * 1_000_003 - 1, prefix="probe-g")
    result = collect(requests, pool=pool, backend=policy.backend, chat=policy.chat, env_id=config.env.id,
                     config=config.rollout, seed=seed - 1)
    turns = sum(t.num_turns for t in result.trajectories)
    return Probe(len(result.trajectories), sum(t.success for t in result.trajectories),
                 sum(t.invalid_turns for t in result.trajectories) / max(turns, 1))


StepCallback = Callable[[int, int, float], None]
"""Called after each optimizer step with (step, steps, loss)."""


def warm_start(model: Any, config: RunConfig, policy: Policy, specs: Sequence[EnvSpec], *,
               seed: int, on_step: StepCallback | None = None) -> dict[str, Any]:
    """Fine-tune ``model`` in place on ``train.warmstart.demonstrations`` expert episodes spread evenly
    over ``specs`` (e.g. a curriculum's levels); returns what ``warmstart.json`` records."""
    settings = config.train.warmstart
    if any(spec.server is not None for spec in specs):
        raise ConfigError("a warm start plays the expert on a local env; with --env-server set "
                          "train.warmstart.mode: never (or warm-start first with python -m agents.warmstart)")
    started = time.perf_counter()
    share = -(-settings.demonstrations // len(specs))
    found = [demonstrations(spec, policy.chat, policy.tokenizer, share, config.rollout) for spec in specs]
    demos = [demo for level in found for demo in level.trajectories]
    losses = fine_tune(model, demos, pad_token_id=policy.tokenizer.pad_token_id, epochs=settings.epochs,
                       lr=settings.learning_rate, batch_size=settings.batch_size, seed=seed,
                       micro_batch_size=settings.micro_batch_size, agent_logits_only=config.train.agent_logits_only,
                       autocast=config.train.bf16_autocast, on_step=on_step)
    return {"demonstrations": len(demos), "dropped_failed": sum(level.failed for level in found),
            "dropped_too_long": sum(level.too_long for level in found), "losses": losses,
            "wall_s": time.perf_counter() - started, **settings.model_dump()}


def fine_tune(model: Any, demos: list[Trajectory], *, pad_token_id: int, epochs: int, lr: float, batch_size: int,
              seed: int, micro_batch_size: int | None = None, agent_logits_only: bool = True,
              autocast: bool = False, on_step: StepCallback | None = None) -> list[float]:
    """Minimise the agent tokens' negative log-likelihood; returns the loss of each step. A batch runs
    ``micro_batch_size`` demonstrations per forward/backward (all at once when None), under bfloat16
    autocast with ``autocast`` (the run's ``train.bf16_autocast``). ``on_step`` hears of every step
    (a long multi-turn warm start takes minutes a step)."""
    batch = Batch.from_trajectories(demos, pad_token_id)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=lr)
    generator = torch.Generator().manual_seed(seed)
    device_type = next(model.parameters()).device.type
    losses: list[float] = []
    steps = epochs * -(-len(demos) // batch_size)
    model.train()
    for _ in range(epochs):
        for rows in torch.split(torch.randperm(len(demos), generator=generator), batch_size):
            tokens = batch.agent_mask[rows].sum()
            loss = 0.0
            for micro in torch.split(rows, micro_batch_size or batch_size):
                width = int(batch.lengths[micro].max())
                mask = batch.agent_mask[micro, : width - 1]
                with bf16_autocast(device_type, autocast):
                    out = resrl.forward_logprobs_and_hidden(model, batch.input_ids[micro, :width],
                                                            batch.attention_mask[micro, :width],
                                                            positions=mask if agent_logits_only else None)
                part = -(out.logprobs.float() * mask).sum() / tokens  # a mean over the whole batch's tokens
                part.backward()  # type: ignore[no-untyped-call]
                loss += part.item()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss)
            if on_step is not None:
                on_step(len(losses), steps, loss)
    model.eval()
    return losses


def step_printer(console: Console, started: float) -> StepCallback:
    """One line per step, readable in a log file as well as on a terminal."""
    def report(step: int, steps: int, loss: float) -> None:
        console.print(f"warm start step {step}/{steps}: loss {loss:.3f} ({time.perf_counter() - started:.0f} s)")
    return report


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console()
    started = time.perf_counter()
    try:
        micro = [] if args.micro_batch_size is None else [args.micro_batch_size]
        if min(args.demonstrations, args.epochs, args.batch_size, *micro) < 1:
            raise ConfigError("--demonstrations, --epochs, --batch-size and --micro-batch-size must be at least 1")
        config = load_config(args.config)
        if args.micro_batch_size is None:
            args.micro_batch_size = config.train.warmstart.micro_batch_size
        policy = load_policy(args.model, config.env.id)
        found = demonstrations(config.env, policy.chat, policy.tokenizer, args.demonstrations, config.rollout)
    except (ConfigError, ModelError, ValueError) as error:
        console.print(f"[red]error:[/red] {error}", soft_wrap=True)
        return 2
    assert policy.model is not None  # the transformers backend always loads it
    if config.train.gradient_checkpointing:
        recompute_activations(policy.model)
    torch.manual_seed(args.seed)
    console.print(found.summary(), soft_wrap=True)
    losses = fine_tune(policy.model, found.trajectories, pad_token_id=policy.tokenizer.pad_token_id,
                       epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
                       micro_batch_size=args.micro_batch_size, agent_logits_only=config.train.agent_logits_only,
                       autocast=config.train.bf16_autocast, on_step=step_printer(console, started))
    args.out.mkdir(parents=True, exist_ok=True)
    with publish_directory(args.out / "model") as staging:
        policy.model.save_pretrained(staging)
        policy.tokenizer.save_pretrained(staging)
    report = {"model": args.model, "env": config.env.model_dump(), "demonstrations": len(found.trajectories),
              "dropped_failed": found.failed, "dropped_too_long": found.too_long,
              "epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size,
              "micro_batch_size": args.micro_batch_size, "bf16_autocast": config.train.bf16_autocast, "seed": args.seed,
              "losses": losses, "wall_s": time.perf_counter() - started}
    (args.out / "warmstart.json").write_text(json.dumps(report, indent=2))
    console.print(f"loss {losses[0]:.3f} → {losses[-1]:.3f} over {len(losses)} steps; model: {args.out / 'model'}",
                  soft_wrap=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
