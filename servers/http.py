"""What every service here shares: the error body, errors raised as exceptions, a request size cap,
the bearer-token check, and how uvicorn runs them."""

from __future__ import annotations

import argparse
import hmac
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sandbox.auth import OPEN_PATHS, TOKEN_FILE_VAR, TOKEN_VAR, check_listen, read_token
from sandbox.models import ErrorBody


class ServerError(Exception):
    """An error the client sees as ``{"error", "detail"}`` with ``status``."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail


def add_error_handling(app: FastAPI, *, max_body_bytes: int, count_error: Callable[[str], None],
                       token: str | None = None) -> None:
    """Answer :class:`ServerError` as an :class:`ErrorBody`, requests over ``max_body_bytes`` with 413
    (before the body is parsed), and, with a ``token``, requests to any route but the health probes
    without ``Authorization: Bearer <token>`` with 401 (none given) or 403 (a wrong one).
    ``count_error`` sees every error's name (for metrics)."""

    def refuse(status: int, error: str, detail: str) -> JSONResponse:
        count_error(error)
        headers = {"www-authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(ErrorBody(error=error, detail=detail).model_dump(), status_code=status, headers=headers)

    @app.exception_handler(ServerError)
    async def server_error(_request: Request, error: ServerError) -> JSONResponse:
        return refuse(error.status, error.error, error.detail)

    @app.exception_handler(StarletteHTTPException)  # unknown routes and methods, in the same body
    async def http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        name = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        response = refuse(error.status_code, name, str(error.detail))
        response.headers.update(error.headers or {})
        return response

    @app.exception_handler(RequestValidationError)  # where and what, never the (maybe huge) input
    async def invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        return refuse(422, "invalid_request", problems[:2000])

    @app.middleware("http")
    async def body_limit(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        length = request.headers.get("content-length")
        body = await request.body() if length is None or not length.isdigit() else b""
        if int(length or len(body)) > max_body_bytes:
            return refuse(413, "too_large", f"request body over {max_body_bytes} bytes")
        return await call_next(request)

    if token is None:
        return
    expected = f"Bearer {token}".encode()

    @app.middleware("http")  # added last, so it runs first: nothing is read from a caller without the token
    async def token_check(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if request.url.path not in OPEN_PATHS:
            given = request.headers.get("authorization")
            if given is None:
                return refuse(401, "unauthorized", "send the service's token as `Authorization: Bearer <token>`")
            if not hmac.compare_digest(given.encode(), expected):
                return refuse(403, "forbidden", "wrong token")
        return await call_next(request)


def add_service_arguments(parser: argparse.ArgumentParser, *, port: int) -> None:
    """The options every service's command line has: where it listens, its token, its access log."""
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on; beyond loopback (0.0.0.0 in containers) a token is required")
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--token-file", type=Path,
                        help=f"file holding the shared token (else ${TOKEN_FILE_VAR} or ${TOKEN_VAR})")
    parser.add_argument("--access-log", action="store_true",
                        help="log every request (off by default: counts are in /metrics)")


def service_token(args: argparse.Namespace) -> str | None:
    """The token a service started with ``args`` requires; raises :class:`TokenError` if it needs one
    and has none."""
    token = read_token(args.token_file)
    check_listen(args.host, token)
    return token


def run_service(app: FastAPI, args: argparse.Namespace, **uvicorn_options: Any) -> None:
    """Serve ``app`` where ``args`` say, with uvicorn."""
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", access_log=args.access_log,
                **uvicorn_options)
