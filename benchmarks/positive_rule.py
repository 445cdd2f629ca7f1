"""Does it matter which samples count as positive? ``positive: advantage`` (A > 0, this project's
default) against ``positive: reward`` (reward > 0, the ResRL reference code) on WebShop, whose reward
gives partial credit, measured on the same groups in the same run.

A warm-started model (the WebShop comparison's warm start, ``configs/experiments/webshop_generated.yaml``)
plays ``--tasks`` train goals ``--group-size`` times each. For both rules, from one forward pass: which
samples are positive, the ResRL weights ω and token advantages Ã, and the policy gradient of the
first mini-batch of an update (ratio 1, so ``−Σ Ã ∇log π / tokens``) over the whole batch. The
baseline is the default rule: the figures are how far the reference rule moves away from it.

    python benchmarks/positive_rule.py --out runs/positive-rule [--tasks 8] [--group-size 4]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import torch
import yaml

import resrl
from agents.collection.collector import collect, group_requests
from agents.collection.trajectory import Trajectory, read_trajectories, rewards_differ, write_trajectories
from agents.collection.workers import start_pool
from agents.config import RunConfig, load_experiment
from agents.generation.models import load_model
from agents.generation.policy import load_run_policy
from agents.run_files import trajectory_file
from agents.training.learner import Batch

EXPERIMENT = Path(__file__).parents[1] / "configs" / "experiments" / "webshop_generated.yaml"


def warm_start(config: RunConfig, out: Path) -> Path:
    """The comparison's warm start (kept in ``out`` and reused by a rerun)."""
    model = out / "warm-start" / "model"
    if not (model / "config.json").is_file():
        warm = load_experiment(EXPERIMENT).compare.warm_start
        assert warm is not None
        run_file = out / "run.yaml"
        run_file.write_text(yaml.safe_dump(config.model_dump()))
        subprocess.run([sys.executable, "-m", "agents.warmstart", "--config", str(run_file),
                        "--demonstrations", str(warm.demonstrations), "--epochs", str(warm.epochs),
                        "--lr", str(warm.learning_rate), "--batch-size", str(warm.batch_size),
                        "--out", str(out / "warm-start")], check=True)
    return model


def rollouts(config: RunConfig, model: Path, tasks: int, group_size: int, seed: int, out: Path) -> list[Trajectory]:
    """The groups both rules are judged on (kept in ``out`` and reused by a rerun)."""
    path = trajectory_file(out, 1)
    if not path.is_file():
        policy = load_run_policy(str(model), config, "auto", seed=seed)
        pool = start_pool(config.env, config.rollout)
        try:
            result = collect(group_requests(tasks, group_size, seed=seed), pool=pool, backend=policy.backend,
                             chat=policy.chat, env_id=config.env.id, config=config.rollout, seed=seed)
        finally:
            pool.close()
        write_trajectories(path, result.trajectories)
    return list(read_trajectories(path))


def gradient(model: torch.nn.Module, batch: Batch, token_adv: torch.Tensor, micro: int) -> torch.Tensor:
    """``−Σ Ã ∇log π / agent tokens`` over the batch, flattened (float64)."""
    model.zero_grad(set_to_none=True)
    total = float(batch.agent_mask.sum())
    for rows in torch.split(torch.arange(len(batch.lengths)), micro):
        width = int(batch.lengths[rows].max())
        out = resrl.forward_logprobs_and_hidden(model, batch.input_ids[rows, :width],
                                                batch.attention_mask[rows, :width])
        mask = batch.agent_mask[rows, : width - 1]
        loss = -(token_adv[rows, : width - 1] * out.logprobs * mask).sum() / total
        loss.backward()
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]).double()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/positive-rule"))
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("--group-size", type=int, default=4)
    parser.add_argument("--micro-batch", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1000, help="train goals other than the warm start's")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    config = load_experiment(EXPERIMENT).run_config()
    model_dir = warm_start(config, args.out)
    trajectories = rollouts(config, model_dir, args.tasks, args.group_size, args.seed, args.out)

    train = config.train
    model = load_model(str(model_dir))
    batch = Batch.from_trajectories(trajectories, pad_token_id=0)
    index: dict[str, int] = {}
    group_ids = torch.tensor([index.setdefault(t.group_id, len(index)) for t in trajectories])
    rewards = torch.tensor([t.reward for t in trajectories])
    advantages = resrl.group_advantages(rewards, group_ids)
    with torch.no_grad():
        hidden = torch.zeros(*batch.agent_mask.shape, model.config.hidden_size)
        for rows in torch.split(torch.arange(len(trajectories)), args.micro_batch):
            width = int(batch.lengths[rows].max())
            out = resrl.forward_logprobs_and_hidden(model, batch.input_ids[rows, :width],
                                                    batch.attention_mask[rows, :width])
            hidden[rows, : width - 1] = out.hidden.float()
    rules = {"advantage": advantages > 0, "reward": rewards > 0}
    flipped = rules["reward"] & ~rules["advantage"]
    groups_flipped = len(set(group_ids[flipped].tolist()))
    groups: dict[str, list[Trajectory]] = {}
    for t in trajectories:
        groups.setdefault(t.group_id, []).append(t)
    mixed = sum(rewards_differ(group) for group in groups.values())
    print(f"{len(trajectories)} episodes in {len(index)} groups ({mixed} with rewards that differ); rewards: "
          f"{int((rewards == 0).sum())} zero, {int(((rewards > 0) & (rewards < 1)).sum())} partial, "
          f"{int((rewards >= 1).sum())} full; mean {float(rewards.mean()):.3f}")
    print(f"positive by A > 0: {int(rules['advantage'].sum())} samples; by reward > 0: {int(rules['reward'].sum())}; "
          f"labelled differently: {int(flipped.sum())} samples "
          f"({float(flipped.float().mean()):.0%}) in {groups_flipped} of {len(index)} groups", flush=True)
    token_adv, weights = {}, {}
    for rule, positive in rules.items():
        weights[rule] = resrl.residual_weights(
            hidden, advantages, batch.agent_mask, group_ids, rank=train.rank, num_samples=train.num_samples,
            quantiles=(train.quantile_low, train.quantile_high), floor=train.floor,
            generator=torch.Generator().manual_seed(0), positive=positive)
        token_adv[rule] = resrl.token_advantages(advantages, weights[rule], batch.agent_mask, algo="resrl",
                                                 lambda_pos=train.lambda_pos, positive=positive)
    del hidden
    model.train()
    grads = {rule: gradient(model, batch, token_adv[rule], args.micro_batch) for rule in rules}

    mask = batch.agent_mask
    changed = (token_adv["reward"] != token_adv["advantage"]) & mask
    relative = float((token_adv["reward"] - token_adv["advantage"])[mask].norm() / token_adv["advantage"][mask].norm())
    cosine = float(torch.nn.functional.cosine_similarity(grads["reward"], grads["advantage"], dim=0))
    print(f"agent tokens whose Ã differs: {int(changed.sum())} of {int(mask.sum())} "
          f"({float(changed.sum() / mask.sum()):.0%}); ‖ΔÃ‖ / ‖Ã‖ = {relative:.3f}")
    print(f"first-step policy gradient, reward rule vs advantage rule: cosine {cosine:.4f}, "
          f"‖Δg‖ / ‖g‖ = {float((grads['reward'] - grads['advantage']).norm() / grads['advantage'].norm()):.3f}")


if __name__ == "__main__":
    main()
