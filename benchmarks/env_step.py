"""Environment speed: steps/s and reset time, against ALFWorld's own AlfredTWEnv in the same run.

Workload: a fixed set of games, each reset then stepped with admissible commands drawn by a
seeded RNG (the same commands for every implementation on real games). Measured: ours on real
games (one env; several envs in one process), ours on generated games, and the baseline
the textworld gym env that ``AlfredTWEnv.init_env`` builds (same wrappers, batch size 1, in
process), i.e. ALFWorld as it ships. The baseline runs first, before our env installs its
template-parse cache (envs/alfworld/engine.py) in the process. Ratios are ours / baseline.

    python benchmarks/env_step.py [--games 4] [--steps 25] [--envs 4]
"""

from __future__ import annotations

import argparse
import os
import random
import time
from pathlib import Path

from envs.alfworld import ALFWorldEnv
from envs.alfworld.data import SPLIT_DIRS, find_game_root

SPLIT = "eval_out_of_distribution"


def run_ours(envs: list[ALFWorldEnv], games: list[int], steps: int, seed: int) -> tuple[float, float]:
    """(mean reset seconds, env steps/s) stepping ``envs`` round-robin over ``games``."""
    rng = random.Random(seed)
    reset_time, step_time, n_steps = 0.0, 0.0, 0
    for i in range(0, len(games), len(envs)):
        batch = list(zip(envs, games[i : i + len(envs)], strict=False))
        infos = []
        for env, game in batch:
            start = time.perf_counter()
            infos.append(env.reset(options={"task_index": game})[1])
            reset_time += time.perf_counter() - start
        live = list(range(len(batch)))
        for _ in range(steps):
            start = time.perf_counter()
            for j in list(live):
                _, _, terminated, truncated, infos[j] = batch[j][0].step(rng.choice(infos[j]["available_actions"]))
                n_steps += 1
                if terminated or truncated:
                    live.remove(j)
            step_time += time.perf_counter() - start
    return reset_time / len(games), n_steps / step_time


def run_baseline(root: Path, games: list[int], steps: int, seed: int) -> tuple[float, float]:
    """The same workload through ALFWorld's AlfredTWEnv (its textworld gym env, batch size 1)."""
    import textworld.gym
    from alfworld.agents.environment.alfred_tw_env import AlfredDemangler, AlfredInfos

    paths = [str(p) for p in sorted((root / SPLIT_DIRS[SPLIT]).glob("*/*/game.tw-pddl"))]
    infos_requested = textworld.EnvInfos(won=True, admissible_commands=True, extras=["gamefile"])
    rng = random.Random(seed)
    reset_time, step_time, n_steps = 0.0, 0.0, 0
    for game in games:
        env_id = textworld.gym.register_games(
            [paths[game]],
            infos_requested,
            batch_size=1,
            asynchronous=False,
            max_episode_steps=10_000,
            wrappers=[AlfredDemangler(shuffle=False), AlfredInfos],
        )
        env = textworld.gym.make(env_id)
        start = time.perf_counter()
        _, infos = env.reset()
        reset_time += time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(steps):
            _, _, dones, infos = env.step([rng.choice(infos["admissible_commands"][0])])
            n_steps += 1
            if dones[0]:
                break
        step_time += time.perf_counter() - start
        env.close()
    return reset_time / len(games), n_steps / step_time


def row(name: str, reset: float, sps: float, base: tuple[float, float] | None) -> str:
    ratio = f"{sps / base[1]:>6.2f}x {base[0] / reset:>6.2f}x" if base else f"{'':>7} {'':>7}"
    return f"{name:<40} {reset:>8.2f} {sps:>8.1f}  {ratio}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.environ.get("ALFWORLD_ARCHIVE", "../shared/data/alfworld/json_2.1.1.tgz"))
    parser.add_argument("--games", type=int, default=4)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--envs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    root = find_game_root(args.data)
    assert root is not None
    real = ALFWorldEnv(data_path=args.data, split=SPLIT)
    games = [int(i) for i in random.Random(args.seed).sample(range(real.num_tasks), args.games * args.envs)]
    print(f"{args.games * args.envs} valid_unseen games, up to {args.steps} random admissible steps each")
    print(f"{'':<40} {'reset s':>8} {'steps/s':>8}  {'steps':>7} {'reset':>7}  (ratios vs AlfredTWEnv)")

    baseline = run_baseline(root, games, args.steps, args.seed)
    print(row("AlfredTWEnv (alfworld's own, baseline)", *baseline, None), flush=True)
    print(row("ALFWorld-v0, 1 env", *run_ours([real], games, args.steps, args.seed), baseline), flush=True)
    archived = ALFWorldEnv(data_path=args.data, split=SPLIT, game_logic="archived")
    print(row("ALFWorld-v0, 1 env, archived grammar", *run_ours([archived], games, args.steps, args.seed), baseline))
    several = [ALFWorldEnv(data_path=args.data, split=SPLIT) for _ in range(args.envs)]
    print(
        row(f"ALFWorld-v0, {args.envs} envs in one process", *run_ours(several, games, args.steps, args.seed), baseline)
    )

    generated = ALFWorldEnv(source="generated", split=SPLIT, num_generated=args.games * args.envs)
    start = time.perf_counter()
    for game in range(generated.num_tasks):
        generated.tasks.load(game)  # generate (or read from the cache) before timing the env
    print(f"{'generated games: make or load each':<40} {(time.perf_counter() - start) / generated.num_tasks:>8.2f}")
    print(
        row(
            "ALFWorld-v0, 1 env, generated games",
            *run_ours([generated], list(range(generated.num_tasks)), args.steps, args.seed),
            baseline,
        )
    )


if __name__ == "__main__":
    main()
