"""Time-driven work: timers, lapsed leases, run timeouts and (through hooks) schedules.

Each due item is handled in its own transaction. One that fails is logged with its
traceback and retried with backoff; after MAX_ITEM_FAILURES it is quarantined (its task or
run failed, its schedule paused, with the reason recorded), so it never holds up the rest.
The ticker thread survives anything an iteration raises, waits in bounded steps, and
records when it last completed a tick so ``/readyz`` can tell when time has stalled.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

from .activities import Activities
from .core import EngineState
from .runs import Runs
from ..store import Page, TaskRecord

log = logging.getLogger("postgrip_agent.server.ticker")

MAX_ITEM_FAILURES = 5
FIRST_RETRY_SECONDS = 0.1
MAX_RETRY_SECONDS = 30.0
#: the longest wait between tries of an item while the store is unavailable
MAX_TRANSIENT_RETRY_SECONDS = 5.0
#: the ticker wakes at least this often, so a stalled ticker shows in /readyz
MAX_TICKER_WAIT = 5.0
#: /readyz turns not-ready when the last completed tick is older than this
TICK_LAG_LIMIT = 30.0
#: how long the first answer to an idempotent write is kept for its retries
IDEMPOTENCY_TTL = 86_400.0
PURGE_EVERY = 60.0


class Timekeeping:
    """The engine's time half: everything the ticker thread does."""

    def __init__(self, state: EngineState, runs: Runs, activities: Activities) -> None:
        self.state, self.runs, self.activities = state, runs, activities
        self.store, self.clock = state.store, state.clock
        # (failures so far, monotonic time of the next try, transient failures in a row) per failing item
        self.item_failures: Dict[str, Tuple[int, float, int]] = {}
        self.last_tick_monotonic = time.monotonic()
        self._tick_started: Optional[float] = None
        self.last_tick_at: Optional[float] = None
        self.quarantined = 0
        self._last_purge = 0.0
        #: one tick at a time in this process: a tick asked for (LocalServer.advance, time skipping)
        #: while the ticker's own is under way waits for it, so it returns with everything due done
        self._ticking = threading.Lock()

    # ------------------------------------------------------------------ one item

    def run_item(self, key: str, work: Callable[[], object], quarantine: Callable[[str], None]) -> None:
        """Do ``work`` in its own transaction; on failure back off, and quarantine after repeated failures.

        A transient store error (the database unavailable for a while) is retried with backoff
        but never counted: quarantine is for an item that fails the same way every time."""
        failure = self.item_failures.get(key)
        if failure is not None and failure[1] > time.monotonic():
            return
        try:
            with self.state.operation():
                work()
        except Exception as err:
            count, streak = (failure[0], failure[2]) if failure else (0, 0)
            if self.store.transient(err):
                delay = min(MAX_TRANSIENT_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2**streak)
                log.warning(
                    "%s: the store is unavailable (%s: %s); retrying in %.1fs",
                    key,
                    type(err).__name__,
                    " ".join(str(err).split())[:300],
                    delay,
                )
                self.item_failures[key] = (count, time.monotonic() + delay, streak + 1)
                return
            count += 1
            reason = f"{type(err).__name__}: {err}"
            if count < MAX_ITEM_FAILURES:
                delay = min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** (count - 1))
                log.warning("%s failed (%d of %d); retrying in %.1fs", key, count, MAX_ITEM_FAILURES, delay, exc_info=True)
                self.item_failures[key] = (count, time.monotonic() + delay, 0)
                return
            log.error("%s failed %d times; quarantining it: %s", key, count, reason, exc_info=True)
            try:
                with self.state.operation():
                    quarantine(f"quarantined after {count} failures: {reason}")
                self.quarantined += 1
                self.item_failures.pop(key, None)
            except Exception:
                log.exception("quarantining %s failed; it stays out of the way for %.0fs", key, MAX_RETRY_SECONDS)
                self.item_failures[key] = (count, time.monotonic() + MAX_RETRY_SECONDS, 0)
        else:
            if failure is not None:
                self.item_failures.pop(key, None)

    def _quarantine_task(self, task_id: str, reason: str) -> None:
        task = self.store.get_task(task_id)
        if task is None:
            return
        now = self.clock.now()
        task.fire_at = task.leased_until = None
        self.state.finish_task(task, "failed", now, error=reason)
        run = self.state.open_run(task.run_id)
        if run is not None:  # the run would wait for ever on this task: fail it, visibly
            run.state, run.error, run.deadline = "failed", f"task {task.id} ({task.type}) {reason}", None
            self.state.save_run(run, now)
            self.state.record(
                run,
                "WorkflowExecutionFailed",
                run.task_id,
                now,
                error=run.error,
                failure={"message": run.error, "type": "Quarantined", "non_retryable": True},
            )

    def _quarantine_run(self, run_id: str, reason: str) -> None:
        run = self.store.get_run(run_id)
        if run is not None and run.state == "running":
            run.state, run.error, run.deadline = "failed", f"run timeout {reason}", None
            self.state.save_run(run, self.clock.now())

    # ------------------------------------------------------------------ the kinds of due work

    def _fire_timer_if_due(self, task_id: str, now: float) -> None:
        timer = self.store.get_task(task_id)
        if timer is None or timer.state != "queued" or timer.fire_at is None or timer.fire_at > now:
            return
        self.state.finish_task(timer, "succeeded", now)
        run = self.state.open_run(timer.run_id)
        if run is not None:
            payload = timer.payload or {}
            self.state.record(run, "TimerFired", timer.id, now, timer_id=payload.get("timerId") or timer.id)
            self.state.wake(run, now)

    def _expire_lease_if_due(self, task_id: str, now: float) -> None:
        task = self.store.get_task(task_id)
        if task is None or task.state != "leased" or task.leased_until is None or task.leased_until > now:
            return
        namespace, queue = task.namespace, task.queue
        self.state.defer(lambda: self.state.metrics.lease_expired(namespace, queue))
        run = self.state.open_run(task.run_id) if task.type.startswith("activity:") else None
        if run is not None:  # an activity attempt: a failed attempt, retried under its policy
            log.info("lease of activity task %s by %s lapsed; the attempt counts as failed", task.id, task.agent_id)
            self.activities.lease_lapsed(task, run, now)
            return
        log.info("lease of task %s (%s) by %s lapsed; re-queued", task.id, task.type, task.agent_id)
        self._requeue_lapsed(task, now)

    def _requeue_lapsed(self, task: TaskRecord, now: float) -> None:
        task.state, task.agent_id, task.leased_until, task.lease_token = "queued", None, None, None
        task.attempt += 1
        task.cancel_requested = task.cancel_requested and task.type.startswith("activity:")
        self.state.save_task(task, now)
        self.state.task_available(task)

    def _time_out_run_if_due(self, run_id: str, now: float) -> None:
        run = self.store.get_run(run_id)
        if run is None or run.state != "running" or run.deadline is None or run.deadline > now:
            return
        self.state.defer(lambda: self.state.metrics.timed_out("WORKFLOW_RUN"))
        self.runs.close_run(
            run,
            "failed",
            now,
            task_state="failed",
            error="workflow run timed out",
            result={"failure": {"message": "workflow run timed out", "type": "TimeoutFailure", "non_retryable": True}},
            event=("WorkflowExecutionTimedOut", {"run_timeout_ms": run.run_timeout_ms}),
        )

    # ------------------------------------------------------------------ a tick

    def run_due(self) -> None:
        """Fire what is due now: timers, lapsed leases, run timeouts, schedules; each on its own."""
        with self._ticking:
            self._run_due()

    def _run_due(self) -> None:
        self._tick_started = time.monotonic()
        now = self.clock.now()
        with self.state.lock:
            self.state.deadlines_added = None  # from here on, what operations add is kept for the wait below
        with self.state.serial:
            timers = [t.id for t in self.store.due_timers(now)]
            leases = [t.id for t in self.store.expired_leases(now)]
            runs = [r.run_id for r in self.store.timed_out_runs(now)]
            activities = [t.id for t in self.store.due_activity_timeouts(now)]
        # an attempt both past its timeout and its lease is ended by the timeout (the more telling
        # reason), so activity timeouts go before lapsed leases
        due: List[Tuple[List[str], str, Callable[[str, float], None], Callable[[str, str], None]]] = [
            (timers, "timer", self._fire_timer_if_due, self._quarantine_task),
            (activities, "timeout of activity task", self.activities.time_out_if_due, self._quarantine_task),
            (leases, "lease expiry of task", self._expire_lease_if_due, self._quarantine_task),
            (runs, "timeout of run", self._time_out_run_if_due, self._quarantine_run),
        ]
        for ids, label, handle, quarantine in due:
            for item in ids:
                self.run_item(f"{label} {item}", functools.partial(handle, item, now), functools.partial(quarantine, item))
        for hook in self.state.on_tick:
            hook(now)
        if time.monotonic() - self._last_purge >= PURGE_EVERY:
            self._last_purge = time.monotonic()
            self.run_item("idempotency purge", lambda: self.store.purge_idempotent(now - IDEMPOTENCY_TTL), lambda why: None)
        with self.state.serial:
            # tasks whose backoff (not_before) ended since the last tick are available now: wake
            # a poller for each (here, or on another replica), not every poller
            since = self.last_tick_at if self.last_tick_at is not None else float("-inf")
            for task in self.store.released_tasks(since, now) if now > since else ():
                self.state.task_available(task)
            upcoming = self._next_wake(now)
        with self.state.lock:  # a deadline an operation committed meanwhile may be earlier than what was read
            added = self.state.deadlines_added
            self.state.ticker_next = added if upcoming is None or (added is not None and added < upcoming) else upcoming
        self.last_tick_at = now
        self.last_tick_monotonic = time.monotonic()
        self._tick_started = None

    def _next_wake(self, now: float) -> Optional[float]:
        upcoming = self.store.next_deadline(now)
        if upcoming is not None and upcoming <= now:
            # only items backing off are still due: wake for the earliest retry, not at once
            retries = [at for _, at, _ in self.item_failures.values()]
            wait = max(0.0, min(retries) - time.monotonic()) if retries else FIRST_RETRY_SECONDS
            upcoming = now + max(wait, 0.01)
        return upcoming

    def ticker(self, stopped: threading.Event) -> None:
        """The ticker thread's loop: it never exits until ``stopped`` is set."""
        backoff = FIRST_RETRY_SECONDS
        while not stopped.is_set():
            try:
                self.run_due()
                backoff = FIRST_RETRY_SECONDS
            except Exception as err:  # keep time moving; the error is logged, and the next tick backs off
                if self.store.transient(err):
                    log.warning(
                        "ticker: the store is unavailable (%s: %s); trying again in %.1fs",
                        type(err).__name__,
                        " ".join(str(err).split())[:300],
                        backoff,
                    )
                else:
                    log.exception("ticker failed to process due work; trying again in %.1fs", backoff)
                self.state.ticker_next = self.clock.now() + backoff
                backoff = min(backoff * 2, MAX_TRANSIENT_RETRY_SECONDS)
                self._tick_started = None
            try:
                self.state.ticker_wake.clear()
                if stopped.is_set():  # set before the stop's wake-up, which the clear above may have eaten
                    break
                deadline = self.state.ticker_next
                cap = self.clock.now() + MAX_TICKER_WAIT
                self.clock.wait_until(self.state.ticker_wake, cap if deadline is None else min(deadline, cap))
            except Exception:
                log.exception("ticker wait failed; continuing")
                stopped.wait(0.1)

    def tick_lag(self) -> float:
        """How far time-driven work is behind: how long the current tick has run, or how long past
        its longest sleep the ticker has gone without a tick (0 when it is healthy)."""
        now = time.monotonic()
        started = self._tick_started
        if started is not None:
            return now - started
        return max(0.0, now - self.last_tick_monotonic - MAX_TICKER_WAIT - 1.0)

    def wake_ticker(self) -> None:
        """Have the ticker run a tick now."""
        self.state.ticker_wake.set()

    # ------------------------------------------------------------------ time-skipping tests

    def time_skip_target(self) -> Optional[float]:
        """For time-skipping tests: the moment the next timer, retry, deadline or schedule fire falls
        due, when nothing can happen before it (no task held by an agent or waiting for one);
        None while work is runnable or nothing is due at all."""
        with self.state.serial:
            now = self.clock.now()
            if self.store.has_runnable_work(now):
                return None
            upcoming = self.store.next_deadline(now)
        return upcoming if upcoming is not None and upcoming > now else None

    def activity_running(self) -> bool:
        """Whether an agent holds an activity task now (time-skipping tests let time run then)."""
        with self.state.serial:
            leased = self.store.list_tasks({"state": "leased"}, Page(limit=1000))
        return any(task.type.startswith("activity:") for task in leased)

    def next_due(self) -> Optional[float]:
        """The moment the next timer, lease, timeout, retry or run deadline falls due (None: nothing)."""
        with self.state.serial:
            return self.store.next_deadline(self.clock.now())
