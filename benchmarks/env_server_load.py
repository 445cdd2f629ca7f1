"""Env servers under load: ``--users`` concurrent sessions (default 1,000) over N server processes
(N = 1, 2), driven by locust, against the same env stepped in process in the same run.

Each locust user opens a session on server ``user % N``, steps it with the env's own kind of
actions without pause (a closed loop: one request in flight per session), and opens a new session
when the episode ends. Printed per env and N: steps/s (and per core of this machine, which also runs
locust), p50/p99 step latency against in process, the servers' memory per live session, and how many
sessions are left once the users vanish mid-episode (idle expiry must reap them all). The anchor:
OpenEnv reports about 930 requests/s on 8 cores with 2,048 WebSocket sessions (116 per core).

    python benchmarks/env_server_load.py [--users 1000] [--seconds 30] [--servers 1 2] [--envs bfcl webshop]
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()  # locust's users are greenlets; patch before anything opens a socket

import argparse  # noqa: E402
import contextlib  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, ClassVar  # noqa: E402

import gevent  # noqa: E402
import httpx  # noqa: E402
import psutil  # noqa: E402
from locust import FastHttpUser, task  # noqa: E402
from locust.env import Environment  # noqa: E402

import envs  # noqa: E402
from agents.config import load_config  # noqa: E402
from agents.machine import describe  # noqa: E402
from envs.spec import config_path  # noqa: E402
from servers.local import local_service  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
IDLE_TIMEOUT_S = 10
ACTIONS = {  # well-formed actions of each env's kind (the env judges them; invalid ones are steps too)
    "bfcl": ["[ls(a=True)]", "[pwd()]", "[cd(folder='documents')]", "[get_stock_info(symbol='AAPL')]"],
    "webshop": ["search[red shoes]", "search[wireless headphones under 50 dollars]", "click[next >]",
                "click[back to search]"],
}


def in_process(family: str, seconds: float) -> tuple[float, list[float]]:
    """Steps/s and step latencies of one env in this process, the same actions, for ``seconds``."""
    spec = load_config(config_path(family)).env
    env = envs.make_env({"id": spec.id, "kwargs": {**spec.kwargs, "split": "eval"}})
    env.reset(seed=0)
    latencies: list[float] = []
    actions = ACTIONS[family]
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        tick = time.perf_counter()
        *_, terminated, truncated, _ = env.step(actions[len(latencies) % len(actions)])
        latencies.append(time.perf_counter() - tick)
        if terminated or truncated:
            env.reset(seed=len(latencies))
    env.close()
    return len(latencies) / seconds, latencies


def tree_rss(pid: int) -> int:
    """Resident memory of a process and all its descendants (the server and its env processes)."""
    root = psutil.Process(pid)
    total = 0
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += process.memory_info().rss
    return total


@contextlib.contextmanager
def servers(family: str, count: int, users: int) -> Iterator[list[tuple[str, int]]]:
    """``count`` servers of ``family`` (URL, pid), each allowed every user's session."""
    with contextlib.ExitStack() as stack:
        started = []
        for _ in range(count):
            url = stack.enter_context(local_service(
                "servers", family, "--max-sessions", str(users + 64), "--sessions-per-process", "64",
                "--idle-timeout", str(IDLE_TIMEOUT_S), cwd=REPO, env={**os.environ, "RESRL_GYM_TOKEN": ""}))
            port = url.rsplit(":", 1)[1]
            pid = next(p.pid for p in psutil.Process().children() if f"--port {port}" in " ".join(p.cmdline()))
            started.append((url, pid))
        yield started


def load(family: str, urls: list[str], users: int, seconds: float) -> dict[str, Any]:
    env_id = load_config(config_path(family)).env.id
    actions = ACTIONS[family]

    class Player(FastHttpUser):
        """One agent: a session on its server, stepped without pause."""

        host = urls[0]
        count: ClassVar[list[int]] = [0]

        def on_start(self) -> None:
            self.index = Player.count[0]
            Player.count[0] += 1
            self.server = urls[self.index % len(urls)]
            self.turn = 0
            self.open()

        def open(self) -> None:
            with self.client.post(f"{self.server}/sessions", json={"env_id": env_id, "seed": self.index},
                                  name="reset", catch_response=True) as response:
                self.session = response.json()["session_id"] if response.status_code == 200 else None

        @task
        def step(self) -> None:
            if self.session is None:
                self.open()
                return
            self.turn += 1
            with self.client.post(f"{self.server}/sessions/{self.session}/step", name="step",
                                  json={"action": actions[(self.index + self.turn) % len(actions)]},
                                  catch_response=True) as response:
                body = response.json() if response.status_code == 200 else {"terminated": True}
            if body["terminated"] or body.get("truncated"):
                self.open()  # the previous session is left to expire, as a vanished client's would be

    environment = Environment(user_classes=[Player])
    runner = environment.create_local_runner()
    runner.start(users, spawn_rate=max(users / 10, 1))
    gevent.sleep(10)  # every user spawned and its session open
    environment.stats.reset_all()
    started = time.perf_counter()
    gevent.sleep(seconds)
    elapsed = time.perf_counter() - started
    steps = environment.stats.get("step", "POST")
    figures = {"steps_per_s": steps.num_requests / elapsed, "p50_ms": steps.get_response_time_percentile(0.5),
               "p99_ms": steps.get_response_time_percentile(0.99), "failures": steps.num_failures,
               "requests": steps.num_requests}
    runner.stop()  # the users vanish mid-episode: no DELETE for their sessions
    runner.quit()
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--servers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--envs", nargs="+", default=list(ACTIONS), choices=list(ACTIONS))
    args = parser.parse_args(argv)
    cores = os.cpu_count() or 1
    print(describe())
    print(f"{args.users} users (one session each, closed loop), {args.seconds:.0f} s measured per row, "
          f"{cores} cores shared by the servers and locust; access logs off")
    for family in args.envs:
        rate, latencies = in_process(family, 5.0)
        base_p50 = statistics.median(latencies) * 1e3
        print(f"{family:8s} in process: {rate:8.0f} steps/s, p50 {base_p50:.2f} ms (one thread, the baseline)")
        for count in args.servers:
            with servers(family, count, args.users) as running:
                idle_rss = sum(tree_rss(pid) for _, pid in running)
                figures = load(family, [url for url, _ in running], args.users, args.seconds)
                live = sum(httpx.get(f"{url}/health").json()["sessions"] for url, _ in running)
                busy_rss = sum(tree_rss(pid) for _, pid in running)
                gevent.sleep(IDLE_TIMEOUT_S + 15)  # idle timeout plus the reaper's 10 s interval
                left = sum(httpx.get(f"{url}/health").json()["sessions"] for url, _ in running)
            per_session = (busy_rss - idle_rss) / max(live, 1) / 2**20
            rate_out = figures["steps_per_s"]
            print(f"{family:8s} {count} server{'s' if count > 1 else ' '}: {rate_out:8.0f} steps/s "
                  f"({rate_out / cores:6.0f} per core, {rate_out / rate:5.2f}x in process) | "
                  f"p50 {figures['p50_ms']:6.0f} ms, p99 {figures['p99_ms']:6.0f} ms "
                  f"({figures['p50_ms'] / base_p50:6.0f}x in process) | failures {figures['failures']} | "
                  f"{per_session:5.1f} MiB per session ({live} live) | {left} left {IDLE_TIMEOUT_S} s after "
                  "the users vanished", flush=True)


if __name__ == "__main__":
    main()
