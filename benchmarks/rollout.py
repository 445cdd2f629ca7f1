"""Rollout speed: the Ray pool with 1 and 2 workers against a lock-step loop, in the same run.

Workload (ALFWorld-like): generated ALFWorld games on the real engine, ``--episodes`` episodes in
groups of two, greedy replies from the model, and a turn cap per episode drawn by a seeded RNG
between 2 and ``--max-turns`` (episodes of an RL batch end at different times: solved early,
failed late). The baseline is the loop people write first: every env in this process stepped
one after another, and the model generating for the whole batch every turn until the longest
episode ends, finished episodes included (their replies thrown away). All three produce the same
trajectories; the figures are wall time, env steps/s, useful generated tokens/s and the time split.

    python benchmarks/rollout.py [--episodes 8] [--max-turns 10] [--max-new-tokens 24] [--model DIR]
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

import envs
from agents.collection.collector import RolloutResult, collect, group_requests
from agents.collection.episode import Episode, EpisodeRequest
from agents.collection.workers import WorkerPool, start_ray
from agents.config import RolloutConfig
from agents.generation.backends import SamplingParams
from agents.generation.models import DEFAULT_MODEL
from agents.generation.policy import Policy, load_policy

ENV: dict[str, Any] = {
    "id": "resrl/ALFWorld-v0",
    "kwargs": {"source": "generated", "split": "train", "num_generated": 48},
}


def workload(episodes: int, max_turns: int, seed: int) -> list[EpisodeRequest]:
    rng = random.Random(seed)
    return [
        EpisodeRequest(r.group_id, r.sample_index, r.seed, max_turns=rng.randint(2, max_turns))
        for r in group_requests(episodes // 2, 2, seed=seed)
    ]


def run_pool(policy: Policy, requests: list[EpisodeRequest], config: RolloutConfig, workers: int) -> RolloutResult:
    pool = WorkerPool(ENV, num_workers=workers, slots_per_worker=len(requests) // workers, worker_cpus=0)
    try:
        collect(requests[:workers], pool=pool, backend=policy.backend, chat=policy.chat, env_id=ENV["id"],
                config=config)  # warm-up: envs built, games cached in every worker
        return collect(requests, pool=pool, backend=policy.backend, chat=policy.chat, env_id=ENV["id"], config=config)
    finally:
        pool.close()


def run_lockstep(policy: Policy, requests: list[EpisodeRequest], config: RolloutConfig) -> dict[str, float]:
    """The baseline: in-process envs stepped in turn; the whole batch generated every turn."""
    started = time.perf_counter()
    env_s = generate_s = 0.0
    useful = steps = 0
    tick = time.perf_counter()
    local = [envs.make_env(ENV) for _ in requests]
    episodes = [Episode(r, ENV["id"], policy.chat, config) for r in requests]
    for env, episode in zip(local, episodes, strict=True):
        episode.start(*env.reset(seed=episode.request.seed))
    env_s += time.perf_counter() - tick
    last: list[list[int]] = [[] for _ in requests]
    params = SamplingParams(max_new_tokens=config.max_new_tokens, temperature=config.temperature)
    for _ in range(max(e.max_turns for e in episodes)):
        for i, episode in enumerate(episodes):
            if not episode.done:
                last[i] = episode.prompt() or last[i]
        tick = time.perf_counter()
        generations = policy.backend.generate(last, params)
        generate_s += time.perf_counter() - tick
        tick = time.perf_counter()
        for env, episode, generation in zip(local, episodes, generations, strict=True):
            if episode.done:
                continue  # generated for nothing
            useful += len(generation.token_ids)
            action = episode.add_reply(generation)
            observation, reward, terminated, truncated, info = env.step(action)
            episode.add_step(observation, float(reward), terminated, truncated, info)
            steps += 1
        env_s += time.perf_counter() - tick
    for env in local:
        env.close()
    return {"wall_s": time.perf_counter() - started, "env_s": env_s, "generate_s": generate_s,
            "steps": steps, "tokens": useful}


def figures(wall: float, env_s: float, generate_s: float, steps: int, tokens: int) -> str:
    return (f"{wall:6.1f} s wall | {steps / wall:5.2f} env steps/s | {tokens / wall:6.1f} useful tokens/s | "
            f"generate {generate_s:5.1f} s, env {env_s:5.1f} s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--max-turns", type=int, default=10)
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    policy = load_policy(args.model, ENV["id"])
    config = RolloutConfig(max_new_tokens=args.max_new_tokens, temperature=0.0, max_turns=args.max_turns,
                           worker_cpus=0)
    requests = workload(args.episodes, args.max_turns, args.seed)
    start_ray(object_store_mb=256)
    print(f"workload: {len(requests)} episodes, turn caps {[r.max_turns for r in requests]}, "
          f"{args.max_new_tokens} new tokens per reply, model {args.model}")
    base = run_lockstep(policy, requests, config)
    line = figures(base["wall_s"], base["env_s"], base["generate_s"], int(base["steps"]), int(base["tokens"]))
    print(f"lock-step baseline   {line}")
    reference: Any = None
    for workers in (1, 2):
        result = run_pool(policy, requests, config, workers)
        s = result.stats
        line = figures(s.total_s, s.env_s, s.generate_s, s.env_steps, s.generated_tokens)
        ratio = base["wall_s"] / s.total_s
        print(f"ray pool, {workers} worker{'s' if workers > 1 else ' '} {line} | {ratio:.2f}x the lock-step loop")
        trajectories = [t.model_dump(exclude={"logprobs"}) for t in result.trajectories]
        assert reference is None or trajectories == reference, "1 and 2 workers disagree"
        reference = trajectories


if __name__ == "__main__":
    main()
