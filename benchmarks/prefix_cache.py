"""Rollout speed with the transformers backend's prefix cache against computing every turn afresh.

Workload (WebShop-like, where conversations grow to ~1,000 tokens): the built-in WebShop catalogue,
``--episodes`` episodes of up to ``--max-turns`` turns through the real collector and a Ray worker,
replies of up to 32 tokens from the model at temperature 1.0 with fixed seeds. Both runs see the same
requests; the figures are wall time, generation time and generated tokens per second, and how many
trajectories came out identical (float rounding differs between the two, so a sampled token can).

    python benchmarks/prefix_cache.py [--episodes 8] [--max-turns 6] [--model DIR]
"""

from __future__ import annotations

import argparse
from typing import Any

from agents.collection.collector import RolloutResult, collect, group_requests
from agents.collection.workers import WorkerPool, start_ray
from agents.config import RolloutConfig
from agents.generation.models import DEFAULT_MODEL
from agents.generation.policy import Policy, load_policy

ENV: dict[str, Any] = {"id": "resrl/WebShop-v0",
                       "kwargs": {"source": "generated", "split": "train", "num_products": 1000, "max_steps": 6}}


def run(pool: WorkerPool, policy: Policy, config: RolloutConfig, episodes: int) -> RolloutResult:
    return collect(group_requests(episodes // 2, 2, seed=0), pool=pool, backend=policy.backend, chat=policy.chat,
                   env_id=ENV["id"], config=config, seed=0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--max-turns", type=int, default=6)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    args = parser.parse_args(argv)
    policy = load_policy(args.model, ENV["id"])
    start_ray(object_store_mb=256)
    settings: dict[str, Any] = {"max_new_tokens": 32, "context_tokens": 1536, "show_available_actions": False,
                                "worker_cpus": 0}
    pool = WorkerPool(ENV, num_workers=1, slots_per_worker=args.episodes, worker_cpus=0)
    try:
        run(pool, policy, RolloutConfig(**settings, max_turns=1), 2)  # warm-up: the catalogue built in the worker
        results = {cache: run(pool, policy, RolloutConfig(**settings, max_turns=args.max_turns, prefix_cache=cache),
                              args.episodes) for cache in (False, True)}
    finally:
        pool.close()
    print(f"workload: {args.episodes} WebShop episodes, up to {args.max_turns} turns, model {args.model}")
    base = results[False].stats
    for cache, result in results.items():
        s = result.stats
        tokens = sum(len(t.token_ids) for t in result.trajectories) / len(result.trajectories)
        line = (f"{s.total_s:6.1f} s wall | generate {s.generate_s:6.1f} s | {s.generated_tokens / s.total_s:5.1f} "
                f"generated tokens/s | {tokens:5.0f} tokens per episode")
        name = "prefix cache      " if cache else "afresh (baseline) "
        print(f"{name}{line} | {base.total_s / s.total_s:.2f}x wall, {base.generate_s / s.generate_s:.2f}x generate")
    same = sum(a == b for a, b in zip((t.token_ids for t in results[False].trajectories),
                                      (t.token_ids for t in results[True].trajectories), strict=True))
    print(f"identical trajectories: {same} of {args.episodes}")


if __name__ == "__main__":
    main()
