"""The Agent: pollers, an activity thread pool, workflow-task threads and a lease keeper."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import signal
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from .._compat import either
from .._encoding import duration_ms
from ..client import Client
from ..connection import Connection
from ..errors import PostGripAgentError
from . import registry
from .activity_tasks import ActivityTaskRunner
from .lane import AgentLane
from ..interceptor import Interceptor, workflow_classes
from .observer import AgentObserver
from .leases import LeaseKeeper
from .workflow_tasks import WorkflowTaskRunner

log = logging.getLogger("postgrip_agent.agent")


class _Lane:
    """A kind of work (workflow tasks or activities): its pool, its slots and its pollers."""

    def __init__(
        self, name: str, slots: int, pollers: int, task_types: List[str], run: Callable[[Dict[str, Any]], Optional[bool]]
    ) -> None:
        self.name = name
        self.slots = threading.Semaphore(slots)
        self.size = slots
        self.pool = ThreadPoolExecutor(max_workers=slots, thread_name_prefix=f"postgrip-{name}")
        self.pollers = pollers
        self.task_types = task_types
        self.run = run
        self.in_flight = 0
        self.lock = threading.Lock()
        self.idle = threading.Condition(self.lock)


class _LocalDispatch:
    """A lane's slots and pool, for tasks the service leases to this agent in an answer: the
    activities an activation scheduled, or the workflow task an activity's completion woke."""

    def __init__(self, agent: "Agent", lane_name: str, types: List[str]) -> None:
        self._agent = agent
        self._lane_name = lane_name
        self.queue = agent.task_queue
        self.types = types

    def _lane(self) -> Optional[_Lane]:
        return next((lane for lane in self._agent._lanes if lane.name == self._lane_name), None)

    def reserve(self, wanted: int) -> int:
        lane = self._lane()
        if lane is None or self._agent._stopping.is_set():
            return 0
        got = 0
        while got < wanted and lane.slots.acquire(blocking=False):
            got += 1
        return got

    def release(self, count: int) -> None:
        lane = self._lane()
        if lane is not None:
            for _ in range(count):
                lane.slots.release()

    def dispatch(self, task: Dict[str, Any]) -> None:
        lane = self._lane()
        assert lane is not None  # a slot was reserved, so the lane exists
        with lane.lock:
            lane.in_flight += 1
        lane.pool.submit(self._agent._dispatch, lane, task)


