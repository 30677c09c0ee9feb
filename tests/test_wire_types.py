"""Every wire type survives a round trip through the converter, with contract names."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import attrs
import pytest

from postgrip_agent import types as wt

NOW = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)
RETRY = wt.RetryPolicy(
    initial_interval=timedelta(seconds=1.5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=4,
    expiration_interval=timedelta(minutes=5),
    non_retryable_error_types=["Bad"],
)
FAILURE = wt.FailureInfo(message="boom", type="Bad", non_retryable=True, details=[{"k": 1}])
RESULT = wt.TaskResult(
    exit_code=0,
    stdout="o",
    stderr="e",
    message="m",
    value={"v": [1, 2]},
    failure=FAILURE,
    continue_as_new=wt.ContinueAsNewResult("w", "W", "q", "t"),
    started_at=NOW,
    finished_at=NOW,
)
TASK = wt.Task(
    id="t",
    namespace="d",
    queue="q",
    type="activity:a",
    state="leased",
    attempt=2,
    lease_timeout_seconds=30,
    created_at=NOW,
    updated_at=NOW,
    tenant_id="ten",
    agent_id="a",
    not_before=NOW,
    leased_until=NOW,
    payload={"x": 1},
    result=RESULT,
    error="e",
)
EVENT_IN = wt.TaskEventInput(kind="stdout", stage="s", message="m", stream="stdout", data="d", details={"a": 1})
SPEC = wt.ScheduleSpec(
    interval_seconds=60,
    cron="0 2 * * *",
    timezone="Europe/Berlin",
    jitter_seconds=1,
    calendar=wt.ScheduleCalendarSpec(minute=[0], hour=[2], day_of_month=[1], month=[1], day_of_week=[0]),
    catch_up_window_seconds=60,
    missed_run_policy="skip",
    start_at=NOW,
)
ACTION = wt.ScheduleAction(
    workflow_type="W",
    namespace="d",
    queue="q",
    workflow_id="w",
    workflow_id_reuse_policy="allow_duplicate",
    run_timeout_ms=1000,
    retry=RETRY,
    memo={"m": 1},
    search_attributes={"s": 1},
    args=[1],
)
SCHEDULE = wt.Schedule(
    id="s",
    namespace="d",
    state="active",
    spec=SPEC,
    action=ACTION,
    next_run_at=NOW,
    created_at=NOW,
    updated_at=NOW,
    tenant_id="t",
    overlap_policy="skip",
    last_run_at=NOW,
)
RUN = wt.WorkflowExecution(
    id="w",
    run_id="r",
    namespace="d",
    type="W",
    queue="q",
    task_id="t",
    state="succeeded",
    created_at=NOW,
    updated_at=NOW,
    agent_id="a",
    tenant_id="t",
    attempt=1,
    run_timeout_ms=5,
    retry=RETRY,
    memo={"a": 1},
    search_attributes={"b": 2},
    result=RESULT,
    error="e",
)
HISTORY = wt.WorkflowHistoryEvent(
    id="1",
    workflow_id="w",
    type="WorkflowSignaled",
    created_at=NOW,
    tenant_id="t",
    task_id="x",
    attributes={"signal_name": "s", "args": []},
)

SAMPLES = [
    FAILURE,
    RESULT,
    RETRY,
    TASK,
    EVENT_IN,
    SPEC,
    ACTION,
    SCHEDULE,
    RUN,
    HISTORY,
    wt.ContinueAsNewResult("w", "W", "q", "t"),
    SPEC.calendar,
    wt.AgentPollDirective(type="upgrade", image="agent:2", expected_version=2),
    wt.TaskEvent(
        id="1",
        task_id="t",
        kind="milestone",
        created_at=NOW,
        tenant_id="t",
        agent_id="a",
        stage="s",
        message="m",
        stream="x",
        data="d",
        details={"i": 1},
    ),
    wt.EnqueueTaskRequest(type="x", tenant_id="t", namespace="d", queue="q", payload=[1], lease_timeout_seconds=3),
    wt.PollTaskResponse(
        task=TASK,
        directive=wt.AgentPollDirective(
            type="log_level", log_level="debug", expected_version=1, force=True, image="i", subject="agent"
        ),
    ),
    wt.HeartbeatTaskRequest(lease_timeout_seconds=3, event=EVENT_IN),
    wt.AppendTaskEventRequest(event=EVENT_IN),
    wt.CompleteTaskRequest(result=RESULT),
    wt.BlockTaskRequest(reason="r"),
    wt.FailTaskRequest(error="e", result=RESULT),
    wt.WorkflowCountResponse(count=3),
    wt.SignalWorkflowRequest(name="s", args=[1]),
    wt.SignalWithStartWorkflowRequest(
        workflow_type="W",
        signal=wt.SignalWorkflowRequest(name="s"),
        namespace="d",
        queue="q",
        workflow_id="w",
        workflow_id_reuse_policy="reject_duplicate",
        lease_timeout_seconds=1,
        run_timeout_ms=1,
        retry=RETRY,
        memo={},
        search_attributes={},
        args=[],
    ),
    wt.SignalWithStartWorkflowResponse(workflow=RUN, task=TASK, signal=HISTORY),
    wt.CancelWorkflowRequest(reason="r"),
    wt.TerminateWorkflowRequest(reason="r"),
    wt.WorkflowPayload(
        namespace="d",
        workflow_type="W",
        workflow_id="w",
        run_id="r",
        workflow_id_reuse_policy="allow_duplicate",
        parent_workflow_id="p",
        parent_workflow_run_id="pr",
        parent_workflow_task_id="pt",
        parent_cancellation_type="abandon",
        continued_from_workflow_id="c",
        run_timeout_ms=1,
        retry=RETRY,
        memo={},
        search_attributes={},
        args=[1],
    ),
    wt.ActivityInvocationPayload(
        activity_type="a",
        workflow_id="w",
        workflow_run_id="r",
        workflow_task_id="t",
        attempt=1,
        cancellation_type="try_cancel",
        cancellation_scope="non_cancellable",
        retry=RETRY,
        args=[],
    ),
    wt.TimerPayload(timer_id="t", duration_ms=5, fire_at=NOW, workflow_id="w", workflow_run_id="r", workflow_task_id="t"),
    wt.WorkflowQueryPayload(workflow_id="w", query_name="q", workflow_type="W", args=[], workflow_run_id="r"),
    wt.WorkflowUpdatePayload(workflow_id="w", update_name="u", workflow_type="W", args=[], workflow_run_id="r", update_id="i"),
    wt.Namespace(name="n", created_at=NOW, updated_at=NOW, tenant_id="t"),
    wt.CreateNamespaceRequest(name="n", tenant_id="t"),
    wt.CompactRequest(retention_seconds=1),
    wt.CompactResponse(removed_tasks=1, removed_workflows=2),
    wt.HealthResponse(status="ok"),
    wt.ReadyResponse(status="ready", stats={"a": 1}),
    wt.RefreshAgentSessionRequest(refresh_token="r"),
    wt.AgentSessionResponse(
        agent_id="a",
        tenant_id="t",
        token_family_id="f",
        access_token="x",
        refresh_token="y",
        access_expires_at=NOW,
        refresh_expires_at=NOW,
        status="active",
        trust_state="trusted",
        trust_reason="r",
    ),
    wt.ErrorResponse(error="e", code="c"),
    wt.CreateScheduleRequest(spec=SPEC, action=ACTION, id="s", tenant_id="t", namespace="d", overlap_policy="allow_all"),
    wt.UpdateScheduleRequest(overlap_policy="skip", spec=SPEC, action=ACTION),
    wt.PauseScheduleRequest(reason="r"),
    wt.UnpauseScheduleRequest(reason="r"),
    wt.TriggerScheduleRequest(reason="r"),
    wt.TriggerScheduleResponse(schedule=SCHEDULE, task=TASK),
    wt.BackfillScheduleRequest(start_at=NOW, end_at=NOW),
    wt.BackfillScheduleResponse(schedule=SCHEDULE, tasks=[TASK]),
]


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: type(s).__name__)
def test_round_trip(sample: object) -> None:
    data = wt.to_json(sample)
    assert wt.from_json(data, type(sample)) == sample
    assert wt.structure_strict(data, type(sample)) == sample


def test_every_wire_class_has_a_sample() -> None:
    classes = {v for v in vars(wt).values() if isinstance(v, type) and attrs.has(v)}
    assert classes - {type(s) for s in SAMPLES} == set()


def test_contract_spellings_and_omitted_optionals() -> None:
    data = wt.to_json(
        wt.Task(
            id="t",
            namespace="d",
            queue="q",
            type="x",
            state="queued",
            attempt=1,
            lease_timeout_seconds=30,
            created_at=NOW,
            updated_at=NOW,
            tenant_id="ten",
        )
    )
    assert data["tenantId"] == "ten" and "tenant_id" not in data
    assert "agent_id" not in data and "result" not in data  # unset optionals are omitted
    assert data["created_at"] == "2026-01-02T03:04:05.678Z"
    assert wt.to_json(RETRY) == {
        "maximumAttempts": 4,
        "initialIntervalMs": 1500,
        "backoffCoefficient": 2.0,
        "maximumIntervalMs": 30000,
        "expirationIntervalMs": 300000,
        "nonRetryableErrorTypes": ["Bad"],
    }


def test_unknown_fields_from_a_newer_server_are_tolerated_but_strict_parsing_rejects_them() -> None:
    data = {**wt.to_json(HISTORY), "brand_new": True}
    assert wt.from_json(data, wt.WorkflowHistoryEvent) == HISTORY
    with pytest.raises(Exception) as caught:
        wt.structure_strict(data, wt.WorkflowHistoryEvent)
    assert "brand_new" in wt.describe_structure_error(caught.value)


def test_timestamps_are_timezone_aware() -> None:
    parsed = wt.from_json(
        {"name": "n", "created_at": "2026-01-02T03:04:05.123456789+02:00", "updated_at": "2026-01-02T03:04:05"}, wt.Namespace
    )
    assert parsed.created_at.utcoffset() == timedelta(hours=2)
    assert parsed.updated_at.tzinfo is not None


def test_retry_policy_accepts_seconds_and_rejects_nonsense() -> None:
    assert wt.RetryPolicy(initial_interval=2).initial_interval == timedelta(seconds=2)
    with pytest.raises(ValueError):
        wt.RetryPolicy(backoff_coefficient=0.5)
    with pytest.raises(TypeError):
        wt.RetryPolicy(initial_interval="soon")  # type: ignore[arg-type]


def test_the_services_fast_timestamp_text_is_exactly_datetimes() -> None:
    """``wire.ts`` formats without building a datetime; it must give the same text, rounding included."""
    import random
    from datetime import datetime, timezone

    from postgrip_agent.server.engine.clock import ts
    from postgrip_agent.types import format_timestamp

    rng = random.Random(20261122)
    samples = [
        0.0,
        0.0005,
        0.9999995,
        1.7e9 + 0.9995,
        1.7e9 + 0.99999951,
        253402300798.9999,
        253402300798.9999996,
        253402300799.0,
    ]
    samples += [rng.uniform(0, 4e9) for _ in range(20000)]
    samples += [float(rng.randint(0, 2**32)) + rng.randint(0, 999_999) / 1e6 for _ in range(20000)]
    for value in samples:
        assert ts(value) == format_timestamp(datetime.fromtimestamp(value, tz=timezone.utc)), value


def test_timestamps_as_the_service_writes_them_parse_as_the_general_path_does() -> None:
    from postgrip_agent.types import parse_timestamp

    for text in ("2026-11-22T07:45:37.123Z", "1970-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z"):
        fast = parse_timestamp(text)
        general = parse_timestamp(f" {text} ")  # not the service's exact shape: the general path
        assert fast == general and fast.tzinfo is not None and fast.utcoffset().total_seconds() == 0
