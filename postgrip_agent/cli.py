"""The ``postgrip-agent`` command."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import List, Optional


def _server(args: argparse.Namespace) -> int:
    from .server import LocalServer

    server = LocalServer(db=args.db, host=args.host, port=args.port, auth_token=args.auth_token)
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        logging.getLogger("postgrip_agent.cli").info("received signal %s; stopping", signum)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    server.start()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="postgrip-agent", description="PostGrip Agent (synchronous SDK) tools")
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    commands = parser.add_subparsers(dest="command", required=True)
    server = commands.add_parser("server", help="run the local runtime service (PostGrip Agent API on SQLite)")
    server.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    server.add_argument("--port", type=int, default=4100, help="port to listen on (default 4100; 0 picks one)")
    server.add_argument("--db", default="./postgrip.db", help="SQLite file, or :memory: (default ./postgrip.db)")
    server.add_argument("--auth-token", default=None, help="require 'Authorization: Bearer TOKEN' on the API")
    server.set_defaults(run=_server)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return int(args.run(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
