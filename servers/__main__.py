"""``python -m servers <env> --port N``: serve one env family (its ``configs/<env>.yaml`` env section).

    python -m servers alfworld --port 8001
    python -m servers alfworld --config my.yaml --max-sessions 16
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import uvicorn

from agents.config import ConfigError, config_path, load_config
from servers.env_server import Limits, create_app

GRACEFUL_SHUTDOWN_S = 30  # sessions get this long to finish on SIGTERM (compose's stop_grace_period is longer)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m servers", description=__doc__.split("\n\n")[0])
    parser.add_argument("env", help="env family: reads configs/<env>.yaml")
    parser.add_argument("--config", type=Path, help="a config YAML instead of configs/<env>.yaml")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 in containers)")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--max-sessions", type=int, default=Limits().max_sessions)
    parser.add_argument("--idle-timeout", type=float, default=Limits().idle_timeout_s, help="seconds")
    parser.add_argument("--step-timeout", type=float, default=Limits().step_timeout_s, help="seconds")
    args = parser.parse_args(argv)
    try:
        spec = load_config(args.config or config_path(args.env)).env
        limits = Limits(max_sessions=args.max_sessions, idle_timeout_s=args.idle_timeout,
                        step_timeout_s=args.step_timeout)
        app = create_app([spec.id], env_kwargs={spec.id: spec.kwargs}, limits=limits)
    except (ConfigError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S)
    return 0


if __name__ == "__main__":
    sys.exit(main())
