"""Typing names code written for the async SDK imports: value sets, option and payload shapes.

These are annotations only: our calls take keyword arguments (and the async SDK's option
dicts where it takes them). The shapes follow the wire contract; keys the contract spells in
camelCase are spelled so here too.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Dict, List, Literal, TypedDict, Union

from .types import (  # noqa: F401  (re-exported: the async SDK imports these from here)
    CancellationScopeType,
    CancellationType,
    RetryPolicy,
    ScheduleMissedRunPolicy,
    ScheduleOverlapPolicy,
    ScheduleState,
    TaskEventKind,
    TaskState,
    WorkflowIdReusePolicy,
)

IsolationTier = Literal["container", "microvm"]
"""Isolation a ``workflow.runtime`` workload can require (a floor: stronger is acceptable)."""
WorkflowFunction = Callable[..., Union[Awaitable[Any], Any]]
"""A workflow body: a function, generator function or ``async def`` function."""
ActivityFunction = Callable[..., Union[Awaitable[Any], Any]]
"""An activity: a ``def`` or ``async def`` function decorated with ``@activity.defn``."""
WorkflowRegistry = Dict[str, WorkflowFunction]
"""Workflows by type name, as the async SDK's agent options take them."""
ActivityRegistry = Dict[str, ActivityFunction]
"""Activities by type name, as the async SDK's agent options take them."""


class WorkflowUIMetadata(TypedDict, total=False):
    """``ui=`` on starts and schedules: what the console shows for a run."""

    displayName: str
    description: str
    details: Dict[str, Union[str, int, float, bool]]
    tags: List[str]


class WorkflowStartOptions(TypedDict, total=False):
    """The async SDK's workflow start options dict."""

    namespace: str
    workflow_id: str
    workflow_id_reuse_policy: WorkflowIdReusePolicy
    task_queue: str
    args: List[Any]
    lease_timeout_seconds: int
    workflow_run_timeout_ms: int
    retry: RetryPolicy
    memo: Dict[str, Any]
    search_attributes: Dict[str, Any]
    ui: WorkflowUIMetadata


class ContinueAsNewOptions(TypedDict, total=False):
    """The async SDK's continue-as-new options dict."""

    workflow_id: str
    workflow_type: str
    task_queue: str
    args: List[Any]
    lease_timeout_seconds: int
    workflow_run_timeout_ms: int
    retry: RetryPolicy


class ChildWorkflowOptions(TypedDict, total=False):
    """The async SDK's child workflow options dict."""

    workflow_id: str
    task_queue: str
    args: List[Any]
    lease_timeout_seconds: int
    workflow_run_timeout_ms: int
    cancellation_type: CancellationType
    cancellation_scope: CancellationScopeType
    retry: RetryPolicy


class ActivityOptions(TypedDict, total=False):
    """The async SDK's activity options dict (``proxy_activities({...})``)."""

    start_to_close_timeout_ms: int
    schedule_to_close_timeout_ms: int
    cancellation_type: CancellationType
    cancellation_scope: CancellationScopeType
    retry: RetryPolicy


class WorkflowExecutionDescription(TypedDict, total=False):
    """The async SDK's ``describe()`` answer, as a dict."""

    workflowId: str
    runId: str
    taskId: str
    namespace: str
    taskQueue: str
    workflowType: str
    status: str
    attempt: int
    leaseTimeoutSeconds: int
    workflowRunTimeoutMs: int
    retry: RetryPolicy
    memo: Dict[str, Any]
    searchAttributes: Dict[str, Any]
    result: Any
    error: str
    startedAt: str
    updatedAt: str


class WorkflowSignalDefinition(TypedDict):
    """The async SDK's signal definition shape."""

    name: str
    type: Literal["signal"]
    args: List[Any]


class WorkflowQueryDefinition(TypedDict):
    """The async SDK's query definition shape."""

    name: str
    type: Literal["query"]
    args: List[Any]
    result: Any


class WorkflowUpdateDefinition(TypedDict):
    """The async SDK's update definition shape."""

    name: str
    type: Literal["update"]
    args: List[Any]
    result: Any


