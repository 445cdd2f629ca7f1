"""``RemoteEnv``: the text-env contract over HTTP, against ``servers.env_server``.

Each ``reset`` opens a new server session (closing the previous one); ``step`` posts the action
as is, so the server-side env judges malformed actions exactly as in process. Given several servers,
each ``reset`` opens its session on the one with the most free capacity that is ready (a server that
does not answer, or is full, is passed over). A server that goes away mid-episode ends the episode
with :class:`ServerLostError`, an :class:`EpisodeLostError`: the rollout plays it again elsewhere.
Connections are pooled and bounded; every request has a timeout; only connection failures (the
request never left) are retried. Requests carry the shared token (:mod:`sandbox.auth`).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Sequence
from typing import Any

import gymnasium
import httpx
from pydantic import BaseModel

from envs.core import MAX_ACTION_CHARS, EpisodeLostError, TextSpace
from envs.wire import (
    CLOSES_SESSION,
    CreateSession,
    EnvServerError,
    ErrorBody,
    Health,
    SessionCreated,
    StepRequest,
    StepResult,
)
from sandbox.auth import bearer, read_token

HEALTH_TIMEOUT_S = 5.0
_rotation = itertools.count()  # breaks ties between equally loaded servers differently per env


class RemoteEnvError(RuntimeError):
    """The server refused or failed a request; the message carries its error and detail."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ServerLostError(RemoteEnvError, EpisodeLostError):
    """The episode's server stopped answering, or forgot the session (it restarted)."""


def server_urls(servers: str | Sequence[str]) -> list[str]:
    """``servers`` as a list of base URLs: a list, or one string of comma-separated URLs."""
    urls = [url.strip().rstrip("/") for url in (servers.split(",") if isinstance(servers, str) else servers)]
    if not all(urls):
        raise ValueError(f"empty env server URL in {servers!r}")
    return urls


class RemoteEnv(gymnasium.Env[str, str]):
    """A registered env served at one or more ``servers``; behaves like the in-process env with the
    same id. ``token`` defaults to the shared token's variables; pass ``""`` to send none."""

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (Gymnasium's class attribute)

    def __init__(self, servers: str | Sequence[str], env_id: str, *, timeout_s: float = 120.0, retries: int = 3,
                 token: str | None = None) -> None:
        self.env_id = env_id
        self.servers = server_urls(servers)
        self.observation_space = TextSpace()
        self.action_space = TextSpace(MAX_ACTION_CHARS)  # as in process
        # one request at a time per env: a connection per server at most, never an unbounded pool
        self._client = httpx.Client(timeout=timeout_s, headers=bearer(read_token() if token is None else token),
                                    limits=httpx.Limits(max_connections=len(self.servers)),
                                    transport=httpx.HTTPTransport(retries=retries))
        self._session: tuple[str, str] | None = None  # (server, session id)
        self._offset = next(_rotation)

    @staticmethod
    def check_server(servers: str | Sequence[str], env_id: str, *, timeout_s: float = 10.0) -> None:
        """Raise :class:`RemoteEnvError` unless every server is up and serves ``env_id``."""
        for url in server_urls(servers):
            try:
                health = Health.model_validate_json(httpx.get(f"{url}/health", timeout=timeout_s).content)
            except (httpx.HTTPError, ValueError) as error:
                raise RemoteEnvError(f"no env server answers at {url} ({error}); start one with "
                                     "`python -m servers <env> --port N`") from error
            if env_id not in health.env_ids:
                raise RemoteEnvError(f"the env server at {url} serves {health.env_ids}, not {env_id!r}")

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        self._close_session()
        problems: list[str] = []
        for server in self._by_free_capacity():
            try:
                created = SessionCreated.model_validate_json(self._call(
                    "POST", server, "/sessions", CreateSession(env_id=self.env_id, seed=seed, options=options)))
            except ServerLostError as error:
                problems.append(str(error))
                continue
            except RemoteEnvError as error:
                if error.status != 503 or len(self.servers) == 1:
                    raise
                problems.append(str(error))  # full: try the next one
                continue
            self._session = (server, created.session_id)
            return created.observation, created.info
        raise ServerLostError(f"no env server took the session: {'; '.join(problems)}")

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self._session is None:
            raise gymnasium.error.ResetNeeded("call reset() first")
        server, session = self._session
        result = StepResult.model_validate_json(
            self._call("POST", server, f"/sessions/{session}/step", StepRequest(action=action)))
        return result.observation, result.reward, result.terminated, result.truncated, result.info

    def close(self) -> None:
        try:
            self._close_session()
        finally:
            self._client.close()

    def _by_free_capacity(self) -> list[str]:
        """The servers, most free capacity first, those not ready left out (all of them, in turn, if
        there is only one: its own answer then says what is wrong)."""
        if len(self.servers) == 1:
            return self.servers
        start = self._offset % len(self.servers)
        self._offset += 1
        rotated = self.servers[start:] + self.servers[:start]
        free: dict[str, int] = {}
        for server in rotated:
            try:
                response = self._client.get(f"{server}/health", timeout=HEALTH_TIMEOUT_S)
            except httpx.HTTPError:
                continue
            if response.status_code == 200:
                free[server] = Health.model_validate_json(response.content).free
        return sorted(free, key=lambda server: -free[server])  # stable: ties keep the rotation

    def _close_session(self) -> None:
        if self._session is not None and not self._client.is_closed:
            (server, session), self._session = self._session, None
            with contextlib.suppress(ServerLostError):  # its server is gone, and the session with it
                self._call("DELETE", server, f"/sessions/{session}", None)

    def _call(self, method: str, server: str, path: str, payload: BaseModel | None) -> bytes:
        """The answer's body; an error answer raised as the matching exception."""
        try:
            content = payload.model_dump_json().encode() if payload is not None else None
            response = self._client.request(method, f"{server}{path}", content=content,
                                            headers={"content-type": "application/json"} if content else None)
        except httpx.TransportError as error:
            self._session = None
            raise ServerLostError(f"{method} {server}{path}: no answer ({type(error).__name__}: {error})") from error
        if not response.is_error:
            return response.content
        answer = ErrorBody.read(response.content, response.reason_phrase)
        if answer.error == EnvServerError.RESET_NEEDED:
            raise gymnasium.error.ResetNeeded(answer.detail)
        message = f"{method} {server}{path}: {response.status_code} {answer.error}: {answer.detail}"
        if answer.error in CLOSES_SESSION:
            self._session = None  # the server closed it
        if answer.error == EnvServerError.UNKNOWN_SESSION and method == "POST":
            raise ServerLostError(message, response.status_code)  # mid-episode: the server restarted
        raise RemoteEnvError(message, response.status_code)
