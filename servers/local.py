"""Start a service as a child process on a free local port and wait until it answers ``/health``
(for tests, benchmarks and single-machine runs without compose)."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def local_service(module: str, *args: str, startup_s: float = 60.0, **popen: object) -> Iterator[str]:
    """Run ``python -m module *args --port P``; yield its base URL; stop it (SIGTERM) on exit, and
    raise if it did not shut down cleanly (exit status 0, or the re-raised SIGTERM)."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", module, *args, "--port", str(port)], **popen)  # type: ignore[call-overload]
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_s
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"`python -m {module}` did not come up (exit status {process.poll()})")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            code = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise RuntimeError(f"`python -m {module}` did not stop within 60 s of SIGTERM") from None
    if code not in (0, -signal.SIGTERM):
        raise RuntimeError(f"`python -m {module}` exited with status {code}")
