"""``RemoteEnv`` at high concurrency: many envs in one client process, each in its own thread, playing
BFCL episodes against one env server, as a rollout worker with many envs would. NeMo-Gym reports an
httpx client that hung at 16k concurrent requests (its connection pool); ``RemoteEnv`` holds one
client per env with at most one connection per server, so a process with N envs opens at most N
connections to a server, and no request waits on a shared pool.

Printed per level of concurrency: episodes/s against one env played alone (the baseline, same run),
failures, and the most connections this process held to the server (sampled). A level where no step
completes for ``--stall`` seconds is a hang and fails the run; a slow machine only makes it slower.

    python benchmarks/remote_env_concurrency.py [--envs 1 100 1000] [--episodes 3]
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

import psutil

from agents.machine import describe
from envs import RemoteEnv
from envs.spec import config_path, load_env_spec
from servers.local import local_service

REPO = Path(__file__).resolve().parents[1]
CALLS = ["[ls(a=True)]", "[pwd()]", "I cannot do that with these functions."]


STEPS = [0]  # steps completed by every thread (a hang is when it stops moving)


def play(url: str, env_id: str, index: int, episodes: int) -> int:
    """``episodes`` single-turn BFCL episodes on one ``RemoteEnv``; the number that raised."""
    env = RemoteEnv(url, env_id, token="")
    failures = 0
    try:
        for episode in range(episodes):
            try:
                env.reset(seed=index * episodes + episode)
                terminated = truncated = False
                step = index
                while not (terminated or truncated):  # a call, another, then plain words end the turn
                    *_, terminated, truncated, _ = env.step(CALLS[step % len(CALLS)])
                    step += 1
                    STEPS[0] += 1
            except Exception:  # counted, not fatal: the figure is how many
                failures += 1
    finally:
        env.close()
    return failures


def connections_to(port: int) -> int:
    return sum(1 for c in psutil.Process().net_connections(kind="tcp")
               if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED)


def run_level(url: str, env_id: str, envs: int, episodes: int, stall_s: float) -> dict[str, float]:
    port = int(url.rsplit(":", 1)[1])
    peak = 0
    started = time.perf_counter()
    pool = ThreadPoolExecutor(max_workers=envs)
    futures = [pool.submit(play, url, env_id, index, episodes) for index in range(envs)]
    last_steps, last_move = STEPS[0], time.monotonic()
    while True:
        _, pending = wait(futures, timeout=1.0)
        peak = max(peak, connections_to(port))
        if not pending:
            break
        if STEPS[0] != last_steps:
            last_steps, last_move = STEPS[0], time.monotonic()
        elif time.monotonic() - last_move > stall_s:  # threads cannot be stopped: report and leave
            print(f"{envs} envs: no step for {stall_s:.0f} s with {len(pending)} envs unfinished: a hang", flush=True)
            os._exit(1)
    wall = time.perf_counter() - started
    pool.shutdown()
    failures = sum(future.result() for future in futures)
    return {"envs": envs, "episodes_per_s": envs * episodes / wall, "failures": failures,
            "peak_connections": peak, "wall_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", type=int, nargs="+", default=[1, 100, 1000])
    parser.add_argument("--episodes", type=int, default=3, help="episodes per env")
    parser.add_argument("--stall", type=float, default=120.0, help="seconds without a step that count as a hang")
    args = parser.parse_args()
    spec = load_env_spec(config_path("bfcl"))
    most = max(args.envs)
    print(describe())
    with local_service("servers", "bfcl", "--max-sessions", str(most + 64), "--sessions-per-process", "64",
                       cwd=REPO, env={**os.environ, "RESRL_GYM_TOKEN": ""}) as url:
        baseline = run_level(url, spec.id, 1, args.episodes * 4, args.stall)
        print(f"baseline: one env alone, {baseline['episodes_per_s']:.1f} episodes/s")
        for envs in args.envs:
            level = run_level(url, spec.id, envs, args.episodes, args.stall)
            print(f"{envs:>5} envs: {level['episodes_per_s']:7.1f} episodes/s "
                  f"({level['episodes_per_s'] / baseline['episodes_per_s']:5.1f}x one env) | "
                  f"failures {level['failures']:.0f} | "
                  f"peak connections {level['peak_connections']:.0f} (bound {envs}) | {level['wall_s']:.0f} s",
                  flush=True)


if __name__ == "__main__":
    main()
