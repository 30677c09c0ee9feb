"""Test helpers: an in-process service with a ready Client, and an activity run directly."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any, Callable, Dict, List, Optional, Union

import attrs

from .activity import ActivityContext, ActivityInfo, run_in_activity_runtime
from .client import Client
from .errors import CancelledFailure
from .server import LocalServer
from .server.engine.clock import Clock, ManualClock

__all__ = ["WorkflowEnvironment", "ActivityEnvironment"]


class WorkflowEnvironment:
    """A LocalServer on a free port plus a Client connected to it; a context manager.

    ``env.client`` is the Client, ``env.server`` the service (``env.server.advance(...)``
    moves a ManualClock).
    """

    def __init__(self, server: LocalServer, client: Client) -> None:
        self.server = server
        self.client = client
        self._skipper: Optional[_TimeSkipper] = None

    @classmethod
    def start_time_skipping(cls, **options: Any) -> "WorkflowEnvironment":
        """An in-process service whose clock stands still while work can run, and jumps to the
        next timer, retry, deadline or schedule fire as soon as nothing can happen before it (no
        task held by an agent or waiting for one): a workflow that sleeps 30 days finishes in a
        fraction of a second, with ``workflow.now()`` 30 days on. ``env.sleep(d)`` moves the
        clock by hand. Options as for [`start_local()`][postgrip_agent.testing.WorkflowEnvironment.start_local]. (A task no agent polls for keeps
        the clock still: it counts as work waiting.)"""
        clock = ManualClock(start=time.time())
        env = cls.start_local(clock=clock, **options)
        env._skipper = _TimeSkipper(env.server, clock)
        return env

    def sleep(self, duration: Union[timedelta, float]) -> None:
        """Move the service's clock on by ``duration`` (a timedelta or seconds); needs a manual clock
        (``start_time_skipping``, or ``start_local(clock=ManualClock())``)."""
        clock = self.server.clock
        if not isinstance(clock, ManualClock):
            raise TypeError("env.sleep() moves a manual clock: use WorkflowEnvironment.start_time_skipping()")
        clock.advance(duration.total_seconds() if isinstance(duration, timedelta) else float(duration))

    @classmethod
    def start_local(
        cls,
        *,
        db: str = ":memory:",
        clock: Optional[Clock] = None,
        namespace: str = "default",
        default_task_queue: str = "default",
        round_trip_extensions: bool = True,
        transport: str = "http",
        **connection_options: Any,
    ) -> "WorkflowEnvironment":
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
        """The service's HTTP address (for other processes and the CLI)."""
        return self.server.address

    def shutdown(self) -> None:
        """Close the client and stop the service (``with`` does this)."""
        if self._skipper is not None:
            self._skipper.stop()
        self.client.close()
        self.server.stop()

    def __enter__(self) -> "WorkflowEnvironment":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()


class _TimeSkipper:
    """The thread of a time-skipping environment: when the service has nothing runnable twice in
    a row (2 ms apart, so work just handed over between an agent and the service is not
    missed), it sets the clock to the next moment something falls due. While an agent runs an
    activity the clock moves at wall-clock speed (as Temporal's test server does), so
    start-to-close, schedule-to-close and heartbeat timeouts fire as they would for real."""

    def __init__(self, server: LocalServer, clock: ManualClock) -> None:
        self._server, self._clock = server, clock
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="postgrip-time-skipper", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        seen: Optional[float] = None
        engine = self._server.engine
        last = time.monotonic()
        while not self._stopped.wait(0.002):
            elapsed, last = time.monotonic() - last, time.monotonic()
            try:
                target = engine.time_skip_target()
                if target is not None and target == seen:
                    self._clock.set(target)
                    seen = None
                    continue
                seen = target
                if target is None and engine.activity_running():
                    # an activity is working: its time is real time, so its timeouts fire as in a real
                    # service; the ticker is woken only when something falls due
                    now = self._clock.now() + elapsed
                    due = engine.next_due()
                    self._clock.set(now, wake=due is not None and due <= now)
            except Exception:  # the service is stopping
                return

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)


class ActivityEnvironment:
    """Runs an activity function directly, as an agent would, with a context the test can read:
    ``env.run(charge, order)``. What the activity reports is captured: ``heartbeats`` (their
    details), ``events`` (milestones and stdout/stderr, as the service would record them),
    ``milestones``, ``stdout`` and ``stderr``. ``cancel()`` (from ``on_heartbeat``, or another
    thread) makes the next ``activity.heartbeat()`` raise CancelledFailure, as the service's
    answer would. ``info`` is what ``activity.info()`` returns; give fields to change it."""

    def __init__(self, *, on_heartbeat: Optional[Callable[[Optional[Dict[str, Any]]], None]] = None, **info: Any) -> None:
        fields: Dict[str, Any] = {
            "task_id": "test-activity-task",
            "activity_type": "",
            "attempt": 1,
            "namespace": "default",
            "task_queue": "test",
            **info,
        }
        self.info = ActivityInfo(**fields)
        #: the activity type was given; else each run names it after the function
        self._named = bool(info.get("activity_type"))
        self.on_heartbeat = on_heartbeat
        self.heartbeats: List[Optional[Dict[str, Any]]] = []
        self.events: List[Dict[str, Any]] = []
        self._context: Optional[ActivityContext] = None
        self._cancel_reason: Optional[str] = None

    def cancel(self, reason: str = "cancelled by the test") -> None:
        """Cancel the activity: its next heartbeat raises CancelledFailure (``is_cancelled()`` says so)."""
        self._cancel_reason = reason
        if self._context is not None:
            self._context.cancelled, self._context.cancel_reason = True, reason

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Call the activity (a ``def`` or ``async def``) with ``args``; return what it returns."""
        name = str(getattr(fn, "_postgrip_activity_name", None) or getattr(fn, "__name__", "activity"))
        info = self.info if self._named else attrs.evolve(self.info, activity_type=name)
        context = ActivityContext(info=info, send_heartbeat=self._heartbeat, send_event=self.events.append)
        if self._cancel_reason is not None:
            context.cancelled, context.cancel_reason = True, self._cancel_reason
        self._context = context
        try:
            return run_in_activity_runtime(context, lambda: fn(*args))  # a coroutine is run to its end
        finally:
            self._context = None

    def _heartbeat(self, details: Optional[Dict[str, Any]]) -> None:
        self.heartbeats.append(details)
        if self.on_heartbeat is not None:
            self.on_heartbeat(details)
        context = self._context
        if context is not None and context.cancelled:
            raise CancelledFailure(f"activity {context.info.activity_type} cancelled: {context.cancel_reason}")

    @property
    def milestones(self) -> List[Dict[str, Any]]:
        """Each milestone's details (``name``, ``status``, and ``index``/``total`` when given)."""
        return [dict(e.get("details") or {}) for e in self.events if e.get("kind") == "milestone"]

    @property
    def stdout(self) -> List[str]:
        """What the activity wrote with ``activity.stdout``."""
        return [str(e.get("data")) for e in self.events if e.get("kind") == "stdout"]

    @property
    def stderr(self) -> List[str]:
        """What the activity wrote with ``activity.stderr``."""
        return [str(e.get("data")) for e in self.events if e.get("kind") == "stderr"]
