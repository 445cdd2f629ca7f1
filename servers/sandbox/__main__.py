"""``python -m servers.sandbox --port 8010``: the code sandbox service (needs root; see ``isolation``)."""

from __future__ import annotations

import argparse
import sys

from sandbox.auth import TokenError
from sandbox.executor import DEFAULT_BASE_UID, Sandbox
from sandbox.isolation import IsolationError
from servers.http import add_service_arguments, run_service, service_token
from servers.sandbox.app import ServiceLimits, create_app

DEFAULT_PORT = 8010


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m servers.sandbox", description=__doc__.split(":")[0])
    add_service_arguments(parser, port=DEFAULT_PORT)
    parser.add_argument("--concurrency", type=int, default=2, help="programs run at once (one user id each)")
    parser.add_argument("--max-queue", type=int, default=ServiceLimits().max_queue)
    parser.add_argument("--base-uid", type=int, default=DEFAULT_BASE_UID, help="first of the sandbox's user ids")
    parser.add_argument("--python", help="interpreter for programs (default: /usr/bin/python3)")
    args = parser.parse_args(argv)
    try:
        token = service_token(args)
    except TokenError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        sandbox = Sandbox(max_concurrency=args.concurrency, python=args.python, base_uid=args.base_uid)
    except (IsolationError, ValueError) as error:
        print(f"error: the sandbox cannot isolate programs here, so it will not start: {error}", file=sys.stderr)
        return 2
    app = create_app(sandbox, ServiceLimits(max_queue=args.max_queue), token=token)
    run_service(app, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
