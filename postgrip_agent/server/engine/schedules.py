"""Schedules in the engine: their operations (on typed requests, answering records), and firing
them from the ticker. Their routes are the HTTP wing's (``http/schedules.py``)."""

from __future__ import annotations

import functools
import logging
from typing import Any, Callable, Dict, List, Optional, Tuple

from ... import types as wt
from . import limits
from . import schedule_spec as specs
from .tasks import Engine
from ..errors import AlreadyExists, BadRequest, Conflict, NotFound
from ..store import Page, ScheduleRecord, TaskRecord

log = logging.getLogger("postgrip_agent.server.schedules")

#: a fire this late still counts as on time (the ticker is never exactly punctual)
ON_TIME_GRACE = 1.0
SCHEDULE_STATES = ("active", "paused", "deleted")
MAX_BACKFILL_RUNS = 10_000
BACKFILL_BATCH = 500
_SAMPLE = 64


def _bounded_slots(spec: Dict[str, Any], start: float, end: float, anchor: float) -> List[float]:
    """The nominal times in [start, end], refusing (400, naming the limit) a range of more than
    MAX_BACKFILL_RUNS slots: intervals are counted arithmetically, cron and calendar specs are
    estimated from their first slots, so an oversized range is refused before it is enumerated."""
    limit_hint = f"split it into ranges of at most {MAX_BACKFILL_RUNS} runs"
    interval = spec.get("interval_seconds")
    if interval:
        first = specs.next_nominal(spec, start - 1e-6, anchor)
        count = 0 if first > end else int((end - first) // interval) + 1
        if count > MAX_BACKFILL_RUNS:
            raise BadRequest(f"backfill covers {count} runs, over the limit of {MAX_BACKFILL_RUNS}; {limit_hint}")
    slots: List[float] = []
    for nominal in specs.nominal_times(spec, start, end, anchor):
        slots.append(nominal)
        if len(slots) == _SAMPLE and not interval:
            gap = (slots[-1] - slots[0]) / (_SAMPLE - 1)
            estimate = int((end - slots[0]) / gap) + 1 if gap > 0 else MAX_BACKFILL_RUNS + 1
            if estimate > 2 * MAX_BACKFILL_RUNS:
                raise BadRequest(f"backfill covers about {estimate} runs, over the limit of {MAX_BACKFILL_RUNS}; {limit_hint}")
        if len(slots) > MAX_BACKFILL_RUNS:
            raise BadRequest(f"backfill covers more than {MAX_BACKFILL_RUNS} runs; {limit_hint}")
    return slots


class ScheduleService:
    """Schedules: create, update, pause, trigger, backfill; and the ticker's firing of due ones."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.store = engine.store
        engine.on_tick.append(self._tick)

    # ------------------------------------------------------------------ helpers

    def _locked(self, fn: Callable[[], Any]) -> Any:
        with self.engine.operation():
            return fn()

    def _schedule(self, schedule_id: str, *, allow_deleted: bool = False) -> ScheduleRecord:
        record = self.store.get_schedule(schedule_id)
        if record is None or (record.state == "deleted" and not allow_deleted):
            raise NotFound(f"schedule {schedule_id} not found")
        return record

    @staticmethod
    def _check_action(action: wt.ScheduleAction) -> None:
        if not action.workflow_type.strip():
            raise BadRequest("action.workflowType must not be empty")
        limits.check_duration_ms("action.runTimeoutMs", action.run_timeout_ms)
        limits.check_retry("action.retry", action.retry)

    def _plan_next(self, record: ScheduleRecord, after: float) -> None:
        nominal = specs.next_nominal(record.spec, after, record.created_at)
        record.next_nominal_at = nominal
        record.next_run_at = nominal + specs.jitter(record.id, nominal, record.spec)
        self.engine.deadline_added(record.next_run_at)

    def _save(self, record: ScheduleRecord, now: float) -> None:
        record.updated_at = now
        self.store.put_schedule(record)

    # ------------------------------------------------------------------ operations

    def create(self, body: wt.CreateScheduleRequest) -> ScheduleRecord:
        """A new schedule (or one replacing a deleted schedule of the same id); its first fire planned."""
        spec = wt.to_json(body.spec)
        specs.validate(spec)
        self._check_action(body.action)

        def apply() -> ScheduleRecord:
            schedule_id = body.id or self.engine.new_id()
            if not schedule_id.strip():
                raise BadRequest("id must not be empty")
            self.store.lock_name("schedule", schedule_id)  # two creating one id at once: the second sees the first
            existing = self.store.get_schedule(schedule_id)
            if existing is not None and existing.state != "deleted":
                raise AlreadyExists(f"schedule {schedule_id} already exists")
            now = self.engine.clock.now()
            record = ScheduleRecord(
                id=schedule_id,
                namespace=body.namespace or "default",
                state="active",
                spec=spec,
                action=wt.to_json(body.action),
                next_run_at=now,
                created_at=now,
                updated_at=now,
                overlap_policy=body.overlap_policy or "skip",
                tenant_id=body.tenant_id,
            )
            self._plan_next(record, now)
            self.store.put_schedule(record)
            return record

        return self._locked(apply)  # type: ignore[no-any-return]

    def list(self, namespace: Optional[str], state: Optional[str], page: Page) -> List[ScheduleRecord]:
        """Schedules of a namespace (all when None) in a state; deleted ones only when asked for."""
        if state is not None and state not in SCHEDULE_STATES:
            raise BadRequest(f"state must be one of {', '.join(SCHEDULE_STATES)}, got {state!r}")
        filters: Dict[str, Any] = (
            {"namespace": namespace, "state": state} if state is not None else {"namespace": namespace, "state__not": "deleted"}
        )
        return self._locked(lambda: self.store.list_schedules(filters, page))  # type: ignore[no-any-return]

    def get(self, schedule_id: str) -> ScheduleRecord:
        """One schedule (NotFound when there is none, or it was deleted)."""
        return self._locked(lambda: self._schedule(schedule_id))  # type: ignore[no-any-return]

    def update(self, schedule_id: str, body: wt.UpdateScheduleRequest) -> ScheduleRecord:
        """Change a schedule's spec, action or overlap policy; a new spec re-plans the next fire."""
        spec = wt.to_json(body.spec) if body.spec is not None else None
        if spec is not None:
            specs.validate(spec)
        if body.action is not None:
            self._check_action(body.action)

        def apply() -> ScheduleRecord:
            record = self._schedule(schedule_id)
            now = self.engine.clock.now()
            if spec is not None:
                record.spec = spec
            if body.action is not None:
                record.action = wt.to_json(body.action)
            if body.overlap_policy is not None:
                record.overlap_policy = body.overlap_policy
            if spec is not None:
                self._plan_next(record, now)
            self._save(record, now)
            return record

        return self._locked(apply)  # type: ignore[no-any-return]

    def set_state(self, schedule_id: str, state: str, note: Optional[str] = None) -> ScheduleRecord:
        """Pause or delete a schedule, with a note saying why."""

        def apply() -> ScheduleRecord:
            record = self._schedule(schedule_id)
            record.state = state
            record.note = note
            self._save(record, self.engine.clock.now())
            return record

        return self._locked(apply)  # type: ignore[no-any-return]

    def unpause(self, schedule_id: str) -> ScheduleRecord:
        """Resume a paused schedule: it catches up per its window, or skips the paused-over slots."""

        def apply() -> ScheduleRecord:
            record = self._schedule(schedule_id)
            if record.state == "paused":
                record.state = "active"
                now = self.engine.clock.now()
                if (record.spec.get("missed_run_policy") or "catch_up") != "catch_up":
                    self._plan_next(record, now)  # the paused-over slots are gone
                else:
                    self.engine.deadline_added(record.next_run_at)  # the ticker catches up per the window
                self._save(record, now)
            return record

        return self._locked(apply)  # type: ignore[no-any-return]

    def trigger(self, schedule_id: str) -> Tuple[ScheduleRecord, TaskRecord]:
        """Start the schedule's workflow now; Conflict when its fixed workflow id is still running."""

        def apply() -> Tuple[ScheduleRecord, TaskRecord]:
            record = self._schedule(schedule_id)
            now = self.engine.clock.now()
            task = self._start(record, now, now, manual=True)
            if task is None:
                raise Conflict(f"schedule {record.id}: its workflow {record.action.get('workflowId')} is already running")
            self._save(record, now)
            return record, task

        return self._locked(apply)  # type: ignore[no-any-return]

    def backfill(self, schedule_id: str, start: float, end: float) -> Tuple[ScheduleRecord, List[TaskRecord]]:
        """Start a run for every slot in a range. The size is checked before anything is enumerated
        under the engine lock, and runs are started in bounded batches, each its own transaction."""
        if end < start:
            raise BadRequest("end_at must not be before start_at")
        record: ScheduleRecord = self._locked(lambda: self._schedule(schedule_id))
        anchor = min(record.created_at, start)
        slots = _bounded_slots(record.spec, start, end, anchor)
        now = self.engine.clock.now()
        tasks: List[TaskRecord] = []
        for first in range(0, len(slots), BACKFILL_BATCH):
            batch = slots[first : first + BACKFILL_BATCH]

            def apply(batch: List[float] = batch) -> None:
                current = self._schedule(schedule_id)
                tasks.extend(t for t in (self._start(current, nominal, now, overlap=False) for nominal in batch) if t is not None)
                self._save(current, now)

            self._locked(apply)
        return self._locked(lambda: self._schedule(schedule_id)), tasks

    # ------------------------------------------------------------------ firing

    def _start(
        self, record: ScheduleRecord, nominal: float, now: float, *, manual: bool = False, overlap: bool = True
    ) -> Optional[TaskRecord]:
        """Start the action's workflow for one nominal time; None when skipped."""
        if overlap and not manual and record.overlap_policy == "skip" and record.last_run_id:
            last = self.store.get_run(record.last_run_id)
            if last is not None and last.state == "running":
                log.info(
                    "schedule %s: skipping %s, run %s is still running", record.id, specs.nominal_label(nominal), last.run_id
                )
                return None
        action = record.action
        label = specs.nominal_label(nominal)
        derived = not action.get("workflowId")
        workflow_id = action.get("workflowId") or (
            f"{record.id}-manual-{label}-{self.engine.new_id()[:8]}" if manual else f"{record.id}-{label}"
        )
        payload: Dict[str, Any] = {
            "workflowType": action["workflowType"],
            "workflowId": workflow_id,
            "args": action.get("args") or [],
            "memo": {**(action.get("memo") or {}), "schedule_id": record.id, "nominal_time": label},
            "searchAttributes": {**(action.get("searchAttributes") or {}), "schedule_id": record.id},
        }
        reuse = action.get("workflowIdReusePolicy") or ("reject_duplicate" if derived else None)
        for key, value in (
            ("workflowIdReusePolicy", reuse),
            ("runTimeoutMs", action.get("runTimeoutMs")),
            ("retry", action.get("retry")),
        ):
            if value is not None:
                payload[key] = value
        try:
            task = self.engine.enqueue(
                wt.EnqueueTaskRequest(
                    type=f"workflow:{action['workflowType']}",
                    namespace=action.get("namespace") or record.namespace,
                    queue=action.get("queue") or "default",
                    payload=payload,
                )
            )
        except (AlreadyExists, Conflict) as err:  # already fired (e.g. before a restart) or still running
            log.info("schedule %s: not starting %s: %s", record.id, workflow_id, err)
            return None
        record.last_run_at = now
        record.last_run_id = task.run_id
        return task

    def _tick(self, now: float) -> None:
        """Fire each due schedule in its own transaction (the engine quarantines one that keeps failing)."""
        with self.engine.locked():
            due = [record.id for record in self.store.due_schedules(now)]
        for schedule_id in due:
            self.engine.run_item(
                f"schedule {schedule_id}",
                functools.partial(self._fire_if_due, schedule_id, now),
                functools.partial(self._quarantine, schedule_id),
            )

    def _fire_if_due(self, schedule_id: str, listed_at: float) -> None:
        # Judged at this item's own moment, not the tick's: the schedule may have been paused,
        # unpaused or changed since the tick listed it, and a stale "now" would misjudge how late
        # a missed slot is (and start one that is already outside the catch-up window).
        now = max(listed_at, self.engine.clock.now())
        record = self.store.get_schedule(schedule_id)
        if record is not None and record.state == "active" and record.next_run_at <= now:
            self._fire_due(record, now)

    def _quarantine(self, schedule_id: str, reason: str) -> None:
        record = self.store.get_schedule(schedule_id)
        if record is not None and record.state == "active":
            record.state, record.note = "paused", reason  # run_item has logged why, at ERROR
            self._save(record, self.engine.clock.now())

    def _fire_due(self, record: ScheduleRecord, now: float) -> None:
        spec = record.spec
        window = specs.catch_up_window(spec)
        catch_up = (spec.get("missed_run_policy") or "catch_up") == "catch_up"
        horizon = max(window if catch_up else 0.0, ON_TIME_GRACE)
        nominal = record.next_nominal_at if record.next_nominal_at is not None else record.next_run_at
        oldest = now - horizon - 1 - (spec.get("jitter_seconds") or 0)
        if nominal < oldest:  # slots that fired (with any jitter) before the horizon never fire: jump past them
            nominal = specs.next_nominal(spec, oldest, record.created_at)
        while True:
            fire_at = nominal + specs.jitter(record.id, nominal, spec)
            if fire_at > now:
                break
            lateness = now - fire_at
            if lateness <= ON_TIME_GRACE or (catch_up and lateness <= window):
                self._start(record, nominal, now)
            else:
                log.info("schedule %s: missed %s (%.0f s late) skipped", record.id, specs.nominal_label(nominal), lateness)
            nominal = specs.next_nominal(spec, nominal, record.created_at)
        record.next_nominal_at = nominal
        record.next_run_at = nominal + specs.jitter(record.id, nominal, spec)
        self._save(record, now)
