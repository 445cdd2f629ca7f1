"""The code sandbox against hostile programs: each contained, reported, and nothing left behind."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.executor import Sandbox
from sandbox.isolation import IsolationError
from sandbox.models import ExecuteRequest, ExecuteResult, Status

MARKER = Path("/var/tmp/resrl-sandbox-escape")  # where an escaped write would land
HOSTILE: dict[str, tuple[str, set[Status], str]] = {
    # name: (program, acceptable statuses, text that must be in stdout+stderr)
    "network": ("import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=2)", {"error"},
                "Operation not permitted"),
    "fork bomb": ("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass",
                  {"timeout"}, ""),
    "memory bomb": ("x = bytearray(4 << 30)", {"memory"}, "MemoryError"),
    "infinite loop": ("while True:\n    pass", {"timeout"}, ""),
    "sleep past the timeout": ("import time\ntime.sleep(60)", {"timeout"}, ""),
    "huge output": ("while True:\n    print('x' * 1000)", {"output_limit"}, "xxx"),
    "filling the disk": ("i = 0\nwhile True:\n    open(f'f{i}', 'wb').write(b'0' * (8 << 20))\n    i += 1",
                         {"error"}, "No space left on device"),
    "one huge file": ("open('big', 'wb').write(b'0' * (200 << 20))", {"error", "memory"}, ""),
    "writing outside the work directory": (  # /var/tmp is a private tmpfs: the write lands nowhere on the host
        f"open('{MARKER}', 'w').write('escaped')\nprint('private write ok')\nopen('/etc/passwd', 'a')",
        {"error"}, "private write ok"),
    "reading root-only files": ("print(open('/etc/shadow').read())", {"error"}, "Permission denied"),
    # the service's own pid: the program's private /proc and process namespace do not have it
    "reading the service's environment": (f"print(open('/proc/{os.getpid()}/environ').read())", {"error"},
                                          "No such file or directory"),
    "killing its parent": (f"import os, signal\nos.kill({os.getpid()}, signal.SIGKILL)", {"error"},
                           "ProcessLookupError"),
    "listing the host's processes": ("import os\nprint(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))\n"
                                     "raise SystemExit(1)", {"error"}, "[1]"),
    "ptrace": ("import ctypes\nassert ctypes.CDLL(None).ptrace(16, 1, 0, 0) == 0, 'ptrace refused'", {"error"},
               "ptrace refused"),
}
DAEMON = """import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        sys.stdout.close(); sys.stderr.close()
        time.sleep(600)
    os._exit(0)
print(os.getuid())
"""


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    return Sandbox(max_concurrency=2)


def processes_of(uid: int) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            status = (entry / "status").read_text() if entry.name.isdigit() else ""
        except OSError:
            continue
        if any(line.split()[:2] == ["Uid:", str(uid)] for line in status.splitlines()):
            found.append(entry.name)
    return found


def run(sandbox: Sandbox, code: str, **limits: float) -> ExecuteResult:
    return sandbox.execute(ExecuteRequest(code=code, **limits))


def test_a_benign_program_sees_its_files_stdin_and_a_minimal_environment(sandbox: Sandbox) -> None:
    code = ("import os, sys, helper\nprint(helper.VALUE, sys.stdin.read().upper())\n"
            "print(sorted(os.environ), os.getuid(), os.getcwd())")
    secret = "RESRL_TEST_SECRET"
    os.environ[secret] = "leaked"
    try:
        result = sandbox.execute(ExecuteRequest(code=code, stdin="hello", files={"helper.py": "VALUE = 41 + 1"}))
    finally:
        del os.environ[secret]
    assert result.status == "ok" and result.exit_code == 0, result.stderr
    first, second = result.stdout.splitlines()
    assert first == "42 HELLO"
    assert secret not in second and "PATH" in second and "/tmp/work" in second
    assert int(second.split("] ")[1].split()[0]) >= 61_000  # not root, not a named user


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_programs_are_contained_and_reported(sandbox: Sandbox, name: str) -> None:
    code, statuses, evidence = HOSTILE[name]
    result = run(sandbox, code, timeout_s=3, memory_mb=256)
    assert result.status in statuses, (result.status, result.stderr[-1000:])
    assert evidence in result.stdout + result.stderr
    assert result.duration_ms < 10_000
    if name == "huge output":
        assert result.stdout_truncated and len(result.stdout.encode()) <= sandbox.max_output_bytes
    assert not MARKER.exists()
    assert run(sandbox, "print('fine')").stdout == "fine\n"  # the next run is unaffected


def test_a_detached_daemon_does_not_outlive_its_run(sandbox: Sandbox) -> None:
    result = run(sandbox, DAEMON)
    assert result.status == "ok", result.stderr
    assert processes_of(int(result.stdout)) == []


def test_hostile_and_benign_runs_side_by_side(sandbox: Sandbox) -> None:
    """A memory bomb and a fork bomb next to a benign program: the benign one is untouched."""
    results: dict[str, ExecuteResult] = {}

    def go(name: str, code: str) -> None:
        results[name] = run(sandbox, code, timeout_s=3, memory_mb=256)

    threads = [threading.Thread(target=go, args=("bomb", HOSTILE["fork bomb"][0]))]
    threads += [threading.Thread(target=go, args=(f"benign{i}", "print(sum(range(10**6)))")) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results["bomb"].status == "timeout"
    assert all(results[f"benign{i}"].stdout == "499999500000\n" for i in range(3))


def test_isolation_that_cannot_be_applied_refuses_to_run() -> None:
    with pytest.raises(IsolationError, match="private temporary directories"):
        Sandbox(disk_mb=-1)  # the tmpfs mount is refused, so the probe never runs
    with pytest.raises(IsolationError, match=r"belongs to|no unused user ids"):
        Sandbox(base_uid=0)


def test_without_root_the_sandbox_refuses_to_start() -> None:
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        code = 1
        try:
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
            Sandbox()
        except IsolationError as error:
            code = 0 if "must run as root" in str(error) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.fixture()
def open_fds() -> Iterator[None]:
    before = len(os.listdir("/proc/self/fd"))
    yield
    assert len(os.listdir("/proc/self/fd")) <= before + 2


@pytest.mark.slow
def test_nothing_is_left_behind_after_hundreds_of_runs(sandbox: Sandbox, open_fds: None) -> None:
    # 300 runs (30 of them leaving daemons) reuse each sandbox user many times; 1,000 took about
    # 8 min of CI on a 2-core AVX2-only machine.
    tmp_before = set(os.listdir("/tmp"))
    uids = set()
    for index in range(300):
        code = DAEMON if index % 10 == 0 else f"import os\nopen('/tmp/f{index}', 'w')\nprint(os.getuid())"
        result = run(sandbox, code)
        assert result.status == "ok", result.stderr
        uids.add(int(result.stdout))
    # nothing on the host's /tmp from the programs (other processes on the machine may add their own)
    new = [Path("/tmp", name) for name in set(os.listdir("/tmp")) - tmp_before]
    assert [p for p in new if p.name.startswith("f") or p.lstat().st_uid in uids] == []
    for uid in uids:
        assert processes_of(uid) == []  # zombies included: every leftover was reaped
