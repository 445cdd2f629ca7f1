"""``python -m servers <env> --port N``: serve one env family (its ``configs/<env>.yaml`` env section).

    python -m servers alfworld --port 8001
    python -m servers alfworld --config my.yaml --max-sessions 16
    RESRL_GYM_TOKEN=... python -m servers webshop --host 0.0.0.0 --sessions-per-process 64
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from envs.spec import ConfigError, config_path, load_env_spec
from sandbox.auth import TokenError
from servers.env_server import Limits, create_app
from servers.http import add_service_arguments, run_service, service_token

GRACEFUL_SHUTDOWN_S = 30  # sessions get this long to finish on SIGTERM (compose's stop_grace_period is longer)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m servers", description=__doc__.split("\n\n")[0])
    parser.add_argument("env", help="env family: reads configs/<env>.yaml")
    parser.add_argument("--config", type=Path, help="a config YAML instead of configs/<env>.yaml")
    add_service_arguments(parser, port=8001)
    defaults = Limits()
    parser.add_argument("--max-sessions", type=int, default=defaults.max_sessions)
    parser.add_argument("--idle-timeout", type=float, default=defaults.idle_timeout_s, help="seconds")
    parser.add_argument("--step-timeout", type=float, default=defaults.step_timeout_s, help="seconds")
    parser.add_argument("--sessions-per-process", type=int, default=defaults.sessions_per_process,
                        help=Limits.model_fields["sessions_per_process"].description)
    args = parser.parse_args(argv)
    try:
        token = service_token(args)
        spec = load_env_spec(args.config or config_path(args.env))
        limits = Limits(max_sessions=args.max_sessions, idle_timeout_s=args.idle_timeout,
                        step_timeout_s=args.step_timeout, sessions_per_process=args.sessions_per_process)
        app = create_app([spec.id], env_kwargs={spec.id: spec.kwargs}, limits=limits, token=token)
    except (ConfigError, TokenError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    run_service(app, args, timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S)
    return 0


if __name__ == "__main__":
    sys.exit(main())
