"""Env sessions in child processes, so that an env which exits, crashes or hangs takes only its own
process down and the server goes on serving the others.

An :class:`EnvHost` is one child process holding up to ``sessions_per_process`` envs and running their
calls one at a time (textworld's parser is a shared global that is not thread-safe, so one process
never runs two calls at once); separate hosts run in parallel on separate cores. Children are forked
from a forkserver that has already imported the served envs' modules, so a new host starts in
milliseconds. The server talks to a host over a socket pair and waits on it without blocking its event loop;
a call that outlasts its timeout gets the host killed. ALFWorld's planner (fast-downward, a C
library) calls ``exit()`` on malformed PDDL, which is why isolation is by process, not by thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import pickle
import signal
import socket
import struct
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import gymnasium

logger = logging.getLogger(__name__)
_HEADER = struct.Struct("!Q")  # each message: its length, then the pickle (both ends are this code)


class HostError(Exception):
    """The host process died or hung; every session it held is gone."""


class HostTimeoutError(HostError):
    """A call outlasted its timeout; the host was killed."""


class EnvCallError(Exception):
    """The env raised; its session is closed (the host lives on)."""


@dataclass(frozen=True)
class Call:
    """One request to a host: ``open`` (make the env and reset it), ``step`` or ``close``."""

    op: str
    session_id: str
    env_id: str = ""
    kwargs: dict[str, Any] | None = None
    seed: int | None = None
    options: dict[str, Any] | None = None
    action: Any = None


def _serve(channel: socket.socket) -> None:
    """The host's loop: answer each call with ``("ok", value)`` or ``(error kind, message)``; end when
    the server's end of the channel closes (so a killed server leaves no orphans)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group; the server decides
    import envs

    stream = channel.makefile("rwb")
    held: dict[str, gymnasium.Env[Any, Any]] = {}
    while True:
        header = stream.read(_HEADER.size)
        if len(header) < _HEADER.size:  # the server closed its end (shutdown) or died: close every env
            for env in held.values():
                with contextlib.suppress(Exception):
                    env.close()
            return
        call: Call = pickle.loads(stream.read(_HEADER.unpack(header)[0]))
        try:
            if call.op == "open":
                held[call.session_id] = env = envs.make_env({"id": call.env_id, "kwargs": call.kwargs or {}})
                reply: tuple[str, Any] = ("ok", env.reset(seed=call.seed, options=call.options))
            elif call.op == "step":
                reply = ("ok", held[call.session_id].step(call.action))
            else:
                closing = held.pop(call.session_id, None)
                if closing is not None:
                    closing.close()
                reply = ("ok", None)
        except gymnasium.error.ResetNeeded as error:
            reply = ("reset_needed", str(error))
        except BaseException as error:  # SystemExit from an env is the env's failure too
            failed = held.pop(call.session_id, None)
            with contextlib.suppress(BaseException):
                if failed is not None:
                    failed.close()
            reply = ("env_error", traceback.format_exception_only(error)[-1].strip())
        stream.write(_frame(reply))
        stream.flush()


def _frame(message: Any) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


def preload(modules: Iterable[str]) -> None:
    """Have new hosts start with ``modules`` imported (takes effect if no host was started yet)."""
    multiprocessing.get_context("forkserver").set_forkserver_preload(["envs", *modules])


class EnvHost:
    """One child process and the sessions it holds."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        self._process = multiprocessing.get_context("forkserver").Process(
            target=_serve, args=(theirs,), daemon=True, name="env-host")
        self._process.start()
        theirs.close()
        self._channel = ours
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._lock = asyncio.Lock()
        self.sessions: set[str] = set()
        self.dead = False

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    async def call(self, call: Call, timeout_s: float) -> Any:
        """Send ``call`` and wait up to ``timeout_s`` for its answer. Raises :class:`EnvCallError` (the
        env raised), :class:`gymnasium.error.ResetNeeded` (the session stays), or :class:`HostError` if the
        process died or hung (:class:`HostTimeoutError`; it is then killed)."""
        async with self._lock:
            if self.dead:
                raise HostError("the env process had already stopped")
            try:
                kind, value = await asyncio.wait_for(self._exchange(call), timeout_s)
            except TimeoutError:
                self.kill()
                raise HostTimeoutError(f"the env took longer than {timeout_s} s; its process was stopped") from None
            except (asyncio.IncompleteReadError, ConnectionError):
                self.kill()
                raise HostError(f"the env process exited (status {self._process.exitcode})") from None
        if kind == "env_error":  # the process dropped that env; the server releases the session
            raise EnvCallError(value)
        if kind == "reset_needed":
            raise gymnasium.error.ResetNeeded(value)
        return value

    async def _exchange(self, call: Call) -> tuple[str, Any]:
        if self._streams is None:
            self._streams = await asyncio.open_unix_connection(sock=self._channel)
        reader, writer = self._streams
        writer.write(_frame(call))
        await writer.drain()
        size = _HEADER.unpack(await reader.readexactly(_HEADER.size))[0]
        answer: tuple[str, Any] = pickle.loads(await reader.readexactly(size))
        return answer

    def hang_up(self) -> None:
        """Close our end of the channel: the process closes its envs and exits."""
        self.dead = True
        if self._streams is not None:
            self._streams[1].close()
        self._channel.close()

    def kill(self, grace_s: float = 0.0) -> None:
        """Stop the process (its sessions are lost): hang up, wait ``grace_s`` for it to exit, then
        kill it."""
        self.hang_up()
        self._process.join(timeout=grace_s)
        if self._process.is_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._process.pid or 0, signal.SIGKILL)
            self._process.join(timeout=5)


class HostPool:
    """Hosts for a server's sessions: a new session goes to the live host with the fewest sessions
    that still has room, or to a new host."""

    def __init__(self, sessions_per_process: int, spare_processes: int = 2) -> None:
        self.sessions_per_process = sessions_per_process
        self.spare_processes = spare_processes
        self.hosts: list[EnvHost] = []

    def place(self, session_id: str) -> EnvHost:
        self.hosts = [host for host in self.hosts if not host.dead]
        roomy = [host for host in self.hosts if len(host.sessions) < self.sessions_per_process]
        host = min(roomy, key=lambda h: len(h.sessions)) if roomy else self._start()
        host.sessions.add(session_id)
        return host

    def release(self, host: EnvHost, session_id: str) -> None:
        """``session_id`` is closed; keep its host as a spare, or stop it if there are enough spares."""
        host.sessions.discard(session_id)
        idle = [h for h in self.hosts if not h.dead and not h.sessions and not h.busy]
        if host in idle and len(idle) > self.spare_processes:
            host.kill()
            self.hosts.remove(host)

    def close(self, grace_s: float = 10.0) -> None:
        """Stop every host, giving them ``grace_s`` in all to close their envs."""
        for host in self.hosts:
            host.hang_up()
        deadline = time.monotonic() + grace_s
        for host in self.hosts:
            host.kill(max(deadline - time.monotonic(), 0.0))
        self.hosts = []

    def _start(self) -> EnvHost:
        host = EnvHost()
        self.hosts.append(host)
        logger.info("started env process %s", host.pid)
        return host
