"""An HTTP service for any registered env: one session per episode.

``create_app`` builds a FastAPI app with typed request/response models (extra fields refused) and
an OpenAPI schema. Env code blocks, so it runs in a worker thread and the event loop stays free to answer
(health, metrics, errors, other sessions' requests); a per-session lock keeps one session's steps
in order. Env calls of one server run one at a time: textworld's grammar parser is a shared global
that is not thread-safe, and the GIL would serialise the pure-Python engines anyway. Scale out with
more server processes. Limits keep the server up under abuse: a cap
on live sessions (503), idle expiry, a request size cap (413), an action size cap (422), a step
timeout (504). A session whose env raised is closed and reported (500); others carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import gymnasium
from fastapi import FastAPI, Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from pydantic import BaseModel, ConfigDict, Field, JsonValue

import envs
from servers.http import ErrorBody, ServerError, add_error_handling

logger = logging.getLogger(__name__)
VERSION = "0.1.0"
T = TypeVar("T")


class Limits(BaseModel):
    """What one server allows."""

    model_config = ConfigDict(extra="forbid")

    max_sessions: int = Field(64, ge=1, description="Live sessions at most; more are refused with 503.")
    idle_timeout_s: float = Field(600.0, gt=0, description="A session unused this long is closed.")
    reap_interval_s: float = Field(10.0, gt=0, description="How often idle sessions are looked for.")
    max_body_bytes: int = Field(1_000_000, ge=1024, description="Larger requests get 413.")
    max_action_chars: int = Field(100_000, ge=1, description="Longer actions get 422 (the env judges shorter ones).")
    step_timeout_s: float = Field(60.0, gt=0, description="Longer resets or steps get 504 (session closed).")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateSession(_Model):
    env_id: str
    seed: int | None = None
    options: dict[str, JsonValue] | None = None


class StepRequest(_Model):
    action: JsonValue = Field(description="Usually a string; anything else is an invalid action the env reports.")


class SessionCreated(_Model):
    session_id: str
    observation: str
    info: dict[str, JsonValue]


class StepResult(_Model):
    observation: str
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, JsonValue]


class Health(_Model):
    status: str
    env_ids: list[str]
    sessions: int
    capacity: int
    version: str


@dataclass
class _Session:
    env_id: str
    env: Any
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_used: float = field(default_factory=time.monotonic)


class _Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.sessions = Gauge("env_sessions", "Live sessions", registry=self.registry)
        self.steps = Counter("env_steps", "Env steps served", ["env_id"], registry=self.registry)
        self.latency = Histogram("env_step_seconds", "Time to serve a step", ["env_id"], registry=self.registry)
        self.errors = Counter("env_errors", "Requests answered with an error", ["error"], registry=self.registry)


def create_app(
    env_ids: list[str] | None = None,
    *,
    env_kwargs: Mapping[str, Mapping[str, Any]] | None = None,
    limits: Limits | None = None,
) -> FastAPI:
    """A server for ``env_ids`` (default: every registered env), each made with its ``env_kwargs``."""
    served = list(env_ids or envs.ENTRY_POINTS)
    unknown = [env_id for env_id in served if env_id not in envs.ENTRY_POINTS]
    if unknown:
        raise ValueError(f"unknown env ids {unknown}; registered: {sorted(envs.ENTRY_POINTS)}")
    kwargs = {env_id: dict((env_kwargs or {}).get(env_id, {})) for env_id in served}
    limits = limits or Limits()
    sessions: dict[str, _Session] = {}
    metrics = _Metrics()
    engine = threading.Lock()

    def exclusive(call: Callable[[], T]) -> Callable[[], T]:
        def run() -> T:
            with engine:
                return call()

        return run

    def close(session_id: str) -> None:
        session = sessions.pop(session_id, None)
        metrics.sessions.set(len(sessions))
        if session is not None:
            try:
                session.env.close()
            except Exception:  # a broken env must not take the server down while it is cleaned up
                logger.exception("closing session %s", session_id)

    async def in_thread(session_id: str, call: Callable[[], T]) -> T:
        """Run blocking env code off the event loop, with the step timeout; failures close the session."""
        try:
            return await asyncio.wait_for(asyncio.to_thread(exclusive(call)), limits.step_timeout_s)
        except TimeoutError:
            close(session_id)
            raise ServerError(504, "timeout", f"the env took longer than {limits.step_timeout_s} s; "
                                              "the session is closed") from None
        except gymnasium.error.ResetNeeded as error:
            raise ServerError(409, "reset_needed", str(error)) from None
        except Exception as error:
            close(session_id)
            logger.exception("env of session %s raised", session_id)
            raise ServerError(500, "env_error", f"the env raised {type(error).__name__}: {error}; "
                                                "the session is closed") from None

    async def reaper() -> None:
        while True:
            await asyncio.sleep(limits.reap_interval_s)
            now = time.monotonic()
            for session_id, session in list(sessions.items()):
                if now - session.last_used > limits.idle_timeout_s and not session.lock.locked():
                    logger.info("closing idle session %s", session_id)
                    await asyncio.to_thread(exclusive(functools.partial(close, session_id)))

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(reaper())
        try:
            yield
        finally:
            task.cancel()
            for session_id in list(sessions):
                close(session_id)

    app = FastAPI(title="ResRL-Gym env server", version=VERSION, lifespan=lifespan)

    add_error_handling(app, max_body_bytes=limits.max_body_bytes,
                       count_error=lambda error: metrics.errors.labels(error).inc())

    @app.get("/health")
    async def health() -> Health:
        return Health(status="ok", env_ids=served, sessions=len(sessions), capacity=limits.max_sessions,
                      version=VERSION)

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type="text/plain; version=0.0.4")

    @app.post("/sessions", responses={503: {"model": ErrorBody}, 404: {"model": ErrorBody}})
    async def create(request: CreateSession) -> SessionCreated:
        if request.env_id not in kwargs:
            raise ServerError(404, "unknown_env", f"this server serves {served}, not {request.env_id!r}")
        if len(sessions) >= limits.max_sessions:
            raise ServerError(503, "capacity", f"{limits.max_sessions} sessions are live; close one or retry later")
        session_id = uuid.uuid4().hex
        sessions[session_id] = session = _Session(request.env_id, None)
        metrics.sessions.set(len(sessions))

        def start() -> tuple[str, dict[str, Any]]:
            session.env = envs.make_env({"id": request.env_id, "kwargs": kwargs[request.env_id]})
            observation, info = session.env.reset(seed=request.seed, options=request.options)
            return observation, info

        async with session.lock:
            observation, info = await in_thread(session_id, start)
        return SessionCreated(session_id=session_id, observation=observation, info=info)

    @app.post("/sessions/{session_id}/step",
              responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}, 500: {"model": ErrorBody},
                         504: {"model": ErrorBody}})
    async def step(session_id: str, request: StepRequest) -> StepResult:
        session = sessions.get(session_id)
        if session is None:
            raise ServerError(404, "unknown_session", f"no live session {session_id!r} (closed or expired)")
        if isinstance(request.action, str) and len(request.action) > limits.max_action_chars:
            raise ServerError(422, "action_too_long", f"actions are at most {limits.max_action_chars} characters")
        started = time.perf_counter()
        async with session.lock:
            session.last_used = time.monotonic()
            observation, reward, terminated, truncated, info = await in_thread(
                session_id, lambda: session.env.step(request.action)
            )
            session.last_used = time.monotonic()
        metrics.steps.labels(session.env_id).inc()
        metrics.latency.labels(session.env_id).observe(time.perf_counter() - started)
        return StepResult(observation=observation, reward=float(reward), terminated=bool(terminated),
                          truncated=bool(truncated), info=info)

    @app.delete("/sessions/{session_id}", status_code=204)
    async def delete(session_id: str) -> Response:
        session = sessions.get(session_id)
        if session is not None:
            async with session.lock:
                await asyncio.to_thread(exclusive(functools.partial(close, session_id)))
        return Response(status_code=204)

    return app

