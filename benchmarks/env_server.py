"""Env server overhead: step latency and throughput through HTTP vs in process, in the same run.

Workload: generated ALFWorld games; each of N sessions (1, 8, 64) is driven by its own client
thread that steps with admissible actions drawn by a seeded RNG (resetting when an episode
ends) for ``--seconds``. In process, the same threads step local envs; through the server, they
step ``RemoteEnv``s against ``python -m servers alfworld`` (its own process) on loopback.
Printed: p50/p99 step latency, steps/s, and the server's added p50 latency. Ratios are server / in-process.

    python benchmarks/env_server.py [--seconds 8] [--sessions 1 8 64]
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

import envs
from servers.local import local_service

ENV_ID = "resrl/ALFWorld-v0"
KWARGS = {"source": "generated", "split": "train", "num_generated": 64}


def drive(make: Callable[[], Any], sessions: int, seconds: float) -> tuple[list[float], float]:
    """Step ``sessions`` envs from as many threads for ``seconds``; (per-step latencies, steps/s)."""
    latencies: list[list[float]] = [[] for _ in range(sessions)]
    environments = [make() for _ in range(sessions)]
    infos = [env.reset(seed=i)[1] for i, env in enumerate(environments)]
    start = threading.Barrier(sessions + 1)
    stop_at = [0.0]

    def worker(index: int) -> None:
        rng = random.Random(index)
        env, info = environments[index], infos[index]
        start.wait()
        while time.perf_counter() < stop_at[0]:
            tick = time.perf_counter()
            _, _, terminated, truncated, info = env.step(rng.choice(info["available_actions"]))
            latencies[index].append(time.perf_counter() - tick)
            if terminated or truncated:
                info = env.reset(seed=rng.randrange(64))[1]

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(sessions)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.perf_counter() + seconds
    start.wait()
    for thread in threads:
        thread.join()
    for env in environments:
        env.close()
    flat = [value for values in latencies for value in values]
    return flat, len(flat) / seconds


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000 if len(values) > 1 else values[0] * 1000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 8, 64])
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "alfworld.yaml"
        config.write_text(yaml.safe_dump({"env": {"id": ENV_ID, "kwargs": KWARGS}}))
        with local_service("servers", "alfworld", "--config", str(config), "--max-sessions",
                           str(max(args.sessions)), stderr=subprocess.DEVNULL) as url:
            run(url, args.sessions, args.seconds)


def run(url: str, levels: list[int], seconds: float) -> None:
    envs.make_env({"id": ENV_ID, "kwargs": KWARGS}).close()  # games generated and cached before timing

    print(f"{'sessions':>8} | {'in-process p50/p99 ms':>22} {'steps/s':>8} | {'server p50/p99 ms':>18} "
          f"{'steps/s':>8} | added p50 ms | throughput ratio")
    for sessions in levels:
        local, local_rate = drive(lambda: envs.make_env({"id": ENV_ID, "kwargs": KWARGS}), sessions, seconds)
        remote, remote_rate = drive(lambda: envs.RemoteEnv(url, ENV_ID), sessions, seconds)
        print(f"{sessions:>8} | {percentile(local, 50):>10.2f} / {percentile(local, 99):>9.2f} {local_rate:>8.1f} | "
              f"{percentile(remote, 50):>7.2f} / {percentile(remote, 99):>8.2f} {remote_rate:>8.1f} | "
              f"{percentile(remote, 50) - percentile(local, 50):>12.2f} | {remote_rate / local_rate:>7.2f}x")


if __name__ == "__main__":
    main()