class Agent:
    """Polls a task queue and runs the registered workflows and activities.

    ``run()`` blocks until shutdown (SIGINT/SIGTERM stop it when called on the main thread);
    ``start()`` runs it on background threads; ``shutdown()`` stops polling and drains
    in-flight work. Usable as a context manager (``with Agent(...):`` starts and stops it).
    Its options are keywords, each described under ``__init__``.
    """

    def __init__(
        self,
        client: Optional[Client] = None,
        *,
        task_queue: Optional[str] = None,
        workflows: Sequence[Any] = (),
        activities: Sequence[Any] = (),
        namespace: Optional[str] = None,
        identity: Optional[str] = None,
        max_concurrent_activities: Optional[int] = None,
        max_concurrent_workflow_tasks: Optional[int] = None,
        poll_wait_seconds: int = 1,
        pollers_per_kind: int = 2,
        activity_lease: float = 10.0,
        max_cached_workflows: int = 1_000,
        max_concurrent_tasks: Optional[int] = None,
        poll_interval: Optional[float] = None,
        connection: Optional[Connection] = None,
        name: Optional[str] = None,
        host: Optional[str] = None,
        default_start_to_close_timeout: Optional[Union[timedelta, float]] = None,
        metrics: Optional[AgentObserver] = None,
        interceptors: Sequence[Interceptor] = (),
    ) -> None:
        """Configure the agent; nothing runs until ``run()`` or ``start()``.

        Args:
            client: The Client it talks to the service through (or a Connection, as the async SDK takes).
            task_queue: The queue it polls (default: the connection's ``agent_queue``, then
                ``POSTGRIP_AGENT_TASK_QUEUE``).
            workflows: The ``@workflow.defn`` classes it runs.
            activities: The ``@activity.defn`` functions (or bound methods) it runs.
            namespace: The namespace (default: the client's, then ``POSTGRIP_AGENT_NAMESPACE``).
            identity: Its id in the service's records and logs (default: the connection's ``agent_id``, then
                ``POSTGRIP_AGENT_ID``, then host-pid-random).
            max_concurrent_activities: Activity threads (default 100).
            max_concurrent_workflow_tasks: Workflow activations at once (default 8).
            poll_wait_seconds: How long one long-poll waits on the service for a task.
            pollers_per_kind: Polling threads for activities and for workflows, each.
            activity_lease: Seconds the service waits, after this agent last renewed an activity's lease, before
                it counts the attempt as lost and retries it elsewhere; the agent renews every third of it while
                the activity runs. Timeouts are separate (per activity, enforced by the service).
            max_cached_workflows: Runs kept live in memory between activations (sticky execution), so each step
                costs the same however long the run; 0 replays every activation from history, which checks
                determinism on every step.
            max_concurrent_tasks: The async SDK's one limit: sets both lanes' limits when neither of theirs is
                given.
            poll_interval: The async SDK's; accepted and not needed (polls are long-polls the service answers
                the moment a task is ready).
            connection: A Connection instead of a client, the async SDK's way.
            name: A name for the agent in its logs (the async SDK's).
            host: The host named in its logs (the async SDK's).
            default_start_to_close_timeout: Bounds each attempt of the activities its workflows schedule without
                a start-to-close or schedule-to-close timeout (a timedelta or seconds); without it such an
                attempt has no deadline, as under the async reference SDK.
            metrics: Told of each poll and task it runs (``postgrip_agent.contrib.prometheus.AgentMetrics``
                makes Prometheus metrics of it).
            interceptors: ``postgrip_agent.interceptor`` interceptors run around its workflows and activities,
                after those of its client's connection.

        Raises:
            TypeError: Conflicting options (a Client and ``connection=``; ``max_concurrent_tasks`` with a lane's limit).
            ValueError: A workflow or activity it cannot register (a duplicate name, a call that breaks replay).
        """
        if max_concurrent_tasks is not None:
            if max_concurrent_activities is not None or max_concurrent_workflow_tasks is not None:
                raise TypeError(
                    "pass max_concurrent_tasks (the async SDK's) or max_concurrent_activities/"
                    "max_concurrent_workflow_tasks, not both"
                )
            max_concurrent_activities = max_concurrent_workflow_tasks = max_concurrent_tasks
        max_concurrent_activities = 100 if max_concurrent_activities is None else max_concurrent_activities
        max_concurrent_workflow_tasks = 8 if max_concurrent_workflow_tasks is None else max_concurrent_workflow_tasks
        if isinstance(client, Connection) and connection is None:  # the async SDK takes either
            client, connection = None, client
        if client is not None and connection is not None:
            raise TypeError("pass a Client or connection=, not both")
        if connection is not None:
            if not isinstance(connection, Connection):
                raise TypeError(f"connection= takes a Connection, got {type(connection).__name__}")
            client = Client(connection, namespace=namespace or connection.agent_defaults["namespace"] or "default")
        if not isinstance(client, Client):
            raise TypeError(f"Agent needs a Client (Client.connect(...)) or connection=, got {type(client).__name__}")
        defaults = client.connection.agent_defaults
        task_queue = task_queue or defaults["task_queue"]
        if not isinstance(task_queue, str) or not task_queue.strip():
            raise ValueError("task_queue must be a non-empty string (or set POSTGRIP_AGENT_TASK_QUEUE)")
        if max_concurrent_activities < 1 or max_concurrent_workflow_tasks < 1:
            raise ValueError("max_concurrent_activities and max_concurrent_workflow_tasks must be >= 1")
        if not 0 <= poll_wait_seconds <= 60:
            raise ValueError("poll_wait_seconds must be between 0 and 60")
        if not 1 <= activity_lease <= 3600:
            raise ValueError("activity_lease must be between 1 and 3600 seconds (how soon a lost agent is noticed)")
        self.client = client
        self.task_queue = task_queue
        self.namespace = namespace or defaults["namespace"] or client.namespace
        #: how the agent is described in its logs (the async SDK's name= and host=)
        self.name = name or defaults["name"]
        self.host = host or defaults["host"] or socket.gethostname()
        self.identity = identity or defaults["identity"] or f"{self.host}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.workflows = registry.workflows(workflows)
        self.activities = registry.activities(activities)
        if not self.workflows and not self.activities:
            raise ValueError("register at least one workflow or activity")
        self.poll_wait_seconds = poll_wait_seconds
        self.lane = AgentLane(client.connection, self.identity)
        self.leases = LeaseKeeper(self.lane)
        if max_cached_workflows < 0:
            raise ValueError("max_cached_workflows must be >= 0 (0 replays every activation from history)")
        eager = _LocalDispatch(self, "activity", [f"activity:{name}" for name in self.activities])
        handback = _LocalDispatch(self, "workflow", [f"workflow:{name}" for name in self.workflows])
        self._stopping = threading.Event()
        default_ms = duration_ms(default_start_to_close_timeout, "default_start_to_close_timeout")
        if default_ms is not None and default_ms <= 0:
            raise ValueError("default_start_to_close_timeout must be positive (leave it out for no default)")
        if not all(isinstance(i, Interceptor) for i in interceptors):
            raise TypeError("interceptors must be postgrip_agent.interceptor.Interceptor objects")
        #: the client's interceptors, then this agent's own
        self.interceptors = (*client.connection.interceptors, *interceptors)
        self._workflow_runner = WorkflowTaskRunner(
            self.lane,
            self.workflows,
            max_cached_workflows,
            eager=eager,
            stopping=self._stopping,
            default_start_to_close_ms=default_ms,
            interceptors=workflow_classes(self.interceptors),
        )
        self._activity_runner = ActivityTaskRunner(
            self.lane,
            self.activities,
            self.leases,
            activity_lease,
            handback=handback if self.workflows else None,
            interceptors=self.interceptors,
        )
        self._lanes: List[_Lane] = []
        if self.workflows:
            prefixes = [f"{kind}:{name}" for name in self.workflows for kind in ("workflow", "query", "update")]
            self._lanes.append(
                _Lane("workflow", max_concurrent_workflow_tasks, pollers_per_kind, prefixes, self._run_workflow_task)
            )
        if self.activities:
            prefixes = [f"activity:{name}" for name in self.activities]
            self._lanes.append(
                _Lane("activity", max_concurrent_activities, pollers_per_kind, prefixes, self._activity_runner.run)
            )
        self._stopped = threading.Event()
        self._threads: List[threading.Thread] = []
        self._started = False
        #: told of each poll and task (``metrics=``: e.g. postgrip_agent.contrib.prometheus.AgentMetrics)
        self.metrics = metrics
        if metrics is not None:
            metrics.attach(self)

    def stats(self) -> Dict[str, int]:
        """What dashboards read: tasks running now per lane (``<lane>_in_flight``) and its slots
        (``<lane>_slots``), live runs cached, and the cache's hits and misses so far."""
        out = {f"{lane.name}_in_flight": lane.in_flight for lane in self._lanes}
        out.update({f"{lane.name}_slots": lane.size for lane in self._lanes})
        cache = self._workflow_runner.cache
        out.update(cached_runs=len(cache), cache_hits=cache.hits, cache_misses=cache.misses)
        return out

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "Agent":
        """Start polling in background threads and return the agent (``with Agent(...):`` does this); stop it with [`shutdown()`][postgrip_agent.agent.Agent.shutdown]."""
        if self._started:
            return self
        self._started = True
        self.leases.start()
        for lane in self._lanes:
            for n in range(lane.pollers):
                thread = threading.Thread(
                    target=self._poll_loop, args=(lane,), name=f"postgrip-poll-{lane.name}-{n}", daemon=True
                )
                thread.start()
                self._threads.append(thread)
        log.info(
            "agent %s%s on %s polling queue %r in namespace %r (%d workflows, %d activities)",
            self.identity,
            f" ({self.name})" if self.name else "",
            self.host,
            self.task_queue,
            self.namespace,
            len(self.workflows),
            len(self.activities),
        )
        return self

    @classmethod
    def create(cls, **options: Any) -> "Agent":
        """The async SDK's factory: build the agent and check that the service answers."""
        agent = cls(**options)
        agent.client.health()
        return agent

    def run_sync(self) -> None:
        """The async SDK's blocking spelling of [`run()`][postgrip_agent.agent.Agent.run]."""
        self.run()

    def run_until(self, awaitable: Any) -> Any:
        """Run the agent while ``awaitable`` runs, then stop it; return its result.

        ``awaitable`` is a function (called on this thread: ``agent.run_until(scenario)``, the
        async SDK's ``await agent.run_until(scenario())`` with the await deleted and the call
        left to the agent), a coroutine or other awaitable (run with ``asyncio.run``), or
        anything with a ``result()`` (a workflow handle, a future)."""
        self.start()
        try:
            if inspect.isawaitable(awaitable):

                async def wait() -> Any:
                    return await awaitable

                return asyncio.run(wait())
            if callable(awaitable):
                return awaitable()
            result = getattr(awaitable, "result", None)
            if callable(result):
                return result()
            raise TypeError(
                f"run_until takes a function, an awaitable or something with result(), not {type(awaitable).__name__}"
            )
        finally:
            self.shutdown()

    def run(self, *, grace: Optional[float] = None) -> None:
        """Run until shutdown() (or SIGINT/SIGTERM when on the main thread), then drain as
        [`shutdown()`][postgrip_agent.agent.Agent.shutdown] does with ``grace``."""
        previous: Dict[Any, Any] = {}

        def on_signal(signum: int, _frame: Any) -> None:
            log.info("agent %s: received %s; stopping (grace %s s)", self.identity, signal.Signals(signum).name, grace)
            self._stopping.set()

        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                previous[signum] = signal.signal(signum, on_signal)
        self.start()
        try:
            while not self._stopping.wait(0.5):  # a timed wait, so signal handlers run promptly
                pass
        finally:
            self.shutdown(grace=grace)
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def shutdown(self, timeout: Optional[float] = None, *, grace: Optional[float] = None) -> None:
        """Stop polling, let in-flight tasks finish for up to ``grace`` seconds (None: as long as
        they take), then hand the leases still held back to the service, so another agent
        retries those tasks at once (an activity still running here is interrupted; where the
        service cannot take a lease back, it lapses). ``timeout`` is the older name of ``grace``."""
        grace = either("grace", grace, "timeout", timeout)
        self._stopping.set()
        if self._stopped.is_set():
            return
        deadline = None if grace is None else time.monotonic() + grace
        self._call_off_polls()
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        for lane in self._lanes:
            with lane.idle:
                while lane.in_flight and (deadline is None or time.monotonic() < deadline):
                    lane.idle.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
            lane.pool.shutdown(wait=False)
        for thread in self._threads:  # each poller ends with its current poll: nothing is leased to us after
            thread.join(self.poll_wait_seconds + 5.0)
        if any(lane.in_flight for lane in self._lanes):
            handed = self.leases.hand_back()
            log.warning(
                "agent %s: %d task(s) still running after the %.1f s grace period were handed back",
                self.identity,
                handed,
                grace or 0.0,
            )
        self.leases.stop()
        self._workflow_runner.cache.clear()  # live runs go on elsewhere: tear them down without side effects
        self._stopped.set()
        log.info("agent %s stopped", self.identity)

    def _call_off_polls(self) -> None:
        """End the pollers' waiting long-polls now, not at their timeouts (extension ``poll-wake``).
        A poll sent just as the agent stopped is not waiting yet when it is called off: a few more
        rounds, 50 ms apart, catch it (a poller still busy after them ends with its poll)."""
        for _ in range(10):
            if not any(thread.is_alive() for thread in self._threads) or not self.lane.call_off_polls():
                return
            for thread in self._threads:
                thread.join(0.05)

    @property
    def in_flight(self) -> int:
        """Tasks this agent is running now (after a shutdown: those whose code is still busy
        although their leases were handed back)."""
        return sum(lane.in_flight for lane in self._lanes)

    def __enter__(self) -> "Agent":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()

    # ------------------------------------------------------------------ polling and dispatch

    def _poll_loop(self, lane: _Lane) -> None:
        backoff = 0.05
        while not self._stopping.is_set():
            lane.slots.acquire()
            if self._stopping.is_set():
                lane.slots.release()
                return
            try:
                began = time.perf_counter()
                task = self.lane.poll(
                    self.namespace, self.task_queue, lane.task_types, self.poll_wait_seconds, with_history=lane.name == "workflow"
                )
                if self.metrics is not None:
                    self.metrics.polled(lane.name, time.perf_counter() - began, task is not None)
                backoff = 0.05
            except PostGripAgentError as err:
                lane.slots.release()
                log.warning("polling %s tasks failed: %s; retrying in %.2fs", lane.name, err, backoff)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if task is None:
                lane.slots.release()
                continue
            if self._stopping.is_set():  # leased just as the agent stops: another agent takes it at once
                lane.slots.release()
                self._give_back(task)
                return
            with lane.lock:
                lane.in_flight += 1
            try:
                lane.pool.submit(self._dispatch, lane, task)
            except RuntimeError:  # the pool shut down between the check and here
                with lane.lock:
                    lane.in_flight -= 1
                    lane.idle.notify_all()
                lane.slots.release()
                self._give_back(task)
                return

    def _give_back(self, task: Dict[str, Any]) -> None:
        try:
            if self.lane.give_back(task["id"]):
                log.info("task %s leased while stopping: handed back", task["id"])
        except Exception as err:  # gone, or the service is unreachable: the lease lapses instead
            log.warning("handing back task %s failed: %s; its lease will lapse", task["id"], err)
        finally:
            self.lane.released(task["id"])

    def _dispatch(self, lane: _Lane, task: Dict[str, Any]) -> None:
        token: Optional[str] = None
        began, failed = time.perf_counter(), True
        try:
            with self.lane.holding(task["id"]) as token:
                failed = lane.run(task) is False
        except Exception:  # never let one task take the agent down; the lease will lapse and retry
            log.exception("task %s (%s) failed inside the agent", task.get("id"), task.get("type"))
        finally:
            if self.metrics is not None:
                self.metrics.ran(lane.name, str(task.get("type") or ""), time.perf_counter() - began, failed)
            self.lane.released(task["id"], token)
            with lane.lock:
                lane.in_flight -= 1
                lane.idle.notify_all()
            lane.slots.release()

    def _run_workflow_task(self, task: Dict[str, Any]) -> None:
        self.leases.track(task["id"], float(task.get("lease_timeout_seconds") or 30))
        try:
            self._workflow_runner.run(task)
        finally:
            self.leases.release(task["id"])


Worker = Agent
"""Temporal's name for the `Agent`."""
