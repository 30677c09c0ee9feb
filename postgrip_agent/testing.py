"""Test helpers: an in-process service with a ready Client."""

from __future__ import annotations

from typing import Any, Optional

from .client import Client
from .server import LocalServer
from .server.clock import Clock


class WorkflowEnvironment:
    """A LocalServer on a free port plus a Client connected to it; a context manager.

    ``env.client`` is the Client, ``env.server`` the service (``env.server.advance(...)``
    moves a ManualClock).
    """

    def __init__(self, server: LocalServer, client: Client) -> None:
        self.server = server
        self.client = client

    @classmethod
    def start_local(cls, *, db: str = ":memory:", clock: Optional[Clock] = None, namespace: str = "default",
                    default_task_queue: str = "default", round_trip_extensions: bool = True,
                    transport: str = "http", **connection_options: Any) -> "WorkflowEnvironment":
        """An in-process service and a client for it (``round_trip_extensions=False``: the
        service offers only what any PostGrip service does, so the SDK's fallbacks are used).

        ``transport="http"`` (the default) reaches the service over real loopback HTTP, as a
        deployed service is reached; ``"in-process"`` hands calls straight to it (faster, no socket)."""
        if transport not in ("http", "in-process"):
            raise ValueError(f"transport must be 'http' or 'in-process', got {transport!r}")
        server = LocalServer(db=db, port=0, clock=clock, round_trip_extensions=round_trip_extensions).start()
        try:
            target = server if transport == "in-process" else server.address
            client = Client.connect(target, namespace=namespace, default_task_queue=default_task_queue, **connection_options)
        except BaseException:
            server.stop()
            raise
        return cls(server, client)

    @property
    def address(self) -> str:
        return self.server.address

    def shutdown(self) -> None:
        self.client.close()
        self.server.stop()

    def __enter__(self) -> "WorkflowEnvironment":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()
