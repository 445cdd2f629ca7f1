"""``SandboxClient``: the sandbox service over HTTP, with the library's own ``execute`` signature."""

from __future__ import annotations

import httpx

from sandbox.auth import bearer, read_token
from sandbox.models import ErrorBody, ExecuteRequest, ExecuteResult


class SandboxServiceError(RuntimeError):
    """The service refused the request or failed; the message carries its error and detail."""


class SandboxClient:
    """Posts :class:`ExecuteRequest` to a sandbox service; pooled connections, retried only when the
    request never left (a program is never run twice because of a retry). ``token`` defaults to the
    shared token's variables (:func:`sandbox.auth.read_token`)."""

    def __init__(self, base_url: str, *, timeout_s: float = 120.0, retries: int = 3,
                 token: str | None = None) -> None:
        self.base_url = base_url
        self._client = httpx.Client(base_url=base_url, timeout=timeout_s, headers=bearer(token or read_token()),
                                    transport=httpx.HTTPTransport(retries=retries))

    def execute(self, request: ExecuteRequest) -> ExecuteResult:
        try:
            response = self._client.post("/execute", content=request.model_dump_json(),
                                         headers={"content-type": "application/json"})
        except httpx.HTTPError as error:
            raise SandboxServiceError(f"no answer from the sandbox service at {self.base_url}: {error}") from error
        if response.is_error:
            answer = ErrorBody.read(response.content, response.reason_phrase)
            raise SandboxServiceError(f"the sandbox service answered {response.status_code}: "
                                      f"{answer.error}: {answer.detail}")
        return ExecuteResult.model_validate_json(response.content)

    def close(self) -> None:
        self._client.close()
