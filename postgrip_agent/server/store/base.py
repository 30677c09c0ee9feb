"""The storage interface of the local runtime service, and the records it keeps.

The engine decides what happens; a store only keeps records and finds them. Every
engine operation runs inside one ``Store.transaction()``, so a crash never leaves a
half-applied change. SQLite is the store shipped here (``sqlite``); a PostgreSQL
store implements the same methods; both run the queries of ``sql``.
"""

from __future__ import annotations

import abc
import bisect
from contextlib import AbstractContextManager
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import attrs


def contains_pattern(text: str) -> str:
    """A LIKE pattern (with ``ESCAPE '\\'``) matching values that contain ``text`` literally:
    its ``%`` and ``_`` are characters to find, not wildcards."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@attrs.define
class TaskRecord:
    """A task: a workflow task, an activity, a timer or a stand-alone task, with its lease and outcome."""

    id: str
    namespace: str
    queue: str
    type: str
    state: str
    attempt: int
    lease_timeout_seconds: int
    created_at: float
    updated_at: float
    payload: Any = None
    tenant_id: Optional[str] = None
    agent_id: Optional[str] = None
    not_before: Optional[float] = None
    leased_until: Optional[float] = None
    result: Optional[Dict[str, Any]] = None
    error: Optional[str] = None
    #: the workflow run this task belongs to (drives, or was scheduled by)
    run_id: Optional[str] = None
    #: a wake-up arrived while the workflow task was leased: re-queue it when it blocks
    wake_pending: bool = False
    #: timers: when the service fires it
    fire_at: Optional[float] = None
    #: activities: when the first attempt was scheduled (for expirationIntervalMs)
    first_scheduled_at: Optional[float] = None
    #: activities with cancellationType wait_cancellation_completed: cancel asked, not yet acknowledged
    cancel_requested: bool = False
    #: the fencing token of the current lease: writes from an earlier lease do not match it
    lease_token: Optional[str] = None
    #: activities: when the current attempt was leased, when its code last heartbeated, with what
    attempt_started_at: Optional[float] = None
    last_heartbeat_at: Optional[float] = None
    heartbeat_details: Optional[Dict[str, Any]] = None
    #: activities: the earliest timeout the service enforces on this attempt, and its kind
    timeout_at: Optional[float] = None
    timeout_kind: Optional[str] = None
    #: workflow tasks: the last history seq the agent that ended the previous activation had applied
    #: (0 for a new run, None when unknown); the history-tail extensions send the events after it
    history_cursor: Optional[int] = None
    seq: int = 0


@attrs.define
class RunRecord:
    """A workflow run: its type, state, arguments, outcome and deadlines."""

    run_id: str
    id: str
    namespace: str
    type: str
    queue: str
    task_id: str
    state: str
    created_at: float
    updated_at: float
    attempt: int = 1
    tenant_id: Optional[str] = None
    agent_id: Optional[str] = None
    run_timeout_ms: Optional[int] = None
    deadline: Optional[float] = None
    retry: Optional[Dict[str, Any]] = None
    memo: Optional[Dict[str, Any]] = None
    search_attributes: Optional[Dict[str, Any]] = None
    result: Optional[Dict[str, Any]] = None
    error: Optional[str] = None
    parent_id: Optional[str] = None
    parent_run_id: Optional[str] = None
    parent_task_id: Optional[str] = None
    parent_cancellation_type: Optional[str] = None
    continued_from_run_id: Optional[str] = None
    next_run_id: Optional[str] = None
    cancel_requested: bool = False
    seq: int = 0


@attrs.define
class HistoryRecord:
    """One event of a run's history (``seq`` orders them within the run)."""

    run_id: str
    workflow_id: str
    type: str
    created_at: float
    task_id: Optional[str] = None
    attributes: Dict[str, Any] = attrs.Factory(dict)
    tenant_id: Optional[str] = None
    seq: int = 0


@attrs.define
class TaskEventRecord:
    """One event of a task's own log: progress, output, heartbeats (``seq`` orders them)."""

    task_id: str
    kind: str
    created_at: float
    agent_id: Optional[str] = None
    stage: Optional[str] = None
    message: Optional[str] = None
    stream: Optional[str] = None
    data: Optional[str] = None
    details: Optional[Dict[str, Any]] = None
    tenant_id: Optional[str] = None
    seq: int = 0


@attrs.define
class NamespaceRecord:
    """A namespace."""

    name: str
    created_at: float
    updated_at: float
    tenant_id: Optional[str] = None


