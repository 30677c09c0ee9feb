"""``postgrip-agent server``: the local runtime service, in the foreground until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import signal
import sqlite3
import threading
from typing import Any, List

from ..server.store import is_postgres_url, safe_url
from ._parser import UsageError
from ._output import Output

log = logging.getLogger("postgrip_agent.cli")


def _check_db(db: str) -> None:
    if db == ":memory:" or is_postgres_url(db):
        return
    folder = os.path.dirname(os.path.abspath(db)) or "."
    if os.path.isdir(db):
        raise UsageError(f"--db {db!r} is a directory; give a file path such as {os.path.join(db, 'postgrip.db')!r}")
    if not os.path.isdir(folder):
        raise UsageError(f"--db {db!r}: the folder {folder!r} does not exist; create it or choose another path")
    if not os.access(folder, os.W_OK) or (os.path.exists(db) and not os.access(db, os.R_OK | os.W_OK)):
        raise UsageError(f"--db {db!r}: no permission to read and write there; choose another path")


def _remove_new_files(db: str, existed: List[str]) -> None:
    if is_postgres_url(db):
        return
    for path in (db, db + "-wal", db + "-shm"):
        if path not in existed and os.path.exists(path):
            os.remove(path)


def run(_client: Any, args: argparse.Namespace, out: Output) -> int:
    """Serve until SIGTERM or SIGINT."""
    _check_db(args.db)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("received %s; stopping", signal.Signals(signum).name)
        stop.set()

    # before the service starts (and says it listens): a SIGTERM from then on stops it cleanly
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _serve(args, out, stop)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _serve(args: argparse.Namespace, out: Output, stop: threading.Event) -> int:
    from ..server import LocalServer

    existed = [p for p in (args.db, args.db + "-wal", args.db + "-shm") if os.path.exists(p)]
    try:
        server = LocalServer(
            db=args.db,
            host=args.host,
            port=args.port,
            auth_token=args.auth_token,
            insecure=args.insecure,
            sqlite_synchronous=args.sqlite_synchronous,
            unpolled_warning_after=args.unpolled_warning_after,
        )
        server.start()
    except ValueError as err:  # refused before anything was created (a public address without a token, ...)
        raise UsageError(str(err)) from err
    except ConnectionError as err:  # PostgreSQL not reachable, or refusing us (before OSError: it is one)
        raise UsageError(f"--db: {err}; check the URL, and that the server runs and lets this user in") from err
    except OSError as err:
        _remove_new_files(args.db, existed)  # nothing is left behind by a start that failed
        if err.errno == errno.EADDRINUSE:
            raise UsageError(
                f"port {args.port} on {args.host} is already in use; stop what holds it or pass "
                "--port with another number (0 picks a free one)"
            ) from err
        if err.errno in (errno.EADDRNOTAVAIL, errno.EACCES):
            raise UsageError(f"cannot listen on {args.host}:{args.port}: {err.strerror}; check --host and --port") from err
        raise
    except sqlite3.Error as err:
        _remove_new_files(args.db, existed)
        raise UsageError(f"--db {args.db!r} is not a usable SQLite database: {err}") from err
    except ImportError as err:  # the [postgres] extra is not installed
        raise UsageError(f"--db {_safe_db(args.db)}: {err}") from err
    out.line(f"PostGrip Agent service listening on {server.address} (database {_safe_db(args.db)})")
    try:
        while not stop.wait(0.5):  # a timed wait, so the signal handler runs promptly on the main thread
            pass
    finally:
        server.stop()
    return 0


def _safe_db(db: str) -> str:
    return safe_url(db) if is_postgres_url(db) else db
