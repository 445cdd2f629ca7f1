"""``RemoteEnv``: the text-env contract over HTTP, against ``servers.env_server``.

Each ``reset`` opens a new server session (closing the previous one); ``step`` posts the action
as is, so the server-side env judges malformed actions exactly as in process. Connections are
pooled; every request has a timeout; only connection failures (the request never left) are retried.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import httpx

from envs.core import MAX_ACTION_CHARS, TextSpace


class RemoteEnvError(RuntimeError):
    """The server refused or failed a request; the message carries its error and detail."""


class RemoteEnv(gymnasium.Env[str, str]):
    """A registered env served at ``base_url``; behaves like the in-process env with the same id."""

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (Gymnasium's class attribute)

    def __init__(self, base_url: str, env_id: str, *, timeout_s: float = 120.0, retries: int = 3) -> None:
        self.env_id = env_id
        self.observation_space = TextSpace()
        self.action_space = TextSpace(MAX_ACTION_CHARS)  # as in process
        self._client = httpx.Client(base_url=base_url, timeout=timeout_s,
                                    transport=httpx.HTTPTransport(retries=retries))
        self._session: str | None = None

    @staticmethod
    def check_server(base_url: str, env_id: str, *, timeout_s: float = 10.0) -> None:
        """Raise :class:`RemoteEnvError` unless a server at ``base_url`` is up and serves ``env_id``."""
        try:
            health = httpx.get(f"{base_url.rstrip('/')}/health", timeout=timeout_s).json()
        except (httpx.HTTPError, ValueError) as error:
            raise RemoteEnvError(f"no env server answers at {base_url} ({error}); start one with "
                                 "`python -m servers <env> --port N`") from error
        if env_id not in health.get("env_ids", []):
            raise RemoteEnvError(f"the env server at {base_url} serves {health.get('env_ids')}, not {env_id!r}")

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        self._close_session()
        body = self._call("POST", "/sessions", {"env_id": self.env_id, "seed": seed, "options": options})
        self._session = body["session_id"]
        return body["observation"], body["info"]

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self._session is None:
            raise gymnasium.error.ResetNeeded("call reset() first")
        body = self._call("POST", f"/sessions/{self._session}/step", {"action": action})
        return body["observation"], body["reward"], body["terminated"], body["truncated"], body["info"]

    def close(self) -> None:
        try:
            self._close_session()
        finally:
            self._client.close()

    def _close_session(self) -> None:
        if self._session is not None and not self._client.is_closed:
            session, self._session = self._session, None
            self._call("DELETE", f"/sessions/{session}", None)

    def _call(self, method: str, path: str, payload: dict[str, Any] | None) -> Any:
        response = self._client.request(method, path, json=payload)
        if response.status_code == 204:
            return None
        if response.status_code == 409:
            raise gymnasium.error.ResetNeeded(response.json().get("detail", "the episode is over"))
        if response.is_error:
            try:
                body = response.json()
                error, detail = body.get("error", response.reason_phrase), body.get("detail", body)
            except ValueError:
                error, detail = response.reason_phrase, response.text[:500]
            if error in {"env_error", "timeout"}:
                self._session = None  # the server closed it
            raise RemoteEnvError(f"{method} {path}: {response.status_code} {error}: {detail}")
        return response.json()
