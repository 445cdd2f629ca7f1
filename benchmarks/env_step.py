"""Environment speed, each env against a baseline timed in the same run.

**ALFWorld**: steps/s and reset time, against ALFWorld's own AlfredTWEnv.

Workload: a fixed set of games, each reset then stepped with admissible commands drawn by a
seeded RNG (the same commands for every implementation on real games). Measured: ours on real
games (one env; several envs in one process), ours on generated games, and the baseline
the textworld gym env that ``AlfredTWEnv.init_env`` builds (same wrappers, batch size 1, in
process), i.e. ALFWorld as it ships. The baseline runs first, before our env installs its
template-parse cache (envs/alfworld/engine.py) in the process. Ratios are ours / baseline.

**BFCL**: every entry of a multi-turn and a single-turn category answered with its ground truth:
reset time, steps/s, and the reward computation (end-of-turn checks, or the AST check of the one
step), against BFCL's own checker scoring the same answers (``multi_turn_checker``, which
re-executes every call with ``eval``; ``ast_checker`` on the decoded calls).

**WebShop**: scripted-expert episodes on the generated catalogue (steps/s, reset time); search
latency against a brute-force scan that scores every product by shared words; and the memory of
one more env when envs share the process's index against each env building its own (what the
original's one-search-engine-per-worker does).

    python benchmarks/env_step.py [--env alfworld|bfcl|webshop] [--games 4] [--steps 25] [--envs 4]
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
    parser.add_argument("--env", choices=["alfworld", "bfcl", "webshop"], action="append", help="default: all")
    parser.add_argument("--data", default=os.environ.get("ALFWORLD_ARCHIVE", "../shared/data/alfworld/json_2.1.1.tgz"))
    parser.add_argument("--games", type=int, default=4)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--envs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    chosen = args.env or ["alfworld", "bfcl", "webshop"]
    if "alfworld" in chosen:
        alfworld(args)
    if "bfcl" in chosen:
        bfcl()
    if "webshop" in chosen:
        webshop()


def alfworld(args: argparse.Namespace) -> None:
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



def bfcl() -> None:
    import uuid

    from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker import multi_turn_checker

    from envs.bfcl.calls import parse_calls
    from envs.bfcl.env import BFCLEnv
    from envs.bfcl.official import ast_checker

    print(f"\n{'BFCL, ground-truth answers':<40} {'reset ms':>8} {'steps/s':>8} {'reward ms':>9} {'official ms':>11}"
          f" {'ratio':>6}")
    env = BFCLEnv(category="multi_turn_base", split="all")
    reset = steps = step_time = reward_time = official_time = 0.0
    for entry in env.entries:
        start = time.perf_counter()
        env.reset(options={"task_id": entry.id})
        reset += time.perf_counter() - start
        for calls in entry.ground_truth:
            actions = ([f"[{', '.join(calls)}]"] if calls else []) + ["Done."]
            for action in actions:
                start = time.perf_counter()
                env.step(action)
                elapsed = time.perf_counter() - start
                step_time += elapsed
                steps += 1
                reward_time += elapsed if action == "Done." else 0.0  # a turn's end runs the checks
        record = {"id": entry.id, "initial_config": entry.initial_config, "involved_classes": entry.involved_classes}
        start = time.perf_counter()
        multi_turn_checker([[t] if t else [] for t in entry.ground_truth], entry.ground_truth, record, entry.category,
                           f"bench{uuid.uuid4().hex}")
        official_time += time.perf_counter() - start
    n = len(env.entries)
    name = f"BFCL-v0 multi_turn_base ({n} entries)"
    print(f"{name:<40} {reset / n * 1000:>8.2f} {steps / step_time:>8.0f} "
          f"{reward_time / n * 1000:>9.2f} {official_time / n * 1000:>11.2f} {official_time / reward_time:>5.2f}x")

    env = BFCLEnv(category="simple_python", split="all")
    check = ast_checker()
    reset = step_time = official_time = 0.0
    for entry in env.entries:
        answer = "[" + ", ".join(f"{name}(" + ", ".join(f"{k}={v[0]!r}" for k, v in params.items() if v) + ")"
                                 for truth in entry.ground_truth for name, params in truth.items()) + "]"
        start = time.perf_counter()
        env.reset(options={"task_id": entry.id})
        reset += time.perf_counter() - start
        start = time.perf_counter()
        env.step(answer)
        step_time += time.perf_counter() - start
        decoded = [c.decoded() for c in parse_calls(answer, {f["name"] for f in entry.functions}) or []]
        start = time.perf_counter()
        check(entry.functions, decoded, entry.ground_truth, entry.category)
        official_time += time.perf_counter() - start
    n = len(env.entries)
    name = f"BFCL-v0 simple_python ({n} entries)"
    print(f"{name:<40} {reset / n * 1000:>8.2f} {n / step_time:>8.0f} "
          f"{step_time / n * 1000:>9.2f} {official_time / n * 1000:>11.2f} {official_time / step_time:>5.2f}x")
    print("ratio: official check time / ours (ours: a whole step for single-turn, turn-end checks for multi-turn)")



def webshop() -> None:
    import re
    import statistics
    import tracemalloc

    from envs.webshop.env import WebShopEnv, expert_actions
    from envs.webshop.search import SearchIndex

    start = time.perf_counter()
    env = WebShopEnv(split="all")
    print(f"\nWebShop: {env.catalogue.source}; catalogue and index built in {time.perf_counter() - start:.2f} s")
    reset = step_time = 0.0
    steps = 0
    for index in range(env.num_tasks):
        start = time.perf_counter()
        env.reset(options={"task_index": index})
        reset += time.perf_counter() - start
        for action in expert_actions(env, env._goal):
            start = time.perf_counter()
            env.step(action)
            step_time += time.perf_counter() - start
            steps += 1
    print(f"{'expert episodes':<40} reset {reset / env.num_tasks * 1000:.3f} ms, {steps / step_time:.0f} steps/s "
          f"({env.num_tasks} episodes)")

    words = {asin: set(re.findall(r"\w+", p.search_text().lower())) for asin, p in env.catalogue.products.items()}

    def scan(query: str) -> list[str]:
        wanted = set(re.findall(r"\w+", query.lower()))
        return sorted(words, key=lambda asin: -len(words[asin] & wanted))[:50]

    queries = [goal.query for goal in env.goals[:300]]
    timings = {}
    for name, search in (("brute-force scan", scan), ("bm25s index", env.index.search)):
        latencies = []
        for query in queries:
            start = time.perf_counter()
            search(query)
            latencies.append(time.perf_counter() - start)
        timings[name] = statistics.median(latencies) * 1000
    print(f"{'search p50 ms, brute-force scan':<40} {timings['brute-force scan']:.3f}")
    print(f"{'search p50 ms, bm25s index':<40} {timings['bm25s index']:.3f}   "
          f"{timings['brute-force scan'] / timings['bm25s index']:.1f}x faster")

    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    shared = [WebShopEnv(split="all") for _ in range(4)]
    per_shared = (tracemalloc.get_traced_memory()[0] - before) / len(shared)
    before = tracemalloc.get_traced_memory()[0]
    own = [SearchIndex(env.catalogue) for _ in range(4)]
    per_own = (tracemalloc.get_traced_memory()[0] - before) / len(own) + per_shared
    tracemalloc.stop()
    print(f"{'memory per env, own index each':<40} {per_own / 1024:.0f} KiB")
    print(f"{'memory per env, shared index':<40} {per_shared / 1024:.1f} KiB   {per_own / per_shared:.0f}x less")
    del shared, own


if __name__ == "__main__":
    main()
