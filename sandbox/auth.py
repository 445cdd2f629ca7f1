"""The shared bearer token that services require and clients send.

A service reads its token from ``--token-file``, ``$RESRL_GYM_TOKEN_FILE`` (e.g. a Docker secret) or
``$RESRL_GYM_TOKEN``; clients (``RemoteEnv``, ``SandboxClient``, ``--env-server``) read the same
variables. A service that listens beyond loopback refuses to start without a token, so nobody who can
reach the host can open sessions or run programs unasked. Standard library only, in the lowest layer,
so that every client (the sandbox's, the envs', the training side's) can import it.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

TOKEN_VAR = "RESRL_GYM_TOKEN"
TOKEN_FILE_VAR = "RESRL_GYM_TOKEN_FILE"
OPEN_PATHS = frozenset({"/health", "/health/live"})  # probes need no token (they reveal no data)


class TokenError(ValueError):
    """No usable token where one is needed."""


def read_token(token_file: Path | None = None) -> str | None:
    """The token from ``token_file``, else ``$RESRL_GYM_TOKEN_FILE``, else ``$RESRL_GYM_TOKEN``; None if
    none is set. A named file that is missing or empty is an error, not "no token"."""
    path = token_file or (Path(os.environ[TOKEN_FILE_VAR]) if os.environ.get(TOKEN_FILE_VAR) else None)
    if path is not None:
        try:
            token = path.read_text().strip()
        except OSError as error:
            raise TokenError(f"cannot read the token file {path}: {error}") from error
        if not token:
            raise TokenError(f"the token file {path} is empty")
        return token
    return os.environ.get(TOKEN_VAR) or None


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address to listen on) is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: assume it resolves beyond loopback


def check_listen(host: str, token: str | None) -> None:
    """Raise :class:`TokenError` if a service would listen beyond loopback with no token."""
    if token is None and not is_loopback(host):
        raise TokenError(f"listening on {host} lets anyone who reaches this host in; set ${TOKEN_VAR} (or "
                         f"${TOKEN_FILE_VAR}, or --token-file) to a shared secret, or listen on 127.0.0.1")


def bearer(token: str | None) -> dict[str, str]:
    """The request headers that carry ``token`` (none without one)."""
    return {"authorization": f"Bearer {token}"} if token else {}
