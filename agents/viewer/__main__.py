"""``python -m agents.viewer runs/ [--port 8020]``: browse runs, trajectories, tokens and metrics."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import uvicorn

from agents.viewer.app import create_app
from agents.viewer.store import NotFoundError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agents.viewer", description=__doc__.split(":")[1].strip())
    parser.add_argument("root", type=Path, help="a run directory, or a directory of runs (e.g. runs/)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8020)
    args = parser.parse_args(argv)
    try:
        app = create_app(args.root)
    except NotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"replay viewer for {args.root.resolve()} at http://{args.host}:{args.port}/", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
