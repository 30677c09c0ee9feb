"""The engine's shared state and plumbing: serialisation, waiters, history and task-event writes.

Each operation is one store transaction. With SQLite one lock serialises the operations; with
PostgreSQL the database does (row locks per run and task), so operations on different runs run
at once, across threads and replicas. Long-polls wait on condition variables keyed by what they
wait for, woken once a change commits, so a poller wakes the moment a task is queued for its
queue. Each concern of the engine (runs, activities, time, sessions, tasks) is an object of its
own that holds this state; none inherits from another.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from typing import Any, Callable, ContextManager, Dict, Iterator, List, Optional, Sequence, Set, Tuple

from .metrics import Metrics
from ... import types as wt
from .clock import Clock
from ..errors import BadRequest, Conflict, NotFound, StaleLease
from ..store import HistoryRecord, NamespaceRecord, RunRecord, Store, TaskEventRecord, TaskRecord

DEFAULT_LEASE_SECONDS = 30
MAX_WAIT_SECONDS = 60
#: (task id, lease token): the lease a write says it belongs to
Fence = Optional[Tuple[str, str]]


class _Poller:
    """One waiting long-poll: its condition, the task-type prefixes it takes, the agent it is for,
    and whether that agent asked it to stop waiting (extension ``poll-wake``)."""

    __slots__ = ("cv", "prefixes", "agent_id", "called_off")

    def __init__(self, cv: threading.Condition, prefixes: Tuple[str, ...], agent_id: Optional[str] = None) -> None:
        self.cv = cv
        self.prefixes = prefixes
        self.agent_id = agent_id
        self.called_off = False


class Watch:
    """Interest in one key of ``_Waiters``: its condition, and a count of the key's changes,
    so a caller that read the store before a change does not then sleep through it."""

    __slots__ = ("cv", "watchers", "changes")

    def __init__(self, cv: threading.Condition) -> None:
        self.cv = cv
        self.watchers = 0
        self.changes = 0

    def seen(self) -> int:
        """The changes so far: take this before reading the store, and pass it to [`wait()`][postgrip_agent.task_client.TaskClient.wait]."""
        with self.cv:
            return self.changes

    def wait(self, seen: int, timeout: float) -> None:
        """Sleep until the key changes after ``seen`` (at once when it already has) or ``timeout``."""
        with self.cv:
            if self.changes == seen:
                self.cv.wait(timeout)


class _Waiters:
    """Condition variables keyed by run or task id, so a change wakes only its own waiters."""

    def __init__(
        self, lock: threading.RLock, defer: Callable[[Callable[[], None]], None], publish: Optional[Callable[[str], None]] = None
    ) -> None:
        self.lock = lock
        self._watches: Dict[str, Watch] = {}
        #: wakes waiters here once the change is committed (at once outside a transaction)
        self._defer = defer
        #: tells other service replicas (a store shared by several processes) of the change
        self._publish = publish

    @contextlib.contextmanager
    def watch(self, key: str) -> Iterator[Watch]:
        """Be woken by changes of ``key`` while inside (register before reading the store)."""
        with self.lock:
            watch = self._watches.get(key)
            if watch is None:
                watch = self._watches[key] = Watch(threading.Condition(self.lock))
            watch.watchers += 1
        try:
            yield watch
        finally:
            with self.lock:
                watch.watchers -= 1
                if watch.watchers == 0:
                    self._watches.pop(key, None)

    def notify(self, key: str, *, remote: bool = False) -> None:
        """``key`` changed: wake its waiters here after the commit, and tell the other replicas."""
        if self._publish is not None and not remote:
            self._publish(key)
        if remote:
            self._wake(key)
        else:
            self._defer(lambda: self._wake(key))

    def _wake(self, key: str) -> None:
        with self.lock:
            watch = self._watches.get(key)
            if watch is not None:
                watch.changes += 1
                watch.cv.notify_all()

    def notify_everyone(self) -> None:
        with self.lock:
            for watch in self._watches.values():
                watch.changes += 1
                watch.cv.notify_all()

    @property
    def waiting(self) -> int:
        """Callers waiting now, over all keys."""
        with self.lock:
            return sum(watch.watchers for watch in self._watches.values())


def _payload(data: Any, cls: Any, what: str) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise BadRequest(f"{what} payload must be a JSON object")
    try:
        return wt.from_json(data, cls)
    except Exception as err:  # cattrs raises several exception types
        raise BadRequest(f"invalid {what} payload: {wt.describe_structure_error(err).replace('body', 'payload')}") from None


class EngineState:
    """What every part of the engine shares, passed to each (not inherited): the store, clock and
    id source, the serialisation of operations, the waiters and pollers, the ticker's wake-up, and
    the helpers that write history, task events and records and wake whoever waits for them.

    Two locks, for two jobs. ``serial`` is what an operation holds around its store transaction:
    with SQLite (one writer) it is the engine's own lock, so operations run one at a time; with a
    store of concurrent writers (PostgreSQL) it is nothing, and the database serialises what must
    be serial (each transaction locks the runs and tasks it reads by key; see the store). ``lock``
    guards only what lives in memory (waiters, pollers, the ticker's next wake-up) and is never
    held across a database round trip. Waiters are woken after the change commits.
    """

    def __init__(
        self,
        store: Store,
        clock: Optional[Clock] = None,
        *,
        new_id: Optional[Callable[[], str]] = None,
        auth_token: Optional[str] = None,
    ) -> None:
        self.store = store
        self.clock = clock or Clock()
        self.new_id: Callable[[], str] = new_id or (lambda: str(uuid.uuid4()))
        self.auth_token = auth_token
        self.lock = threading.RLock()
        #: a store of concurrent writers needs nothing of the engine around a transaction
        self.serial: ContextManager[Any] = contextlib.nullcontext() if store.concurrent_writers else self.lock
        #: per thread: the wake-ups the open operation makes once it commits, and held task wake-ups
        self._local = threading.local()
        #: long-polls waiting per (namespace, queue), oldest first: a new task wakes one that matches
        self.pollers: Dict[Tuple[str, str], List[_Poller]] = {}
        #: what /metrics reports (counted once each change commits)
        self.metrics = Metrics()
        #: per (namespace, queue): how many times a task became available there (a poller that
        #: looked before the latest one looks again instead of sleeping)
        self.queue_changes: Dict[Tuple[str, str], int] = {}
        publish = store.publish
        # keyed by run id: state or history changed; by task id: state changed or event written
        self.run_waiters = _Waiters(self.lock, self.defer, lambda key: publish("run", key))
        self.task_waiters = _Waiters(self.lock, self.defer, lambda key: publish("task", key))
        self.ticker_wake = threading.Event()
        self.ticker_next: Optional[float] = None
        #: the earliest deadline operations added since the ticker last looked (None: none)
        self.deadlines_added: Optional[float] = None
        self.stopping = False
        #: namespaces read back from the store (so known to exist for good)
        self.namespaces_seen: Set[str] = set()
        self.clock.subscribe(self.ticker_wake)
        self.on_tick: List[Callable[[float], None]] = []
        with self.operation():
            if self.store.get_namespace("default") is None:
                now = self.clock.now()
                self.store.insert_namespace(NamespaceRecord("default", now, now))
        self.store.subscribe(self._changed_elsewhere)

    # ------------------------------------------------------------------ operations

    @contextlib.contextmanager
    def operation(self) -> Iterator[None]:
        """One store transaction under ``serial``: what every write runs under. Waiters are woken
        once the outermost operation commits (not at all when it rolls back)."""
        with self.serial:
            local = self._local
            outermost = getattr(local, "effects", None) is None
            if outermost:
                local.effects = []
            try:
                with self.store.transaction():
                    yield
            except BaseException:
                if outermost:
                    local.effects = None
                raise
            if outermost:
                effects, local.effects = local.effects, None
                if effects:
                    with self.lock:
                        for effect in effects:
                            effect()

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """``serial`` alone: a read that needs no transaction of its own."""
        with self.serial:
            yield

    def defer(self, effect: Callable[[], None]) -> None:
        """Run ``effect`` (under ``lock``) once the open operation commits; at once outside one."""
        effects = getattr(self._local, "effects", None)
        if effects is not None:
            effects.append(effect)
        else:
            with self.lock:
                effect()

    @contextlib.contextmanager
    def holding_wakeups(self) -> Iterator[List[TaskRecord]]:
        """Inside: tasks that become available are collected in the list yielded instead of waking
        a poller (an operation that may lease one of them itself wakes pollers for the rest)."""
        held: List[TaskRecord] = []
        self._local.held = held
        try:
            yield held
        finally:
            self._local.held = None

    # ------------------------------------------------------------------ waiting

    def wait_for(self, waiters: _Waiters, read: Callable[[], Tuple[Any, str, bool]], deadline: float) -> Any:
        """Long-poll: ``read()`` gives (value, key to watch, done); read until done, the service
        stops or ``deadline`` (a ``time.monotonic()``) passes, sleeping between changes of the key."""
        with self.serial:
            value, key, done = read()
        while not done and deadline > time.monotonic() and not self.stopping:
            with waiters.watch(key) as watch:
                while True:
                    seen = watch.seen()
                    with self.serial:
                        value, now_key, done = read()
                    remaining = deadline - time.monotonic()
                    if done or remaining <= 0 or self.stopping or now_key != key:
                        break
                    watch.wait(seen, remaining)
            key = now_key
        return value

    def _changed_elsewhere(self, kind: str, key: str) -> None:
        """Another replica changed something waiters here may be waiting for."""
        if kind == "run":
            self.run_waiters.notify(key, remote=True)
        elif kind == "task":
            self.task_waiters.notify(key, remote=True)
        elif kind == "available":
            namespace, queue, task_type = key.split("\x1f", 2)
            with self.lock:
                self._available(namespace, queue, task_type)

    def queue_seen(self, namespace: str, queue: str) -> int:
        """How many times a task became available on the queue: take it before looking for one."""
        with self.lock:
            return self.queue_changes.get((namespace, queue), 0)

    def wait_for_task(
        self, namespace: str, queue: str, prefixes: Sequence[str], timeout: float, seen: int, agent_id: Optional[str] = None
    ) -> bool:
        """Wait until a matching task may be available on the queue (at once when one became
        available since ``seen``), or ``timeout``; True when the agent called the wait off (it stops)."""
        with self.lock:
            if self.queue_changes.get((namespace, queue), 0) != seen:
                return False
            poller = _Poller(threading.Condition(self.lock), tuple(prefixes), agent_id)
            waiting = self.pollers.setdefault((namespace, queue), [])
            waiting.append(poller)
            try:
                poller.cv.wait(timeout)
            finally:
                if poller in waiting:
                    waiting.remove(poller)
                # Drop the queue's list only if it is still this one: woken, this poller's list may
                # have been dropped and replaced by a new one other pollers now wait in (dropping
                # that would hide them from every wake-up until their polls time out).
                if not waiting and self.pollers.get((namespace, queue)) is waiting:
                    del self.pollers[(namespace, queue)]
            return poller.called_off

    def call_off_polls(self, agent_id: str) -> int:
        """Extension ``poll-wake``: the agent's waiting long-polls end now, empty (it is stopping);
        how many there were."""
        woken = 0
        with self.lock:
            for waiting in self.pollers.values():
                for poller in [p for p in waiting if p.agent_id == agent_id]:
                    poller.called_off = True
                    poller.cv.notify()
                    waiting.remove(poller)
                    woken += 1
        return woken

    def task_available(self, task: TaskRecord) -> None:
        """Wake the longest-waiting poller whose task types match, and only that one (here, and
        on another replica when none here would take it), once the task is committed."""
        held = getattr(self._local, "held", None)
        if held is not None:
            held.append(task)
            return
        namespace, queue, task_type = task.namespace, task.queue, task.type
        with self.lock:
            here = self._poller_for(namespace, queue, task_type) is not None
        if not here:
            self.store.publish("available", f"{namespace}\x1f{queue}\x1f{task_type}")
        self.defer(lambda: self._available(namespace, queue, task_type))

    def _poller_for(self, namespace: str, queue: str, task_type: str) -> Optional[_Poller]:
        for poller in self.pollers.get((namespace, queue), []):
            if not poller.prefixes or task_type.startswith(poller.prefixes):
                return poller
        return None

    def _available(self, namespace: str, queue: str, task_type: str) -> None:
        """(``lock`` held) A task became available: pollers looking now look again; wake one waiting."""
        self.queue_changes[(namespace, queue)] = self.queue_changes.get((namespace, queue), 0) + 1
        poller = self._poller_for(namespace, queue, task_type)
        if poller is not None:
            self.pollers[(namespace, queue)].remove(poller)
            poller.cv.notify()

    def wake_all_pollers(self) -> None:
        """Every waiting poller looks again (time made tasks available, or the service stops)."""
        with self.lock:
            for key, waiting in self.pollers.items():
                self.queue_changes[key] = self.queue_changes.get(key, 0) + 1
                for poller in waiting:
                    poller.cv.notify()
                waiting.clear()

    def check_fence(self, fence: Fence) -> None:
        """A write that names its lease is applied only while that lease is the task's current one."""
        if fence is None:
            return
        holder_id, token = fence
        holder = self.store.get_task(holder_id)
        if holder is None:
            raise NotFound(f"task {holder_id} not found")
        if holder.state != "leased" or holder.lease_token != token:
            state = f"terminal ({holder.state})" if holder.state in wt.TERMINAL_TASK_STATES else holder.state
            raise StaleLease(
                f"stale lease: task {holder_id} is {state} and no longer held by this lease; the write was not applied"
            )

    def deadline_added(self, when: Optional[float]) -> None:
        """Something falls due at ``when``: have the ticker wake for it (once committed)."""
        if when is not None:
            self.defer(lambda: self._deadline(when))

    def _deadline(self, when: float) -> None:
        if self.deadlines_added is None or when < self.deadlines_added:
            self.deadlines_added = when
        if self.ticker_next is None or when < self.ticker_next:
            self.ticker_next = when
            self.ticker_wake.set()

    def ensure_namespace(self, name: str, now: float) -> None:
        """Create the namespace unless it exists (one read the first time; namespaces are never
        deleted, so one seen committed stays known)."""
        if name in self.namespaces_seen:
            return
        if self.store.get_namespace(name) is None:
            self.store.insert_namespace(NamespaceRecord(name, now, now))
        else:
            self.namespaces_seen.add(name)

    def task(self, task_id: str) -> TaskRecord:
        """The task with this id; a 404 if there is none."""
        task = self.store.get_task(task_id)
        if task is None:
            raise NotFound(f"task {task_id} not found")
        return task

    def find_run(self, workflow_id: str) -> RunRecord:
        """A run by run id, else the latest run of a workflow id."""
        run = self.store.find_run(workflow_id)
        if run is None:
            raise NotFound(f"workflow {workflow_id} not found")
        return run

    def running_run(self, workflow_id: str, what: str) -> RunRecord:
        """The workflow's run if it is running; a 409 naming ``what`` could not be done otherwise."""
        run = self.find_run(workflow_id)
        if run.state != "running":
            raise Conflict(f"cannot {what} workflow {run.id} (run {run.run_id}): it is not running (state {run.state})")
        return run

    def record(self, run: RunRecord, type_: str, task_id: Optional[str], now: float, **attributes: Any) -> HistoryRecord:
        """Append a history event to the run and wake those waiting on its history."""
        event = HistoryRecord(
            run_id=run.run_id,
            workflow_id=run.id,
            type=type_,
            created_at=now,
            task_id=task_id,
            # ``result`` stays even when None: agents read the outcome from the event itself
            attributes={k: v for k, v in attributes.items() if v is not None or k == "result"},
            tenant_id=run.tenant_id,
        )
        self.store.append_history(event)
        self.run_waiters.notify(run.run_id)
        return event

    def task_event(
        self, task: TaskRecord, now: float, kind: str, agent_id: Optional[str] = None, **fields: Any
    ) -> TaskEventRecord:
        """Append an event to the task's own log and wake those waiting on it."""
        event = TaskEventRecord(task_id=task.id, kind=kind, created_at=now, agent_id=agent_id, tenant_id=task.tenant_id, **fields)
        self.store.append_task_event(event)
        self.task_waiters.notify(task.id)
        return event

    def save_task(self, task: TaskRecord, now: float) -> None:
        """Write the task back, stamped ``now``."""
        task.updated_at = now
        self.store.update_task(task)

    def save_run(self, run: RunRecord, now: float) -> None:
        """Write the run back, stamped ``now``, and wake those waiting on it."""
        run.updated_at = now
        self.store.update_run(run)
        self.run_waiters.notify(run.run_id)

    def finish_task(self, task: TaskRecord, state: str, now: float, *, result: Any = None, error: Optional[str] = None) -> None:
        """Put the task in a final state with its result or error, and release its lease."""
        task.state = state
        task.leased_until = None
        task.result = result if result is not None else task.result
        task.error = error
        self.save_task(task, now)
        self.task_waiters.notify(task.id)

    def open_run(self, run_id: Optional[str]) -> Optional[RunRecord]:
        """The run with this id if it is still running, else None."""
        run = self.store.get_run(run_id) if run_id else None
        return run if run is not None and run.state == "running" else None

    def wake(self, run: RunRecord, now: float) -> None:
        """Something happened the run must see: have its workflow task run again."""
        task = self.store.get_task(run.task_id)
        if task is None:
            return
        if task.state == "blocked":
            task.state, task.agent_id = "queued", None
            self.save_task(task, now)
            self.task_available(task)
        elif task.state == "leased" and not task.wake_pending:
            task.wake_pending = True
            self.save_task(task, now)
