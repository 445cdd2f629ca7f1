"""An HTTP service for any registered env: one session per episode.

``create_app`` builds a FastAPI app with typed request/response models (extra fields refused) and
an OpenAPI schema. Each session's env lives in a child process (:mod:`servers.env_hosts`): an env that
raises, exits or hangs fails its own session (500 ``env_error`` / 504 ``timeout``) and the server goes
on serving the others; sessions in separate processes run in parallel. Limits keep the server up under
abuse: a cap on live sessions (503), idle expiry, a request size cap (413), an action size cap (422),
a step timeout (504). ``/health`` answers 200 only once a session of every served env has been
made and reset (readiness); ``/health/live`` answers whenever the process does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium
from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from pydantic import BaseModel, ConfigDict, Field

import envs
from envs.registry import preload_modules
from envs.wire import CreateSession, EnvServerError, ErrorBody, Health, SessionCreated, StepRequest, StepResult
from servers.env_hosts import Call, EnvCallError, EnvHost, HostError, HostPool, HostTimeoutError, preload
from servers.http import ServerError, add_error_handling

logger = logging.getLogger(__name__)
VERSION = "0.1.0"


class Limits(BaseModel):
    """What one server allows."""

    model_config = ConfigDict(extra="forbid")

    max_sessions: int = Field(64, ge=1, description="Live sessions at most; more are refused with 503.")
    idle_timeout_s: float = Field(600.0, gt=0, description="A session unused this long is closed.")
    reap_interval_s: float = Field(10.0, gt=0, description="How often idle sessions are looked for.")
    max_body_bytes: int = Field(1_000_000, ge=1024, description="Larger requests get 413.")
    max_action_chars: int = Field(100_000, ge=1, description="Longer actions get 422 (the env judges shorter ones).")
    step_timeout_s: float = Field(60.0, gt=0, description="Longer resets or steps get 504 (session closed).")
    sessions_per_process: int = Field(1, ge=1, description=(
        "Sessions sharing one env process: 1 isolates every session; more save memory for light envs, "
        "but a crash or hang then ends every session of that process."))
    spare_processes: int = Field(2, ge=0, description="Idle env processes kept for new sessions.")


@dataclass
class _Session:
    env_id: str
    host: EnvHost
    last_used: float


class _Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.sessions = Gauge("env_sessions", "Live sessions", registry=self.registry)
        self.steps = Counter("env_steps", "Env steps served", ["env_id"], registry=self.registry)
        self.latency = Histogram("env_step_seconds", "Time to serve a step", ["env_id"], registry=self.registry)
        self.errors = Counter("env_errors", "Requests answered with an error", ["error"], registry=self.registry)


class Sessions:
    """The live sessions of a server and the env processes they run in: opening, calling and closing
    them, turning env failures into the documented errors, expiring idle ones, and readiness."""

    def __init__(self, env_kwargs: Mapping[str, dict[str, Any]], limits: Limits) -> None:
        self.env_kwargs, self.limits = env_kwargs, limits
        self.pool = HostPool(limits.sessions_per_process, limits.spare_processes)
        self.live: dict[str, _Session] = {}
        self.metrics = _Metrics()
        self.status: str = "starting"  # readiness: starting, ok or failing (detail says why)
        self.detail: str | None = None

    def get(self, session_id: str) -> _Session:
        session = self.live.get(session_id)
        if session is None:
            raise ServerError(404, EnvServerError.UNKNOWN_SESSION,
                              f"no live session {session_id!r} (closed or expired)")
        return session

    async def open(self, env_id: str, seed: int | None, options: dict[str, Any] | None) -> tuple[str, Any]:
        """A new session of ``env_id``, reset; its id and the reset's ``(observation, info)``."""
        if len(self.live) >= self.limits.max_sessions:
            raise ServerError(503, EnvServerError.CAPACITY,
                              f"{self.limits.max_sessions} sessions are live; close one or retry later")
        session_id = uuid.uuid4().hex
        self.live[session_id] = session = _Session(env_id, self.pool.place(session_id), time.monotonic())
        self.metrics.sessions.set(len(self.live))
        reset = await self.call(session_id, Call("open", session_id, env_id, self.env_kwargs[env_id], seed, options))
        session.last_used = time.monotonic()
        return session_id, reset

    async def step(self, session_id: str, action: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        session = self.get(session_id)
        started = time.perf_counter()
        session.last_used = time.monotonic()
        result = await self.call(session_id, Call("step", session_id, action=action))
        session.last_used = time.monotonic()
        self.metrics.steps.labels(session.env_id).inc()
        self.metrics.latency.labels(session.env_id).observe(time.perf_counter() - started)
        return result  # type: ignore[no-any-return]

    async def close(self, session_id: str) -> None:
        if session_id in self.live:
            with contextlib.suppress(ServerError):  # a failing close still ends the session
                await self.call(session_id, Call("close", session_id))
            self._drop(session_id)

    async def call(self, session_id: str, request: Call) -> Any:
        """Run ``request`` in the session's process; failures close the session (or every session of a
        process that died) and become the documented errors."""
        host = self.live[session_id].host
        try:
            return await host.call(request, self.limits.step_timeout_s)
        except gymnasium.error.ResetNeeded as error:
            raise ServerError(409, EnvServerError.RESET_NEEDED, str(error)) from None
        except EnvCallError as error:
            self._drop(session_id)
            logger.warning("env of session %s raised: %s", session_id, error)
            raise ServerError(500, EnvServerError.ENV_ERROR, f"the env raised {error}; the session is closed") from None
        except HostError as error:
            for lost in [sid for sid, other in self.live.items() if other.host is host]:
                self._drop(lost)
            logger.warning("env process of session %s failed: %s", session_id, error)
            name = EnvServerError.TIMEOUT if isinstance(error, HostTimeoutError) else EnvServerError.ENV_ERROR
            raise ServerError(504 if name == EnvServerError.TIMEOUT else 500, name,
                              f"{error}; the session is closed") from None

    async def probe(self) -> None:
        """Readiness: make and reset one session of every served env (env data found, engine works)."""
        for env_id in self.env_kwargs:
            try:
                session_id, _ = await self.open(env_id, 0, None)
                await self.close(session_id)
            except ServerError as error:
                self.status, self.detail = "failing", f"{env_id}: {error.detail}"
                logger.error("not ready: %s", self.detail)
                return
        self.status, self.detail = "ok", None

    async def reap(self) -> None:
        """Close sessions left idle past the limit, forever (clients that vanished mid-episode)."""
        while True:
            await asyncio.sleep(self.limits.reap_interval_s)
            now = time.monotonic()
            for session_id, session in list(self.live.items()):
                if now - session.last_used > self.limits.idle_timeout_s and not session.host.busy:
                    logger.info("closing idle session %s", session_id)
                    await self.close(session_id)

    def health(self) -> Health:
        return Health(status=self.status, detail=self.detail, env_ids=list(self.env_kwargs), sessions=len(self.live),
                      capacity=self.limits.max_sessions, processes=sum(not host.dead for host in self.pool.hosts),
                      version=VERSION)

    def shut_down(self) -> None:
        self.live.clear()
        self.pool.close()

    def _drop(self, session_id: str) -> None:
        session = self.live.pop(session_id, None)
        if session is not None:
            self.pool.release(session.host, session_id)
        self.metrics.sessions.set(len(self.live))


def create_app(
    env_ids: list[str] | None = None,
    *,
    env_kwargs: Mapping[str, Mapping[str, Any]] | None = None,
    limits: Limits | None = None,
    token: str | None = None,
) -> FastAPI:
    """A server for ``env_ids`` (default: every registered env), each made with its ``env_kwargs``;
    with a ``token``, every route but the health probes requires it (:mod:`sandbox.auth`)."""
    served = list(env_ids or envs.ENTRY_POINTS)
    unknown = [env_id for env_id in served if env_id not in envs.ENTRY_POINTS]
    if unknown:
        raise ValueError(f"unknown env ids {unknown}; registered: {sorted(envs.ENTRY_POINTS)}")
    limits = limits or Limits()
    preload(module for env_id in served for module in preload_modules(env_id))
    sessions = Sessions({env_id: dict((env_kwargs or {}).get(env_id, {})) for env_id in served}, limits)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(sessions.reap()), asyncio.create_task(sessions.probe())]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            sessions.shut_down()

    app = FastAPI(title="ResRL-Gym env server", version=VERSION, lifespan=lifespan, redirect_slashes=False)

    add_error_handling(app, max_body_bytes=limits.max_body_bytes,
                       count_error=lambda error: sessions.metrics.errors.labels(error).inc(), token=token)

    @app.get("/health", responses={503: {"model": Health}})
    async def health() -> Response:
        body = sessions.health()
        return JSONResponse(body.model_dump(), status_code=200 if body.status == "ok" else 503)

    @app.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(generate_latest(sessions.metrics.registry), media_type="text/plain; version=0.0.4")

    @app.post("/sessions", responses={503: {"model": ErrorBody}, 404: {"model": ErrorBody},
                                      500: {"model": ErrorBody}, 504: {"model": ErrorBody}})
    async def create(request: CreateSession) -> SessionCreated:
        if request.env_id not in sessions.env_kwargs:
            raise ServerError(404, EnvServerError.UNKNOWN_ENV, f"this server serves {served}, not {request.env_id!r}")
        session_id, (observation, info) = await sessions.open(request.env_id, request.seed, request.options)
        return SessionCreated(session_id=session_id, observation=observation, info=info)

    @app.post("/sessions/{session_id}/step",
              responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}, 500: {"model": ErrorBody},
                         504: {"model": ErrorBody}})
    async def step(session_id: str, request: StepRequest) -> StepResult:
        sessions.get(session_id)
        if isinstance(request.action, str) and len(request.action) > limits.max_action_chars:
            raise ServerError(422, EnvServerError.ACTION_TOO_LONG,
                              f"actions are at most {limits.max_action_chars} characters")
        observation, reward, terminated, truncated, info = await sessions.step(session_id, request.action)
        return StepResult(observation=observation, reward=float(reward), terminated=bool(terminated),
                          truncated=bool(truncated), info=info)

    @app.delete("/sessions/{session_id}", status_code=204)
    async def delete(session_id: str) -> Response:
        await sessions.close(session_id)
        return Response(status_code=204)

    return app
