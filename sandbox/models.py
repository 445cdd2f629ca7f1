"""What goes in and out of the sandbox: one request and one result type, shared by the library,
the HTTP service and its client (pydantic only, so importing them pulls in no server code), and the
error body every service of the project answers with."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Status = Literal["ok", "error", "timeout", "memory", "output_limit", "killed"]
MAX_CODE_CHARS = 1_000_000
MAX_FILES = 32


class ExecuteRequest(BaseModel):
    """One program to run; ``files`` are written next to it (``main.py``) in a fresh work directory."""

    model_config = ConfigDict(extra="forbid")

    language: Literal["python"] = "python"
    code: str = Field(max_length=MAX_CODE_CHARS)
    stdin: str = Field("", max_length=MAX_CODE_CHARS)
    files: dict[str, str] = Field(default_factory=dict, description="relative path -> text content")
    timeout_s: float = Field(10.0, gt=0, le=300, description="wall-clock limit; CPU time is limited to it too")
    memory_mb: int = Field(512, ge=64, le=16_384, description="address-space limit of every process")

    @field_validator("files")
    @classmethod
    def _safe_paths(cls, files: dict[str, str]) -> dict[str, str]:
        if len(files) > MAX_FILES:
            raise ValueError(f"at most {MAX_FILES} files")
        for path, content in files.items():
            parts = path.split("/")
            if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\x00" in path:
                raise ValueError(f"file paths must be relative, without '..' or empty parts: {path!r}")
            if path == "main.py":
                raise ValueError("main.py is the program itself; pass it as 'code'")
            if len(content) > MAX_CODE_CHARS:
                raise ValueError(f"file {path!r} is over {MAX_CODE_CHARS} characters")
        return files


class ExecuteResult(BaseModel):
    """How the run ended. ``stdout``/``stderr`` are cut at the output limit, flagged by ``*_truncated``."""

    model_config = ConfigDict(extra="forbid")

    status: Status
    exit_code: int | None = Field(description="the exit status, or minus the signal that ended the process")
    stdout: str
    stderr: str
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    duration_ms: float


class ErrorBody(BaseModel):
    """What every service answers an error with: a stable machine name and a sentence for people."""

    model_config = ConfigDict(extra="forbid")

    error: str
    detail: str

    @classmethod
    def read(cls, content: bytes, fallback: str) -> ErrorBody:
        """The body of an error response; ``fallback`` names the error when the body is not one (a proxy's
        page, say), and the start of the content is then the detail."""
        try:
            return cls.model_validate_json(content)
        except ValueError:
            return cls(error=fallback, detail=content[:500].decode(errors="replace"))
