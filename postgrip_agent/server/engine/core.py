"""The engine's shared state and plumbing: the lock, waiters, history and task-event writes.

One lock serialises every operation, and each operation is one store transaction.
Long-polls wait on condition variables that share that lock, so a poller wakes the
moment a task is queued for its queue. Each concern of the engine (runs, activities, time,
sessions, tasks) is an object of its own that holds this state; none inherits from another.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from ... import types as wt
from .clock import Clock
from ..errors import BadRequest, Conflict, NotFound, StaleLease
from ..store import HistoryRecord, NamespaceRecord, RunRecord, Store, TaskEventRecord, TaskRecord

DEFAULT_LEASE_SECONDS = 30
MAX_WAIT_SECONDS = 60
#: (task id, lease token): the lease a write says it belongs to
Fence = Optional[Tuple[str, str]]


class _Poller:
    """One waiting long-poll: its condition and the task-type prefixes it takes."""

    __slots__ = ("cv", "prefixes")

    def __init__(self, cv: threading.Condition, prefixes: Tuple[str, ...]) -> None:
        self.cv = cv
        self.prefixes = prefixes


class _Waiters:
    """Condition variables keyed by run or task id, so a change wakes only its own waiters."""

    def __init__(self, lock: threading.RLock, publish: Optional[Callable[[str], None]] = None) -> None:
        self.lock = lock
        self._conditions: Dict[str, Tuple[threading.Condition, List[int]]] = {}
        #: tells other service replicas (a store shared by several processes) of the change
        self._publish = publish

    def wait(self, key: str, timeout: float) -> None:
        entry = self._conditions.get(key)
        if entry is None:
            entry = self._conditions[key] = (threading.Condition(self.lock), [0])
        entry[1][0] += 1
        try:
            entry[0].wait(timeout)
        finally:
            entry[1][0] -= 1
            if entry[1][0] == 0:
                self._conditions.pop(key, None)

    def notify(self, key: str, *, remote: bool = False) -> None:
        entry = self._conditions.get(key)
        if entry is not None:
            entry[0].notify_all()
        if self._publish is not None and not remote:
            self._publish(key)

    def notify_everyone(self) -> None:
        for condition, _ in self._conditions.values():
            condition.notify_all()

    @property
    def waiting(self) -> int:
        """Callers waiting now, over all keys."""
        return sum(count[0] for _, count in self._conditions.values())


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
    id source, the one lock, the waiters and pollers, the ticker's wake-up, and the helpers that
    write history, task events and records and wake whoever waits for them."""

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
        #: long-polls waiting per (namespace, queue), oldest first: a new task wakes one that matches
        self.pollers: Dict[Tuple[str, str], List[_Poller]] = {}
        #: while not None, tasks that became available are collected here instead of waking a
        #: poller (an operation that may lease one of them itself wakes pollers for the rest)
        self.held_wakeups: Optional[List[TaskRecord]] = None
        publish = store.publish
        # keyed by run id: state or history changed; by task id: state changed or event written
        self.run_waiters = _Waiters(self.lock, lambda key: publish("run", key))
        self.task_waiters = _Waiters(self.lock, lambda key: publish("task", key))
        self.ticker_wake = threading.Event()
        self.ticker_next: Optional[float] = None
        self.stopping = False
        self.clock.subscribe(self.ticker_wake)
        self.on_tick: List[Callable[[float], None]] = []
        with self.lock, self.store.transaction():
            if self.store.get_namespace("default") is None:
                now = self.clock.now()
                self.store.insert_namespace(NamespaceRecord("default", now, now))
        self.store.subscribe(self._changed_elsewhere)

    def _changed_elsewhere(self, kind: str, key: str) -> None:
        """Another replica changed something waiters here may be waiting for."""
        with self.lock:
            if kind == "run":
                self.run_waiters.notify(key, remote=True)
            elif kind == "task":
                self.task_waiters.notify(key, remote=True)
            elif kind == "available":
                namespace, queue, task_type = key.split("\x1f", 2)
                self.wake_poller(namespace, queue, task_type)

    def wait_for_task(self, namespace: str, queue: str, prefixes: Sequence[str], timeout: float) -> None:
        """Wait (engine lock held) until a matching task may be available, or ``timeout``."""
        poller = _Poller(threading.Condition(self.lock), tuple(prefixes))
        waiting = self.pollers.setdefault((namespace, queue), [])
        waiting.append(poller)
        try:
            poller.cv.wait(timeout)
        finally:
            if poller in waiting:
                waiting.remove(poller)

    def task_available(self, task: TaskRecord) -> None:
        """Wake the longest-waiting poller whose task types match, and only that one (here, and
        on another replica when none here takes it)."""
        if self.held_wakeups is not None:
            self.held_wakeups.append(task)
            return
        if not self.wake_poller(task.namespace, task.queue, task.type):
            self.store.publish("available", f"{task.namespace}\x1f{task.queue}\x1f{task.type}")

    def wake_poller(self, namespace: str, queue: str, task_type: str) -> bool:
        for poller in self.pollers.get((namespace, queue), []):
            if not poller.prefixes or task_type.startswith(poller.prefixes):
                self.pollers[(namespace, queue)].remove(poller)
                poller.cv.notify()
                return True
        return False

    def wake_all_pollers(self) -> None:
        """Every waiting poller looks again (time made tasks available, or the service stops)."""
        for waiting in self.pollers.values():
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
            raise StaleLease(f"stale lease: task {holder_id} is {state} and no longer held by this lease; the write was not applied")

    @contextlib.contextmanager
    def operation(self) -> Iterator[None]:
        """The engine lock and one store transaction: what every operation runs under."""
        with self.lock, self.store.transaction():
            yield

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """The engine lock alone (a read that needs no transaction of its own)."""
        with self.lock:
            yield

    def deadline_added(self, when: Optional[float]) -> None:
        if when is not None and (self.ticker_next is None or when < self.ticker_next):
            self.ticker_next = when
            self.ticker_wake.set()

    def ensure_namespace(self, name: str, now: float) -> None:
        if self.store.get_namespace(name) is None:
            self.store.insert_namespace(NamespaceRecord(name, now, now))

    def task(self, task_id: str) -> TaskRecord:
        task = self.store.get_task(task_id)
        if task is None:
            raise NotFound(f"task {task_id} not found")
        return task

    def find_run(self, workflow_id: str) -> RunRecord:
        """A run by run id, else the latest run of a workflow id."""
        run = self.store.get_run(workflow_id) or self.store.latest_run(workflow_id)
        if run is None:
            raise NotFound(f"workflow {workflow_id} not found")
        return run

    def running_run(self, workflow_id: str, what: str) -> RunRecord:
        run = self.find_run(workflow_id)
        if run.state != "running":
            raise Conflict(
                f"cannot {what} workflow {run.id} (run {run.run_id}): it is not running (state {run.state})"
            )
        return run

    def record(self, run: RunRecord, type_: str, task_id: Optional[str], now: float, **attributes: Any) -> HistoryRecord:
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

    def task_event(self, task: TaskRecord, now: float, kind: str, agent_id: Optional[str] = None, **fields: Any) -> TaskEventRecord:
        event = TaskEventRecord(task_id=task.id, kind=kind, created_at=now, agent_id=agent_id, tenant_id=task.tenant_id, **fields)
        self.store.append_task_event(event)
        self.task_waiters.notify(task.id)
        return event

    def save_task(self, task: TaskRecord, now: float) -> None:
        task.updated_at = now
        self.store.update_task(task)

    def save_run(self, run: RunRecord, now: float) -> None:
        run.updated_at = now
        self.store.update_run(run)
        self.run_waiters.notify(run.run_id)

    def finish_task(self, task: TaskRecord, state: str, now: float, *, result: Any = None, error: Optional[str] = None) -> None:
        task.state = state
        task.leased_until = None
        task.result = result if result is not None else task.result
        task.error = error
        self.save_task(task, now)
        self.task_waiters.notify(task.id)

    def open_run(self, run_id: Optional[str]) -> Optional[RunRecord]:
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