@attrs.define
class SessionRecord:
    """An agent's access or refresh token, and the token family it belongs to."""

    token: str
    kind: str  # "access" or "refresh"
    agent_id: str
    family_id: str
    expires_at: float
    #: the namespace the session's family acts in: set by its first request that names one
    #: (None until then); its requests in any other namespace are refused
    namespace: Optional[str] = None


@attrs.define
class ScheduleRecord:
    """A schedule: its spec, the workflow it starts, and when it fires next."""

    id: str
    namespace: str
    state: str
    spec: Dict[str, Any]
    action: Dict[str, Any]
    next_run_at: float
    created_at: float
    updated_at: float
    overlap_policy: str = "skip"
    tenant_id: Optional[str] = None
    last_run_at: Optional[float] = None
    #: run id of the most recent run this schedule started (for overlap_policy skip)
    last_run_id: Optional[str] = None
    #: the nominal time of the next fire (next_run_at adds its jitter)
    next_nominal_at: Optional[float] = None
    #: why the schedule was paused (by a caller, or quarantined by the service)
    note: Optional[str] = None


@attrs.define
class IdempotentRecord:
    """The first answer to a write sent with an ``Idempotency-Key``, replayed to its retries."""

    key: str
    created_at: float
    status: int
    body: Any = None
    #: a digest of the request (its body and query) the answer was for: a reuse of the key for
    #: another request is refused (None for records written before it was kept)
    request_digest: Optional[str] = None


#: upper bounds (seconds) of the buckets commit durations are counted in (the engine's latency buckets)
COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


@attrs.define
class PollerRecord:
    """What an agent's polls of a queue told the service: who, for which task types, and when."""

    namespace: str
    queue: str
    agent_id: str
    #: the task-type prefixes it polls for (``[]``: every type)
    types: List[str]
    last_seen: float


@attrs.define
class Page:
    """Which slice of a listing to return."""

    limit: int = 100
    offset: int = 0
    order_by: str = "created_at"
    descending: bool = False
    #: keyset paging: the (order column, tiebreak) values of the last item of the page before; the
    #: page starts after it, so rows added or removed meanwhile never shift it (no duplicates, no gaps)
    after: Optional[Tuple[Any, Any]] = None


