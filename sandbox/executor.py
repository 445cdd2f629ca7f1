"""``Sandbox``: run untrusted Python programs, isolated (see ``isolation``), a few at a time.

Each run has a user id of its own, claimed (with a lock file) so that no other run on the host
has it at the same time. A program is pid 1 of its own process namespace, so everything it starts
dies with it; as a second line, after every run anything its user id still runs is killed and
waited for before the id is reused, so no run outlives its result or meets a stranger's leftovers.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import os
import pwd
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from sandbox.isolation import (
    WORK_DIR,
    Confinement,
    IsolationError,
    build_seccomp_filter,
    make_isolator,
    missing_privileges,
)
from sandbox.models import ExecuteRequest, ExecuteResult, Status

logger = logging.getLogger(__name__)
DEFAULT_BASE_UID = 61_000
USER_IDS = 1_000  # per host, across every process's sandbox
LOCK_DIR = Path("/tmp/resrl-gym-sandbox-users")  # root's; programs get a private /tmp
DEFAULT_OUTPUT_BYTES = 64 * 1024
SWEEP_DEADLINE_S = 5.0
ENVIRONMENT = {  # the whole environment of a sandboxed program: nothing of the service's leaks in
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": WORK_DIR,
    "TMPDIR": "/tmp",
    "LANG": "C.UTF-8",
    "PYTHONIOENCODING": "utf-8",
    "PYTHONDONTWRITEBYTECODE": "1",
}


@functools.cache
def shared_sandbox() -> Sandbox:
    """One sandbox per process, for every env in it (they would otherwise each probe and hold slots)."""
    return Sandbox()


def default_python() -> str:
    """The interpreter for programs: the system one, which the unprivileged users can read
    (a virtualenv under root's home directory, mode 700, is not)."""
    return "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable


class Sandbox:
    """Runs :class:`ExecuteRequest` programs; at most ``max_concurrency`` at once, others wait for a slot.

    Creating one checks that isolation works here (privileges, seccomp, free user ids, the
    interpreter) by running a probe, and raises :class:`IsolationError` with the reason if not.
    """

    def __init__(self, *, max_concurrency: int = 2, python: str | None = None, base_uid: int = DEFAULT_BASE_UID,
                 max_output_bytes: int = DEFAULT_OUTPUT_BYTES, disk_mb: int = 64) -> None:
        problem = missing_privileges()
        if problem:
            raise IsolationError(problem)
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        self.python = python or default_python()
        self.max_concurrency = max_concurrency
        self.max_output_bytes = max_output_bytes
        self.disk_mb = disk_mb
        self._filter = build_seccomp_filter()
        self._users = _UserPool(base_uid)
        self._slots = threading.BoundedSemaphore(max_concurrency)
        probe = self.execute(ExecuteRequest(code="import os; print(os.getuid())", timeout_s=10))
        if probe.status != "ok" or not probe.stdout.strip().isdigit() or int(probe.stdout) < base_uid:
            raise IsolationError(f"the probe program failed under isolation ({probe.status}): {probe.stderr[-2000:]}")

    def execute(self, request: ExecuteRequest) -> ExecuteResult:
        """Run one program (waiting for a free slot)."""
        with self._slots, self._users.claim() as uid:
            _sweep(uid)  # what a crashed process using this user may have left
            try:
                return self._run(uid, request)
            finally:
                _sweep(uid)

    def _run(self, uid: int, request: ExecuteRequest) -> ExecuteResult:
        files = {"main.py": request.code.encode(), **{path: text.encode() for path, text in request.files.items()}}
        confinement = Confinement(uid=uid, memory_mb=request.memory_mb, cpu_s=max(1, int(request.timeout_s + 0.999)),
                                  disk_mb=self.disk_mb)
        report_r, report_w = os.pipe2(os.O_CLOEXEC)
        started = time.perf_counter()
        try:
            process = subprocess.Popen(
                [self.python, "-s", "main.py"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, env=ENVIRONMENT, close_fds=True,
                preexec_fn=make_isolator(confinement, files, report_w, self._filter),
            )
        except (subprocess.SubprocessError, OSError) as error:
            os.close(report_w)
            reason = _read_all(report_r).decode(errors="replace")
            raise IsolationError(f"refused to run: {reason or error}") from error
        os.close(report_w)
        os.close(report_r)
        with process:
            collector = _Collector(process, request.stdin.encode(), self.max_output_bytes)
            outcome = collector.run(started + request.timeout_s)
            if outcome.over_time or outcome.over_output:
                _kill_group(process.pid)
            code = process.wait()
        duration_ms = (time.perf_counter() - started) * 1000
        stdout, stderr = outcome.text(1), outcome.text(2)
        status = _status(code, stderr, over_time=outcome.over_time, over_output=outcome.over_output)
        if code < 0 and not (outcome.over_time or outcome.over_output):
            ended_by = signal.Signals(-code)
            stderr += f"\n[sandbox] ended by {ended_by.name}{_SIGNAL_REASONS.get(ended_by, '')}"
        return ExecuteResult(status=status, exit_code=code, stdout=stdout, stderr=stderr,
                             stdout_truncated=outcome.truncated[1], stderr_truncated=outcome.truncated[2],
                             duration_ms=round(duration_ms, 3))

def _sweep(uid: int) -> None:
    """Kill whatever ``uid`` still runs; return when none of it is left."""
    deadline = time.monotonic() + SWEEP_DEADLINE_S
    while left := _processes_of(uid):
        if any(not zombie for _, zombie in left):
            _kill_all_of(uid)
        if time.monotonic() > deadline:
            logger.error("processes of sandbox user %d outlive SIGKILL: %s", uid, left)
            return
        time.sleep(0.0005)


class _UserPool:
    """User ids for runs, claimed with a lock file so that every sandbox on the host (one per process)
    gets its own; ``USER_IDS`` of them from ``base_uid`` up, skipping ids that belong to a named user."""

    def __init__(self, base_uid: int) -> None:
        named = {user.pw_uid for user in pwd.getpwall()}
        self.uids = [uid for uid in range(base_uid, base_uid + USER_IDS) if uid not in named]
        if base_uid < 1000 or not self.uids:
            raise IsolationError(f"no unused user ids from {base_uid} (system users are below 1000)")
        LOCK_DIR.mkdir(mode=0o700, exist_ok=True)

    @contextlib.contextmanager
    def claim(self) -> Iterator[int]:
        for uid in self.uids:
            fd = os.open(LOCK_DIR / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                yield uid
            finally:
                os.close(fd)  # releases the lock
            return
        raise IsolationError(f"all {len(self.uids)} sandbox user ids are in use on this host")


_SIGNAL_REASONS = {
    signal.SIGXCPU: " (CPU time limit)",
    signal.SIGXFSZ: " (file size limit)",
    signal.SIGKILL: " (killed: CPU time limit or out of memory)",
}


def _status(code: int, stderr: str, *, over_time: bool, over_output: bool) -> Status:
    if over_output:
        return "output_limit"
    if over_time or code in (-signal.SIGXCPU, -signal.SIGKILL):
        return "timeout"
    if code != 0 and "MemoryError" in stderr[-2000:]:
        return "memory"
    if code < 0:
        return "killed"
    return "ok" if code == 0 else "error"


class _Collector:
    """Feeds stdin and reads stdout/stderr until the process exits, the deadline passes or output overflows."""

    def __init__(self, process: subprocess.Popen[bytes], stdin: bytes, limit: int) -> None:
        self.process, self.stdin, self.limit = process, memoryview(stdin), limit
        self.chunks: dict[int, list[bytes]] = {1: [], 2: []}
        self.sizes = {1: 0, 2: 0}
        self.truncated = {1: False, 2: False}
        self.over_time = self.over_output = False

    def run(self, deadline: float) -> _Collector:
        process = self.process
        assert process.stdin and process.stdout and process.stderr
        pidfd = os.pidfd_open(process.pid)
        with selectors.DefaultSelector() as selector:
            selector.register(pidfd, selectors.EVENT_READ, 0)
            selector.register(process.stdout, selectors.EVENT_READ, 1)
            selector.register(process.stderr, selectors.EVENT_READ, 2)
            if self.stdin:
                os.set_blocking(process.stdin.fileno(), False)
                selector.register(process.stdin, selectors.EVENT_WRITE, 0)
            else:
                process.stdin.close()
            exited = False
            while not exited and not self.over_output:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    self.over_time = True
                    break
                for key, _ in selector.select(remaining):
                    if key.fileobj is process.stdin:
                        self._feed(selector)
                    elif key.data == 0:
                        exited = True
                    else:
                        self._read(key.data, key.fileobj, selector)
            if exited:  # what the program wrote before it exited is still in the pipes
                for stream, pipe in ((1, process.stdout), (2, process.stderr)):
                    os.set_blocking(pipe.fileno(), False)
                    while not self.over_output and self._read(stream, pipe, selector):
                        pass
        os.close(pidfd)
        return self

    def _feed(self, selector: selectors.BaseSelector) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        try:
            written = os.write(stdin.fileno(), self.stdin[:65536])
        except (BrokenPipeError, BlockingIOError) as error:
            written = 0 if isinstance(error, BlockingIOError) else len(self.stdin)
        self.stdin = self.stdin[written:]
        if not self.stdin:
            selector.unregister(stdin)
            stdin.close()

    def _read(self, stream: int, pipe: object, selector: selectors.BaseSelector) -> bool:
        """Read one chunk; False at the end of the stream (or nothing ready)."""
        try:
            chunk = os.read(pipe.fileno(), 65536)  # type: ignore[attr-defined]
        except BlockingIOError:
            return False
        if not chunk:
            if pipe in selector.get_map():
                selector.unregister(pipe)  # type: ignore[arg-type]
            return False
        room = self.limit - self.sizes[stream]
        self.chunks[stream].append(chunk[:max(room, 0)])
        self.sizes[stream] += len(chunk)
        if self.sizes[stream] > self.limit:
            self.truncated[stream] = self.over_output = True
        return True

    def text(self, stream: int) -> str:
        return b"".join(self.chunks[stream]).decode("utf-8", errors="replace")


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def _kill_all_of(uid: int) -> None:
    """SIGKILL every process of ``uid``, as that user, so that nothing else can be hit."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        code = 1
        try:
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            os.kill(-1, signal.SIGKILL)
            code = 0
        except ProcessLookupError:
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise IsolationError(f"cannot signal the processes of sandbox user {uid}")


def _processes_of(uid: int) -> list[tuple[int, bool]]:
    """(pid, is a zombie) of every process whose real user is ``uid``. Read from
    ``/proc/<pid>/status``: the owner of ``/proc/<pid>`` would miss a process that made itself
    non-dumpable."""
    found = []
    user = str(uid)
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status", encoding="utf-8") as file:
                status = file.read()
        except OSError:  # it ended meanwhile
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("Uid", "").split()[:1] == [user]:
            found.append((int(name), fields["State"].strip().startswith("Z")))
    return found


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)
