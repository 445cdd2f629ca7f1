"""The env server's wire format: what ``servers.env_server`` answers and ``RemoteEnv`` reads, defined
once so that the two cannot drift apart. Extra fields are refused both ways."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from sandbox.models import ErrorBody

__all__ = ["CLOSES_SESSION", "CreateSession", "EnvServerError", "ErrorBody", "Health", "SessionCreated", "StepRequest",
           "StepResult"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateSession(_Model):
    """``POST /sessions``: open an episode of ``env_id`` (its reset's ``seed`` and ``options``)."""

    env_id: str
    seed: int | None = None
    options: dict[str, JsonValue] | None = None


class SessionCreated(_Model):
    """The new session and its reset's observation and info."""

    session_id: str
    observation: str
    info: dict[str, JsonValue]


class StepRequest(_Model):
    """``POST /sessions/{id}/step``."""

    action: JsonValue = Field(description="Usually a string; anything else is an invalid action the env reports.")


class StepResult(_Model):
    """A step's outcome, as Gymnasium's ``step`` returns it."""

    observation: str
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, JsonValue]


class Health(_Model):
    """``GET /health``: 200 when ready, else 503 with the same body."""

    status: str = Field(description="ok (ready), starting (the first session is being made) or failing")
    detail: str | None = Field(None, description="Why the server is not ready.")
    env_ids: list[str]
    sessions: int
    capacity: int
    processes: int
    version: str

    @property
    def free(self) -> int:
        """Sessions the server would still open."""
        return self.capacity - self.sessions


class EnvServerError(StrEnum):
    """The ``error`` names the env server answers with, besides the ones every service shares
    (``invalid_request``, ``too_large``, ``unauthorized``...)."""

    UNKNOWN_ENV = "unknown_env"  # 404: the server does not serve that env id
    UNKNOWN_SESSION = "unknown_session"  # 404: closed, expired, or the server restarted
    RESET_NEEDED = "reset_needed"  # 409: the episode is over
    ACTION_TOO_LONG = "action_too_long"  # 422
    ENV_ERROR = "env_error"  # 500: the env raised, exited or crashed; the session is closed
    CAPACITY = "capacity"  # 503: every session slot is taken
    TIMEOUT = "timeout"  # 504: a reset or step took too long; the session is closed


# The errors after which the server has closed the session.
CLOSES_SESSION = frozenset({EnvServerError.ENV_ERROR, EnvServerError.TIMEOUT, EnvServerError.UNKNOWN_SESSION})
