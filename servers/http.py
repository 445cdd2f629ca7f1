"""What every service here shares: the error body, errors raised as exceptions, and a request size cap."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict


class ErrorBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    error: str
    detail: str


class ServerError(Exception):
    """An error the client sees as ``{"error", "detail"}`` with ``status``."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail


def add_error_handling(app: FastAPI, *, max_body_bytes: int, count_error: Callable[[str], None]) -> None:
    """Answer :class:`ServerError` as an :class:`ErrorBody`, and requests over ``max_body_bytes`` with 413
    (before the body is parsed). ``count_error`` sees every error's name (for metrics)."""

    @app.exception_handler(ServerError)
    async def server_error(_request: Request, error: ServerError) -> JSONResponse:
        count_error(error.error)
        return JSONResponse(ErrorBody(error=error.error, detail=error.detail).model_dump(), status_code=error.status)

    @app.middleware("http")
    async def body_limit(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        length = request.headers.get("content-length")
        body = await request.body() if length is None or not length.isdigit() else b""
        if int(length or len(body)) > max_body_bytes:
            count_error("too_large")
            detail = f"request body over {max_body_bytes} bytes"
            return JSONResponse(ErrorBody(error="too_large", detail=detail).model_dump(), status_code=413)
        return await call_next(request)