class Store(abc.ABC):
    """Durable records for one service. Not thread-safe: the engine serialises access."""

    @abc.abstractmethod
    def transaction(self) -> AbstractContextManager[None]:
        """All writes inside commit together or not at all."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close the store's connections; it is not used again."""

    #: write transactions this store committed (outermost ``transaction()`` blocks that changed a
    #: row: one that only read, such as a poll that lost its task to another, is not counted)
    commits: int = 0
    #: calls this store made into its database since it opened (PostgreSQL: round trips, which may
    #: carry several statements, as the notifications with COMMIT)
    round_trips: int = 0
    #: SQL statements this store sent (several may share a round trip)
    statements: int = 0
    #: how long commits took: their number, total seconds, and counts per bucket of COMMIT_BUCKETS
    commit_count: int = 0
    commit_seconds: float = 0.0
    commit_buckets: List[int] = []

    def commit_took(self, seconds: float) -> None:
        """Count one commit's duration (called by the store, its counting lock held where it has one)."""
        if len(self.commit_buckets) != len(COMMIT_BUCKETS):
            self.commit_buckets = [0] * len(COMMIT_BUCKETS)
        at = bisect.bisect_left(COMMIT_BUCKETS, seconds)
        if at < len(self.commit_buckets):
            self.commit_buckets[at] += 1
        self.commit_count += 1
        self.commit_seconds += seconds

    #: several write transactions of this store may run at once (PostgreSQL, shared by replicas):
    #: the engine then holds no lock of its own across a transaction, and the store serialises what
    #: must be serial (row locks on the runs and tasks a transaction reads by key, named locks)
    concurrent_writers: bool = False

    def durability(self) -> Dict[str, int]:
        """How durably this store commits, read back from its own connection, as ``/readyz``
        stats (integers): SQLite's ``store_sqlite_synchronous`` (2 FULL, 1 NORMAL) and
        ``store_sqlite_wal`` (1 in WAL mode: a file; 0 for ``:memory:``). Empty when
        the database decides for itself (PostgreSQL: ``synchronous_commit`` is the server's)."""
        return {}

    def lock_name(self, kind: str, key: str) -> None:
        """Inside a transaction: hold a lock on ``kind``/``key`` until it ends, so two transactions
        that create the same thing (a workflow id's run, an idempotency key's record) run one after
        the other. A store with a single writer needs none."""

    def commit_lazily(self) -> None:
        """Inside a transaction whose loss in a crash of the database is harmless (a lease: lost,
        its task is queued again and its agent's writes are refused as stale): commit it without
        waiting for the disk. A later durable commit makes it durable too (commits stay in order)."""

    def retryable(self, error: BaseException) -> bool:
        """True when ``error`` says a transaction lost a race with another (a deadlock, a
        serialization failure) and rolled back: the whole request may run again at once."""
        return False

    def publish(self, kind: str, key: str) -> None:
        """Tell other service replicas on the same database that ``kind``/``key`` changed (once
        the transaction commits). A store that only one process uses has no one to tell."""

    def subscribe(self, listener: Callable[[str, str], None]) -> None:
        """Have ``listener(kind, key)`` called for what other replicas publish."""

    def transient(self, error: BaseException) -> bool:
        """True when ``error`` says the database is unavailable for a while (connection lost,
        locked, a serialization failure, an I/O error), not that the request or the code is
        wrong: the same work may succeed when tried again. The service answers such errors 503
        with ``Retry-After``, and its ticker retries them without counting them as failures."""
        return False

    # namespaces
    @abc.abstractmethod
    def get_namespace(self, name: str) -> Optional[NamespaceRecord]:
        """The namespace of this name, or None."""

    @abc.abstractmethod
    def insert_namespace(self, record: NamespaceRecord) -> None:
        """Add a namespace (its name is new)."""

    @abc.abstractmethod
    def list_namespaces(self) -> List[NamespaceRecord]:
        """Every namespace, by name."""

    # tasks
    @abc.abstractmethod
    def insert_task(self, record: TaskRecord) -> None:
        """Add a task (its id is new)."""

    @abc.abstractmethod
    def update_task(self, record: TaskRecord) -> None:
        """Write back every field of an existing task."""

    @abc.abstractmethod
    def get_task(self, task_id: str) -> Optional[TaskRecord]:
        """The task with this id, or None."""

    @abc.abstractmethod
    def next_available_task(self, namespace: str, queue: str, type_prefixes: Sequence[str], now: float) -> Optional[TaskRecord]:
        """The oldest queued task of the queue that is due and matches a prefix (timers never)."""

    @abc.abstractmethod
    def list_tasks(self, filters: Dict[str, Any], page: Page) -> List[TaskRecord]:
        """Tasks matching ``filters`` (queue, type, state, ...), the ``page`` of them."""

    @abc.abstractmethod
    def open_tasks_of_run(self, run_id: str) -> List[TaskRecord]:
        """Queued, leased or blocked tasks scheduled by (or driving) the run."""

    @abc.abstractmethod
    def due_timers(self, now: float) -> List[TaskRecord]:
        """Timer tasks still queued whose time is at or before ``now``."""

    @abc.abstractmethod
    def expired_leases(self, now: float) -> List[TaskRecord]:
        """Leased tasks whose lease ran out at or before ``now``."""

    @abc.abstractmethod
    def due_activity_timeouts(self, now: float) -> List[TaskRecord]:
        """Queued or leased tasks whose ``timeout_at`` has passed."""

    @abc.abstractmethod
    def released_tasks(self, after: float, upto: float) -> List[TaskRecord]:
        """Queued tasks whose ``not_before`` fell in (after, upto]: they became available then."""

    @abc.abstractmethod
    def next_deadline(self, now: float) -> Optional[float]:
        """The earliest future moment at which a timer, lease, not_before or run deadline falls due."""

    @abc.abstractmethod
    def has_runnable_work(self, now: float) -> bool:
        """Whether some task is leased, or queued and available now (not a timer, not backing off)."""

    @abc.abstractmethod
    def count_tasks_by_state(self) -> Dict[str, int]:
        """How many tasks are in each state."""

    @abc.abstractmethod
    def backlog(self) -> Dict[Tuple[str, str], int]:
        """Queued tasks per (namespace, queue), over every queue (for /metrics)."""

    @abc.abstractmethod
    def queued_by_type(self, namespace: str, queue: str) -> Dict[str, int]:
        """How many tasks wait on the queue, per task type (its backlog)."""

    # agents polling queues
    @abc.abstractmethod
    def note_poller(self, record: PollerRecord) -> None:
        """Remember an agent polled (insert, or replace its types and time), and forget
        pollers not seen for a week."""

    @abc.abstractmethod
    def queue_pollers(self, namespace: str, queue: Optional[str] = None) -> List[PollerRecord]:
        """The agents that polled the namespace's queues (one queue's), by queue and agent id."""

    # runs
    @abc.abstractmethod
    def insert_run(self, record: RunRecord) -> None:
        """Add a run (its run id is new)."""

    @abc.abstractmethod
    def update_run(self, record: RunRecord) -> None:
        """Write back every field of an existing run."""

    @abc.abstractmethod
    def get_run(self, run_id: str) -> Optional[RunRecord]:
        """The run with this run id, or None."""

    @abc.abstractmethod
    def latest_run(self, workflow_id: str, namespace: Optional[str] = None) -> Optional[RunRecord]:
        """The newest run of this workflow id (in ``namespace`` when given), or None."""

    @abc.abstractmethod
    def find_run(self, run_or_workflow_id: str) -> Optional[RunRecord]:
        """The run with this run id, else the latest run of this workflow id (one query)."""

    @abc.abstractmethod
    def running_children(self, run_id: str) -> List[RunRecord]:
        """The running child runs this run started."""

    @abc.abstractmethod
    def timed_out_runs(self, now: float) -> List[RunRecord]:
        """Running runs whose run timeout fell at or before ``now``."""

    @abc.abstractmethod
    def list_runs(self, filters: Dict[str, Any], page: Page) -> List[RunRecord]:
        """Runs matching ``filters`` (type, state, queue, search attributes, ...), the ``page`` of them."""

    @abc.abstractmethod
    def count_runs(self, filters: Dict[str, Any]) -> int:
        """How many runs match ``filters``."""

    @abc.abstractmethod
    def count_runs_by_state(self) -> Dict[str, int]:
        """How many runs are in each state."""

    # history and task events
    @abc.abstractmethod
    def append_history(self, record: HistoryRecord) -> None:
        """Store the event and set ``record.seq``."""

    @abc.abstractmethod
    def history(self, run_id: str, after_seq: int = 0, limit: Optional[int] = None) -> List[HistoryRecord]:
        """The run's events after ``after_seq``, oldest first (at most ``limit`` of them)."""

    @abc.abstractmethod
    def append_task_event(self, record: TaskEventRecord) -> None:
        """Store the event and set ``record.seq``."""

    @abc.abstractmethod
    def task_events(self, task_id: str, after_seq: int = 0) -> List[TaskEventRecord]:
        """The task's own events after ``after_seq``, oldest first."""

    # sessions
    @abc.abstractmethod
    def put_session(self, record: SessionRecord) -> None:
        """Store a session token (insert or replace)."""

    @abc.abstractmethod
    def get_session(self, token: str) -> Optional[SessionRecord]:
        """The session of this token, or None."""

    @abc.abstractmethod
    def delete_session(self, token: str) -> None:
        """Remove one session token."""

    @abc.abstractmethod
    def delete_session_family(self, family_id: str) -> int:
        """Revoke every token of a family; return how many were removed."""

    @abc.abstractmethod
    def bind_session_family(self, family_id: str, namespace: str) -> None:
        """Bind every token of a family that is not bound yet to ``namespace``."""

    # idempotency keys
    @abc.abstractmethod
    def get_idempotent(self, key: str) -> Optional[IdempotentRecord]:
        """The answer recorded under this idempotency key, or None."""

    @abc.abstractmethod
    def put_idempotent(self, record: IdempotentRecord) -> None:
        """Record the answer to an idempotent write (insert or replace)."""

    def add_idempotent(self, record: IdempotentRecord) -> bool:
        """Record an answer unless its key has one already; False then (the record stays as it
        was). With concurrent writers, a transaction adding a key another open transaction added
        waits for that one to end."""
        if self.get_idempotent(record.key) is not None:
            return False
        self.put_idempotent(record)
        return True

    @abc.abstractmethod
    def purge_idempotent(self, before: float) -> int:
        """Forget answers recorded before ``before``; return how many."""

    # schedules
    @abc.abstractmethod
    def put_schedule(self, record: ScheduleRecord) -> None:
        """Store a schedule (insert or replace)."""

    @abc.abstractmethod
    def get_schedule(self, schedule_id: str) -> Optional[ScheduleRecord]:
        """The schedule with this id, or None."""

    @abc.abstractmethod
    def list_schedules(self, filters: Dict[str, Any], page: Page) -> List[ScheduleRecord]:
        """Schedules matching ``filters`` (namespace, state), the ``page`` of them."""

    @abc.abstractmethod
    def due_schedules(self, now: float) -> List[ScheduleRecord]:
        """Active schedules whose next fire time is at or before ``now``."""

    # maintenance
    @abc.abstractmethod
    def compact(self, cutoff: float) -> Tuple[int, int]:
        """Remove finished runs (with their tasks, history, events) and finished stand-alone
        tasks last updated before ``cutoff``; return (removed tasks, removed runs)."""
