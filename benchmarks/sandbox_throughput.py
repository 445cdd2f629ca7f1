"""Sandbox throughput and latency, against running the same programs unisolated in the same run.

Workloads: a trivial program (``print(1)``) and a HumanEval test run (problem 0's canonical solution
with its tests). Each is run ``--runs`` times by N client threads (1, 2, 4, 8) through the library
``Sandbox`` (max_concurrency = N), and sequentially through the HTTP service
(``python -m servers.sandbox``, its own process) with ``SandboxClient``. The baseline is a plain
``subprocess.run`` of the same interpreter on the same program, without any isolation. Printed:
runs/s, p50/p99 latency, and throughput as a ratio of the baseline's. Must run as root.

    sudo python benchmarks/sandbox_throughput.py [--runs 200]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from envs.code.problems import load_problems
from envs.code.program import test_program
from sandbox.client import SandboxClient
from sandbox.executor import Sandbox
from sandbox.models import ExecuteRequest, ExecuteResult
from servers.local import local_service


def measure(call: Callable[[], object], runs: int, threads: int) -> tuple[float, float, float]:
    """(runs/s, p50 ms, p99 ms) of ``runs`` calls from ``threads`` threads."""
    def timed(_: int) -> float:
        start = time.perf_counter()
        call()
        return time.perf_counter() - start

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        latencies = list(pool.map(timed, range(runs)))
    rate = runs / (time.perf_counter() - start)
    cuts = statistics.quantiles(latencies, n=100)
    return rate, cuts[49] * 1000, cuts[98] * 1000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2, 4, 8])
    args = parser.parse_args(argv)
    problem = load_problems()[0]
    workloads = {"trivial": "print(1)", "humaneval": test_program(problem, problem.canonical_solution)}
    python = Sandbox(max_concurrency=1).python

    with local_service("servers.sandbox", "--concurrency", "1", stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL) as url:
        client = SandboxClient(url)
        print(f"{'workload':<10} {'how':<26} {'runs/s':>8} {'p50 ms':>8} {'p99 ms':>8} | vs unisolated")
        for name, code in workloads.items():
            with tempfile.TemporaryDirectory() as tmp:
                script = Path(tmp, "main.py")
                script.write_text(code)
                command = [python, str(script)]
                base = row(name, "unisolated subprocess", measure(
                    functools.partial(subprocess.run, command, capture_output=True, check=True), args.runs, 1), None)
            request = ExecuteRequest(code=code)
            for threads in args.threads:
                sandbox = Sandbox(max_concurrency=threads)
                row(name, f"library, concurrency {threads}",
                    measure(functools.partial(run_ok, sandbox.execute, request), args.runs, threads), base)
            row(name, "HTTP service, sequential", measure(functools.partial(run_ok, client.execute, request),
                                                          args.runs, 1), base)
        client.close()


def row(workload: str, how: str, figures: tuple[float, float, float], base: float | None) -> float:
    rate, p50, p99 = figures
    ratio = f"{rate / base:.2f}x" if base else "1.00x"
    print(f"{workload:<10} {how:<26} {rate:>8.1f} {p50:>8.1f} {p99:>8.1f} | {ratio}")
    return rate


def run_ok(execute: Callable[[ExecuteRequest], ExecuteResult], request: ExecuteRequest) -> None:
    result = execute(request)
    assert result.status == "ok", result


if __name__ == "__main__":
    main()
