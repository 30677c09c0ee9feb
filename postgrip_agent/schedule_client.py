"""``client.schedule``: recurring workflows kept by the service."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Iterator, Mapping, Optional, Sequence, Union

from . import _compat as compat
from . import types as wt
from ._compat import either
from ._encoding import duration_ms, encode_args, memo_json, plain_value, name_of, retry_json
from ._subclient import _check_id, _check_policy, _pages, _reason_body, _SubClient
from .connection import quote_segment as _q
from .workflow_client import WorkflowClient


class ScheduleClient(_SubClient):
    """Recurring workflows kept by the service."""

    def _schedule(self, data: Any) -> wt.Schedule:
        return wt.from_json(data, wt.Schedule)

    def create(self, request: Union[wt.CreateScheduleRequest, Mapping[str, Any]]) -> wt.Schedule:
        """Create a schedule from a ``CreateScheduleRequest`` (or its wire dict); see [`create_workflow_schedule()`][postgrip_agent.schedule_client.ScheduleClient.create_workflow_schedule] for keywords."""
        body = wt.to_json(request) if isinstance(request, wt.CreateScheduleRequest) else dict(request)
        return self._schedule(self._conn.request("POST", "/api/v1/schedules", body=body, idempotent=bool(body.get("id"))))

    def create_workflow_schedule(
        self,
        *,
        workflow: Any,
        schedule_id: Optional[str] = None,
        task_queue: Optional[str] = None,
        namespace: Optional[str] = None,
        args: Sequence[Any] = (),
        interval: Union[timedelta, float, None] = None,
        cron: Optional[str] = None,
        calendar: Union[wt.ScheduleCalendarSpec, Mapping[str, Any], None] = None,
        timezone: Optional[str] = None,
        jitter: Union[timedelta, float, None] = None,
        catch_up_window: Union[timedelta, float, None] = None,
        missed_run_policy: Optional[str] = None,
        overlap_policy: Optional[str] = None,
        start_at: Optional[datetime] = None,
        workflow_id: Optional[str] = None,
        id_reuse_policy: Optional[str] = None,
        run_timeout: Any = None,
        retry_policy: Any = None,
        memo: Optional[Mapping[str, Any]] = None,
        search_attributes: Optional[Mapping[str, Any]] = None,
        ui: Optional[Mapping[str, Any]] = None,
        interval_seconds: Optional[float] = None,
        jitter_seconds: Optional[float] = None,
        catch_up_window_seconds: Optional[float] = None,
        retry: Any = None,
        workflow_id_reuse_policy: Optional[str] = None,
        workflow_run_timeout_ms: Optional[int] = None,
    ) -> wt.Schedule:
        """Create a schedule that starts ``workflow``; every argument is a keyword.

        Args:
            workflow: The workflow to start: a ``@workflow.defn`` class, its run method or its name.
            schedule_id: The schedule's id (default: one the service picks).
            task_queue: The queue the started runs go to (default: the client's ``default_task_queue``).
            namespace: The namespace (default: the client's).
            args: The workflow's arguments, the same for every run.
            interval: Start a run every this long (a timedelta or seconds, at least one second).
            cron: A cron expression, e.g. ``"0 6 * * *"`` (in ``timezone``).
            calendar: Calendar times (a ``ScheduleCalendarSpec`` or its dict). One of ``interval``, ``cron`` or
                ``calendar`` is required.
            timezone: The IANA time zone of ``cron``/``calendar`` (default UTC).
            jitter: Start each run up to this much later, at random (spreads load).
            catch_up_window: How late a missed start may still run (after the service was down).
            missed_run_policy: What to do with starts missed while the service was down: ``"catch_up"`` (run
                those within the window) or ``"skip"``.
            overlap_policy: When a start comes while the previous run is still running: ``"skip"`` (default) or
                ``"allow_all"``.
            start_at: The first time the schedule may fire.
            workflow_id: The id of every started run (default: the schedule id and the start's time, one id per
                start).
            id_reuse_policy: What an id that already ran may do: ``"allow_duplicate"`` (default),
                ``"allow_duplicate_failed_only"`` or ``"reject_duplicate"``.
            run_timeout: Fail the run after this long (a timedelta or seconds).
            retry_policy: Retry the whole run on failure (a ``RetryPolicy`` or its dict).
            memo: Values kept with the run, read back by ``workflow.memo()`` and ``describe()``.
            search_attributes: Values to list and count runs by (``list_workflows(query=...)``).
            ui: A title and summary for the web UI (``{"title": ..., "summary": ...}``).
            interval_seconds: The async SDK's spelling of ``interval``.
            jitter_seconds: The async SDK's spelling of ``jitter``.
            catch_up_window_seconds: The async SDK's spelling of ``catch_up_window``.
            retry: The async SDK's spelling of ``retry_policy``.
            workflow_id_reuse_policy: The async SDK's spelling of ``id_reuse_policy``.
            workflow_run_timeout_ms: ``run_timeout`` in milliseconds.

        Returns:
            The schedule as the service stored it.

        Raises:
            ValueError: No ``interval``, ``cron`` or ``calendar``, or an interval under a second.
            TypeError: Both spellings of one option were given.
        """
        interval = either("interval", interval, "interval_seconds", compat.seconds(interval_seconds, "interval_seconds"))
        jitter = either("jitter", jitter, "jitter_seconds", compat.seconds(jitter_seconds, "jitter_seconds"))
        catch_up_window = either(
            "catch_up_window",
            catch_up_window,
            "catch_up_window_seconds",
            compat.seconds(catch_up_window_seconds, "catch_up_window_seconds"),
        )
        retry_policy = either("retry_policy", retry_policy, "retry", retry)
        id_reuse_policy = either("id_reuse_policy", id_reuse_policy, "workflow_id_reuse_policy", workflow_id_reuse_policy)
        run_timeout = either(
            "run_timeout", run_timeout, "workflow_run_timeout_ms", compat.ms(workflow_run_timeout_ms, "workflow_run_timeout_ms")
        )
        _check_policy(id_reuse_policy)
        if interval is None and cron is None and calendar is None:
            raise ValueError("a schedule needs interval=, cron= or calendar=")

        def seconds(value: Any, what: str) -> Optional[int]:
            return None if value is None else (duration_ms(value, what) or 0) // 1000

        if interval is not None and not seconds(interval, "interval"):
            raise ValueError("interval must be at least one second")
        if isinstance(calendar, Mapping):
            calendar = wt.from_json(dict(calendar), wt.ScheduleCalendarSpec)
        spec = wt.ScheduleSpec(
            interval_seconds=seconds(interval, "interval"),
            cron=cron,
            calendar=calendar,
            timezone=timezone,
            jitter_seconds=seconds(jitter, "jitter"),
            catch_up_window_seconds=seconds(catch_up_window, "catch_up_window"),
            missed_run_policy=missed_run_policy,  # type: ignore[arg-type]
            start_at=start_at,
        )
        workflow_type = name_of(workflow, "workflow")
        action = wt.ScheduleAction(
            workflow_type=workflow_type,
            namespace=namespace or self._namespace,
            queue=task_queue or self._default_task_queue,
            workflow_id=workflow_id,
            workflow_id_reuse_policy=id_reuse_policy,  # type: ignore[arg-type]
            run_timeout_ms=duration_ms(run_timeout, "run_timeout"),
            retry=wt.from_json(retry_json(retry_policy), wt.RetryPolicy) if retry_policy is not None else None,
            memo=memo_json(memo, ui, self._conn.data_converter),
            search_attributes=plain_value(dict(search_attributes), "search_attributes") if search_attributes else None,
            args=encode_args(args, f"schedule {workflow_type} argument", self._conn.data_converter),
        )
        return self.create(
            wt.CreateScheduleRequest(
                id=schedule_id,
                namespace=namespace or self._namespace,
                spec=spec,
                action=action,
                overlap_policy=overlap_policy,  # type: ignore[arg-type]
            )
        )

    def list(
        self,
        *,
        namespace: Optional[str] = None,
        state: Optional[str] = None,
        page_size: int = 100,
        limit: Optional[int] = None,
        page_token: Optional[str] = None,
        offset: Optional[int] = None,
    ) -> Iterator[wt.Schedule]:
        """Schedules (optionally of one ``state``: active or paused), page by page; ``limit``,
        ``page_token`` and ``offset`` as the async SDK takes them (at most that many, from there on)."""
        for raw in _pages(
            self._conn,
            "/api/v1/schedules",
            {"namespace": namespace, "state": state},
            page_size,
            limit=limit,
            page_token=page_token,
            offset=offset,
        ):
            yield self._schedule(raw)

    def get(self, schedule_id: str) -> wt.Schedule:
        """One schedule."""
        _check_id(schedule_id, "schedule id")
        return self._schedule(self._conn.request("GET", f"/api/v1/schedules/{_q(schedule_id)}"))

    def update(self, schedule_id: str, request: Union[wt.UpdateScheduleRequest, Mapping[str, Any]]) -> wt.Schedule:
        """Change a schedule's spec, action or overlap policy (an ``UpdateScheduleRequest`` or its wire dict)."""
        body = wt.to_json(request) if isinstance(request, wt.UpdateScheduleRequest) else dict(request)
        return self._schedule(self._conn.request("PATCH", f"/api/v1/schedules/{_q(schedule_id)}", body=body, idempotent=True))

    def delete(self, schedule_id: str) -> wt.Schedule:
        """Delete a schedule; runs it started are not touched."""
        return self._schedule(self._conn.request("DELETE", f"/api/v1/schedules/{_q(schedule_id)}", idempotent=True))

    def pause(
        self, schedule_id: str, reason: Union[str, Mapping[str, Any], None] = None, *, request: Optional[Mapping[str, Any]] = None
    ) -> wt.Schedule:
        """Pause a schedule. ``reason`` may also come as the async SDK's request dict, ``{"reason": ...}``."""
        body = _reason_body(reason, request, wt.PauseScheduleRequest, "pause")
        return self._schedule(
            self._conn.request("POST", f"/api/v1/schedules/{_q(schedule_id)}/pause", body=body, idempotent=True)
        )

    def unpause(
        self, schedule_id: str, reason: Union[str, Mapping[str, Any], None] = None, *, request: Optional[Mapping[str, Any]] = None
    ) -> wt.Schedule:
        """Resume a paused schedule (``reason`` as for ``pause``)."""
        body = _reason_body(reason, request, wt.UnpauseScheduleRequest, "unpause")
        return self._schedule(
            self._conn.request("POST", f"/api/v1/schedules/{_q(schedule_id)}/unpause", body=body, idempotent=True)
        )

    def trigger(
        self, schedule_id: str, reason: Union[str, Mapping[str, Any], None] = None, *, request: Optional[Mapping[str, Any]] = None
    ) -> wt.TriggerScheduleResponse:
        """Start the schedule's workflow now (``reason`` as for ``pause``)."""
        body = _reason_body(reason, request, wt.TriggerScheduleRequest, "trigger")
        data = self._conn.request("POST", f"/api/v1/schedules/{_q(schedule_id)}/trigger", body=body, idempotent=False)
        return wt.from_json(data, wt.TriggerScheduleResponse)

    def backfill(
        self,
        schedule_id: str,
        start_at: Union[datetime, Mapping[str, Any], None] = None,
        end_at: Optional[datetime] = None,
        *,
        request: Optional[Mapping[str, Any]] = None,
    ) -> wt.BackfillScheduleResponse:
        """Run the fires a schedule would have made between ``start_at`` and ``end_at``; the async SDK's
        request dict (``{"start_at": ..., "end_at": ...}``, positionally or as ``request=``) works too."""
        source = request if request is not None else start_at
        if isinstance(source, Mapping):
            if end_at is not None or (start_at is not None and request is not None):
                raise TypeError("pass start_at and end_at, or a request dict, not both")
            parsed = wt.from_json(dict(source), wt.BackfillScheduleRequest)
            start_at, end_at = parsed.start_at, parsed.end_at
        if not isinstance(start_at, datetime) or not isinstance(end_at, datetime):
            raise TypeError("backfill needs start_at and end_at (datetimes)")
        if end_at < start_at:
            raise ValueError("backfill end_at must not be before start_at")
        body = wt.to_json(wt.BackfillScheduleRequest(start_at=start_at, end_at=end_at))
        data = self._conn.request("POST", f"/api/v1/schedules/{_q(schedule_id)}/backfill", body=body, idempotent=True)
        return wt.from_json(data, wt.BackfillScheduleResponse)

    def runs(self, schedule_id: str, *, namespace: Optional[str] = None) -> Iterator[wt.WorkflowExecution]:
        """Workflow runs this schedule started (found by their ``schedule_id`` search attribute)."""
        workflows = WorkflowClient(self._client) if self._client is not None else WorkflowClient(connection=self._conn)
        return workflows.list(namespace=namespace, search_attributes={"schedule_id": schedule_id})
