"""The sandbox as an HTTP service: ``POST /execute``, ``GET /health``, ``GET /metrics``.

Runs wait for one of the sandbox's slots in a worker thread; beyond ``max_queue`` waiting runs the
service answers 503 at once rather than letting callers pile up. Requests over the size cap get 413,
limits above the service's own maxima 422; a program's failure is a result (200), never a server error.
"""

from __future__ import annotations

import asyncio

from fastapi import FastAPI, Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from pydantic import BaseModel, ConfigDict, Field

from sandbox.executor import Sandbox
from sandbox.isolation import IsolationError
from sandbox.models import ErrorBody, ExecuteRequest, ExecuteResult
from servers.http import ServerError, add_error_handling

VERSION = "0.1.0"


class ServiceLimits(BaseModel):
    """What one sandbox service allows."""

    model_config = ConfigDict(extra="forbid")

    max_queue: int = Field(64, ge=0, description="Runs waiting for a slot at most; more get 503.")
    max_timeout_s: float = Field(60.0, gt=0, description="Requests asking for longer get 422.")
    max_memory_mb: int = Field(2048, ge=64, description="Requests asking for more get 422.")
    max_body_bytes: int = Field(4_000_000, ge=1024, description="Larger requests get 413.")


class Health(BaseModel):
    status: str
    slots: int
    running: int
    waiting: int
    version: str


def create_app(sandbox: Sandbox, limits: ServiceLimits | None = None, *, token: str | None = None) -> FastAPI:
    """A service running programs in ``sandbox`` (whose creation already proved isolation works here);
    with a ``token``, every route but ``/health`` requires it (:mod:`sandbox.auth`)."""
    limits = limits or ServiceLimits()
    registry = CollectorRegistry()
    runs = Counter("sandbox_runs", "Programs run, by how they ended", ["status"], registry=registry)
    latency = Histogram("sandbox_run_seconds", "Time from request to result", registry=registry)
    errors = Counter("sandbox_errors", "Requests answered with an error", ["error"], registry=registry)
    in_flight = Gauge("sandbox_in_flight", "Runs running or waiting for a slot", registry=registry)
    admitted = 0

    app = FastAPI(title="ResRL-Gym code sandbox", version=VERSION, redirect_slashes=False)
    add_error_handling(app, max_body_bytes=limits.max_body_bytes, count_error=lambda e: errors.labels(e).inc(),
                       token=token)

    @app.get("/health")
    async def health() -> Health:
        running = min(admitted, sandbox.max_concurrency)
        return Health(status="ok", slots=sandbox.max_concurrency, running=running, waiting=admitted - running,
                      version=VERSION)

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(generate_latest(registry), media_type="text/plain; version=0.0.4")

    @app.post("/execute", responses={413: {"model": ErrorBody}, 422: {"model": ErrorBody},
                                     500: {"model": ErrorBody}, 503: {"model": ErrorBody}})
    async def execute(request: ExecuteRequest) -> ExecuteResult:
        nonlocal admitted
        if request.timeout_s > limits.max_timeout_s or request.memory_mb > limits.max_memory_mb:
            raise ServerError(422, "over_limit", f"this service allows timeout_s <= {limits.max_timeout_s} and "
                                                 f"memory_mb <= {limits.max_memory_mb}")
        if admitted >= sandbox.max_concurrency + limits.max_queue:
            raise ServerError(503, "busy", f"{admitted} runs are running or waiting; retry later")
        admitted += 1
        in_flight.set(admitted)
        try:
            with latency.time():
                result = await asyncio.to_thread(sandbox.execute, request)
        except IsolationError as error:  # fail closed: nothing ran
            raise ServerError(500, "isolation_failed", str(error)) from None
        finally:
            admitted -= 1
            in_flight.set(admitted)
        runs.labels(result.status).inc()
        return result

    return app
