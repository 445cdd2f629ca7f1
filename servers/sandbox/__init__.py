"""Run untrusted Python safely: a library (``Sandbox``), an HTTP service and its client."""

from servers.sandbox.models import ExecuteRequest, ExecuteResult, Status

__all__ = ["ExecuteRequest", "ExecuteResult", "Status"]
