"""Run untrusted Python safely: the library (``Sandbox`` in ``sandbox.executor``, isolated by
``sandbox.isolation``), the request and result models, and ``SandboxClient`` for the HTTP service
(``python -m servers.sandbox``). The lowest layer of the project: it imports nothing of it, so envs
and servers can both stand on it. ``sandbox.auth`` holds the bearer token every service checks and
every client sends, for the same reason."""

from sandbox.models import ExecuteRequest, ExecuteResult, Status

__all__ = ["ExecuteRequest", "ExecuteResult", "Status"]
