"""The local runtime service: the PostGrip Agent HTTP API on SQLite (one process), or on
PostgreSQL (``db="postgresql://..."``: several replicas may share the database).

Run it with ``postgrip-agent server`` or ``python -m postgrip_agent.server``, or embed it::

    with LocalServer(db=":memory:", port=0) as server:
        client = Client.connect(server)          # in-process: calls skip the socket
        remote = Client.connect(server.address)  # over HTTP, as any other process would
"""

from __future__ import annotations

import ipaddress

import logging
import threading
import time
from types import TracebackType
from typing import List, Optional, Type

from .engine import Clock, Engine, ManualClock, ScheduleService
from .http import Api, HttpServer, InProcessAdapter, make_http_server
from .http.schedules import schedule_routes
from .store import SQLiteStore, Store, check_synchronous, is_postgres_url, safe_url

log = logging.getLogger("postgrip_agent.server")

__all__ = ["LocalServer", "Engine", "Clock", "ManualClock", "SQLiteStore", "Store", "open_store"]


def _loopback(host: str) -> bool:
    """True for an address only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:  # "" and "0.0.0.0" (every interface) are not loopback
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False


def open_store(db: str, *, sqlite_synchronous: str = "full") -> Store:
    """The store ``db`` names: a ``postgresql://`` (or ``postgres://``) URL opens the PostgreSQL
    store (``pip install 'postgrip-agent-sync[postgres]'``; ``?schema=NAME`` picks a schema); a
    path, or ``:memory:``, a SQLite file, committing with ``sqlite_synchronous`` ("full", the
    default, or "normal": see ``SQLiteStore``)."""
    check_synchronous(sqlite_synchronous)
    if is_postgres_url(db):
        from .store import PostgresStore

        return PostgresStore(db)
    return SQLiteStore(db, synchronous=sqlite_synchronous)


class LocalServer:
    """The service on a background thread; a context manager exposing ``.address``."""

    def __init__(
        self,
        db: str = ":memory:",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Optional[Clock] = None,
        auth_token: Optional[str] = None,
        store: Optional[Store] = None,
        max_connections: int = 4096,
        idle_timeout: float = 120.0,
        header_timeout: float = 10.0,
        tick_lag_limit: float = 30.0,
        round_trip_extensions: bool = True,
        insecure: bool = False,
        sqlite_synchronous: str = "full",
        unpolled_warning_after: float = 300.0,
    ) -> None:
        """``db`` is a SQLite file, ``:memory:``, or a PostgreSQL URL (see ``open_store()``).
        ``max_connections`` caps open connections (and is kept below the fd limit); idle
        connections close after ``idle_timeout`` s, a request head must arrive within
        ``header_timeout`` s; ``/readyz`` answers 503 once the ticker lags ``tick_lag_limit`` s.
        ``round_trip_extensions=False`` serves only the contract (plus fencing, idempotency keys
        and long-polls), as a foreign PostGrip service would: tests use it to keep the SDK's
        fallback paths honest.

        Starting a run of a workflow type no agent has polled its queue for within
        ``unpolled_warning_after`` seconds is answered with a warning (the SDK logs it, the CLI
        prints it); 0 turns that off.

        ``sqlite_synchronous`` ("full", the default, or "normal") is how a SQLite file commits:
        with "full" every change the service acknowledged survives a power loss; with "normal"
        it survives the process crashing, but a power loss may undo the last ones (see
        ``SQLiteStore``). PostgreSQL follows its own ``synchronous_commit``.

        Listening on an address other than loopback without ``auth_token`` would serve anyone who
        can reach it: it is refused (``ValueError``) unless ``insecure=True`` says that is meant."""
        if auth_token is None and not insecure and not _loopback(host):
            raise ValueError(
                f"refusing to listen on {host} without an auth token: anyone who can reach it could run "
                "and read workflows. Give auth_token (--auth-token), listen on 127.0.0.1, or pass "
                "insecure=True (--insecure) if the network itself is trusted"
            )
        self.db = db
        self.clock = clock or Clock()
        self.store = store or open_store(db, sqlite_synchronous=sqlite_synchronous)
        try:
            self._build(
                auth_token, round_trip_extensions, tick_lag_limit, host, port, max_connections, idle_timeout, header_timeout
            )
            self.engine.pollers.window = float(unpolled_warning_after)
        except BaseException:
            if store is None:
                self.store.close()  # a port in use leaves no connection pool or listener behind
            raise

    def _build(
        self,
        auth_token: Optional[str],
        round_trip_extensions: bool,
        tick_lag_limit: float,
        host: str,
        port: int,
        max_connections: int,
        idle_timeout: float,
        header_timeout: float,
    ) -> None:
        self.engine = Engine(self.store, self.clock, auth_token=auth_token)
        self.schedules = ScheduleService(self.engine)
        self.api = Api(
            self.engine,
            auth_token=auth_token,
            extra_routes=schedule_routes(self.schedules),
            round_trip_extensions=round_trip_extensions,
        )
        self.api.tick_lag_limit = tick_lag_limit
        self._http: HttpServer = make_http_server(
            self.api, host, port, max_connections=max_connections, idle_timeout=idle_timeout, header_timeout=header_timeout
        )
        self._stopped = threading.Event()
        self._threads: List[threading.Thread] = []
        self._started = False

    @property
    def host(self) -> str:
        return str(self._http.server_address[0])

    @property
    def port(self) -> int:
        return int(self._http.server_address[1])

    @property
    def address(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted so far (in-process calls open none)."""
        return self._http.accepted

    def transport_adapter(self) -> InProcessAdapter:
        """A requests adapter that answers calls on the caller's thread, without a socket.

        ``Client.connect(server)`` mounts one: a Client and an Agent in this process then reach
        the service with the same API, status codes and errors as over HTTP, at a fraction of
        the cost. Calls fail as a refused connection would while the server is not running."""
        return InProcessAdapter(self.api.route, self.api.extensions, lambda: self._started and not self._stopped.is_set())

    def start(self) -> "LocalServer":
        if self._started:
            return self
        self._started = True
        for name, target in (
            ("postgrip-server-http", lambda: self._http.serve_forever(poll_interval=0.05)),
            ("postgrip-server-ticker", lambda: self.engine.ticker(self._stopped)),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info(
            "PostGrip Agent local service listening on %s (db %s)",
            self.address,
            safe_url(self.db) if is_postgres_url(self.db) else self.db,
        )
        return self

    def serve_forever(self) -> None:
        """Run in the calling thread until ``stop()`` is called from elsewhere."""
        self.start()
        self._stopped.wait()

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.engine.stop()
        if self._started:
            self._http.shutdown()
        self._http.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        deadline = time.monotonic() + 5.0  # requests still being answered finish before the store closes
        while self._http.active_connections and time.monotonic() < deadline:
            time.sleep(0.01)
        self.store.close()
        log.info("PostGrip Agent local service on %s stopped", self.address)

    def advance(self, seconds: float) -> None:
        """Move a ManualClock forward and fire everything that became due."""
        if not isinstance(self.clock, ManualClock):
            raise TypeError("advance() needs LocalServer(clock=ManualClock())")
        self.clock.advance(seconds)
        self.engine.run_due()

    def __enter__(self) -> "LocalServer":
        return self.start()

    def __exit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        self.stop()
