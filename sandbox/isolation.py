"""The isolation applied to every sandboxed process, between ``fork`` and ``exec``.

In order (each step needs the privileges the previous ones have not dropped yet):

1. its own session and process group (``setsid``), so the whole group can be killed;
2. its own network namespace (no interfaces but a down loopback: no network at all), its own
   process namespace (the program is its pid 1: when it exits, everything it started dies with it;
   a private ``/proc`` shows no host process), and its own mount namespace, where every existing
   mount is read-only and fresh size-limited ``tmpfs`` are mounted on ``/tmp``, ``/var/tmp`` and
   ``/dev/shm``; the work directory ``/tmp/work`` holds the program and its files, and vanishes
   with the namespace;
3. resource limits: address space, CPU seconds, file size, open files, no core dumps;
4. a user id of its own (one per concurrency slot, no supplementary groups, no name needed) and a
   cap on that user's processes, so a fork bomb stops and one run can never signal another;
5. a seccomp filter refusing sockets, ``ptrace``, mounts, namespaces, BPF, keyrings, kernel modules
   and other calls no test program needs (with ``no_new_privs``, so no setuid binary regains root).

Every step must succeed or the process never runs the program: the failure is written to a
close-on-exec pipe, and the parent reports it (fail closed). This needs root (or CAP_SYS_ADMIN,
CAP_SETUID, CAP_SETGID); :func:`check_isolation` says up front whether it can work here.
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

WORK_DIR = "/tmp/work"
CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
CLONE_NEWPID = 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
# Calls a test program has no business making; they fail with EPERM (the program sees an error).
DENIED_SYSCALLS = (
    "socket", "socketpair", "ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2",
    "pivot_root", "chroot", "unshare", "setns", "bpf", "perf_event_open", "keyctl", "add_key",
    "request_key", "init_module", "finit_module", "delete_module", "kexec_load", "reboot", "swapon",
    "swapoff", "userfaultfd", "io_uring_setup", "open_by_handle_at", "name_to_handle_at", "acct",
)
# Directories any user may write to; each gets a private tmpfs in the sandbox's mount namespace.
WRITABLE_DIRS = ("/tmp", "/var/tmp", "/dev/shm")

_libc = ctypes.CDLL(None, use_errno=True)


class IsolationError(RuntimeError):
    """An isolation step could not be applied, so nothing was run."""


@dataclass(frozen=True)
class Confinement:
    """The limits of one run and who runs it."""

    uid: int
    memory_mb: int
    cpu_s: int
    disk_mb: int = 64
    max_file_mb: int = 16
    max_open_files: int = 64
    max_processes: int = 32


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None, flags,
                       data.encode() if data else None), f"mount {target}")


def _read_only_mounts() -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as mounts:
        points = [line.split()[4].encode().decode("unicode_escape") for line in mounts]
    return sorted(set(points), key=len)  # parents before children


def make_isolator(confinement: Confinement, files: dict[str, bytes], report_fd: int,
                  seccomp_filter: object) -> Callable[[], None]:
    """The ``preexec_fn`` for one run: applies every step above, writes ``files`` into the work directory.

    ``seccomp_filter`` is a ``pyseccomp.SyscallFilter`` built once by the caller; on failure the
    step and the OS error are written to ``report_fd`` before the exception aborts the exec.
    """
    limits = (
        (resource.RLIMIT_AS, confinement.memory_mb << 20),
        (resource.RLIMIT_CPU, confinement.cpu_s),
        (resource.RLIMIT_FSIZE, confinement.max_file_mb << 20),
        (resource.RLIMIT_NOFILE, confinement.max_open_files),
        (resource.RLIMIT_CORE, 0),
    )
    uid = confinement.uid

    def isolate() -> None:
        step = "setsid"
        try:
            os.setsid()
            step = "network, mount and process namespaces"
            _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID), "unshare")
            _mount("none", "/", None, MS_REC | MS_PRIVATE)
            child = os.fork()  # the program becomes pid 1 of the new process namespace
            if child:
                _supervise(child)
            step = "read-only file systems"
            for point in _read_only_mounts():
                try:
                    _mount("none", point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID)
                except OSError as error:  # pseudo file systems that cannot be remounted stay as they are
                    if point == "/" or error.errno not in (errno.EINVAL, errno.EPERM, errno.EACCES):
                        raise
            step = "private /proc"
            _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
            step = "private temporary directories"
            for directory in WRITABLE_DIRS:
                if os.path.isdir(directory):
                    _mount("tmpfs", directory, "tmpfs", MS_NOSUID | MS_NODEV,
                           f"size={confinement.disk_mb}m,nr_inodes=4096,mode=1777")
            step = "work directory"
            os.mkdir(WORK_DIR, 0o700)
            for relative, content in files.items():
                path = Path(WORK_DIR, relative)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
            for root, dirs, names in os.walk(WORK_DIR):
                for name in [*dirs, *names]:
                    os.lchown(os.path.join(root, name), uid, uid)
            os.chown(WORK_DIR, uid, uid)
            os.chdir(WORK_DIR)
            step = "resource limits"
            for which, value in limits:
                hard = value + 1 if which == resource.RLIMIT_CPU else value  # SIGXCPU first, then SIGKILL
                resource.setrlimit(which, (value, hard))
            step = "unprivileged user"
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            resource.setrlimit(resource.RLIMIT_NPROC, (confinement.max_processes, confinement.max_processes))
            step = "seccomp filter"
            seccomp_filter.load()  # type: ignore[attr-defined]
        except BaseException as error:
            os.write(report_fd, f"{step}: {error}".encode()[:4000])
            raise

    return isolate


def _supervise(child: int) -> None:
    """The process outside the namespace: wait for the program (its pid 1) and end as it ended.

    When pid 1 of a process namespace exits, the kernel kills and reaps everything else in it, so
    nothing the program started — daemons included — outlives it, and no orphan reaches the host's
    init. This process lets go of every descriptor first, so that readers of the program's output
    and ``subprocess``'s exec check see only the program's own.
    """
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.closerange(3, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
    if os.WIFSIGNALED(status):
        signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
        os.kill(os.getpid(), os.WTERMSIG(status))
    os._exit(os.waitstatus_to_exitcode(status))


def build_seccomp_filter() -> object:
    """The filter every sandboxed process loads (built once per sandbox: building allocates)."""
    try:
        import pyseccomp
    except ImportError as error:  # the library or libseccomp.so.2 is missing
        raise IsolationError(f"seccomp is unavailable ({error}): install the 'sandbox' extra and libseccomp2"
                             ) from error
    try:
        seccomp_filter = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
        for name in DENIED_SYSCALLS:
            seccomp_filter.add_rule(pyseccomp.ERRNO(errno.EPERM), name)
    except OSError as error:
        raise IsolationError(f"cannot build the seccomp filter: {error}") from error
    return seccomp_filter


def missing_privileges() -> str | None:
    """Why isolation cannot work in this process, or None (checked before any run)."""
    if os.name != "posix" or not Path("/proc/self/mountinfo").exists():
        return "the sandbox needs Linux (namespaces, rlimits, seccomp)"
    if os.geteuid() != 0:
        return ("the sandbox must run as root to create namespaces and switch to its unprivileged users "
                "(in Docker: the sandbox service's compose settings); untrusted code itself never runs as root")
    return None