class ShellExecPayload(TypedDict, total=False):
    """The payload of a ``shell.exec`` task."""

    command: str
    args: List[str]
    env: Dict[str, str]
    working_dir: str
    timeout_seconds: int


class ContainerExecPayload(TypedDict, total=False):
    """The payload of a ``container.exec`` task."""

    image: str
    command: str
    args: List[str]
    env: Dict[str, str]
    working_dir: str
    pull_policy: str
    timeout_seconds: int


class _QueryPayloadBase(TypedDict):
    workflowId: str
    workflowType: str
    queryName: str
    args: List[Any]


class WorkflowQueryPayload(_QueryPayloadBase, total=False):
    """The payload of a ``query:<Type>`` task."""

    workflowRunId: str


class _UpdatePayloadBase(TypedDict):
    workflowId: str
    workflowType: str
    updateName: str
    args: List[Any]


class WorkflowUpdatePayload(_UpdatePayloadBase, total=False):
    """The payload of an ``update:<Type>`` task."""

    workflowRunId: str


class WorkflowPayload(TypedDict, total=False):
    """A ``workflow:*`` task's payload."""

    namespace: str
    workflowType: str
    workflowId: str
    runId: str
    workflowIdReusePolicy: WorkflowIdReusePolicy
    parentWorkflowId: str
    parentWorkflowRunId: str
    parentWorkflowTaskId: str
    parentCancellationType: CancellationType
    continuedFromWorkflowId: str
    runTimeoutMs: int
    retry: RetryPolicy
    memo: Dict[str, Any]
    searchAttributes: Dict[str, Any]
    args: List[Any]


class ActivityInvocationPayload(TypedDict, total=False):
    """An ``activity:*`` task's payload."""

    activityType: str
    workflowId: str
    workflowRunId: str
    workflowTaskId: str
    attempt: int
    cancellationType: CancellationType
    retry: RetryPolicy
    args: List[Any]


class WorkflowRuntimePayload(TypedDict, total=False):
    """A ``workflow.runtime`` task's payload: a workload run in an isolated runtime (an
    ``image`` is needed for any isolation floor)."""

    runtime_id: str
    image: str
    command: str
    args: List[str]
    env: Dict[str, str]
    working_dir: str
    namespace: str
    queue: str
    pull_policy: str
    timeout_seconds: int
    isolation: IsolationTier


class _TimerPayloadBase(TypedDict):
    timerId: str
    durationMs: int
    fireAt: str


class TimerPayload(_TimerPayloadBase, total=False):
    """A ``timer`` task's payload."""

    workflowId: str
    workflowRunId: str
    workflowTaskId: str


__all__ = [
    "TaskState",
    "TaskEventKind",
    "ScheduleState",
    "ScheduleOverlapPolicy",
    "ScheduleMissedRunPolicy",
    "CancellationType",
    "CancellationScopeType",
    "WorkflowIdReusePolicy",
    "IsolationTier",
    "WorkflowFunction",
    "ActivityFunction",
    "WorkflowRegistry",
    "ActivityRegistry",
    "WorkflowUIMetadata",
    "WorkflowStartOptions",
    "ContinueAsNewOptions",
    "ChildWorkflowOptions",
    "ActivityOptions",
    "WorkflowExecutionDescription",
    "WorkflowSignalDefinition",
    "WorkflowQueryDefinition",
    "WorkflowUpdateDefinition",
    "ShellExecPayload",
    "ContainerExecPayload",
    "WorkflowQueryPayload",
    "WorkflowUpdatePayload",
    "WorkflowPayload",
    "ActivityInvocationPayload",
    "WorkflowRuntimePayload",
    "TimerPayload",
]


class CreateSandboxSessionRequest(TypedDict, total=False):
    """The contract's terminal-session request of the sandbox API (which the local service does
    not serve: it answers 501)."""

    rows: int
    columns: int
    kind: str
    command: List[str]


class CreateSandboxSessionResponse(TypedDict, total=False):
    """The contract's answer to a terminal-session request of the sandbox API."""

    id: str
    ticket: str
    expiresAt: str
    terminalProtocols: List[str]
