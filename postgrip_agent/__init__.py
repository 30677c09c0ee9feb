"""PostGrip Agent workflows, synchronously: a blocking Client, a thread-based Agent,
and a local runtime service on SQLite."""

from ._version import __version__ as __version__
"""This package's version."""

from . import activity, workflow  # noqa: E402
from .agent import Agent, Worker  # noqa: E402
from .client import Client, ScheduleClient, TaskClient, WorkflowClient  # noqa: E402
from .connection import Connection, RetryOptions  # noqa: E402
from .errors import (  # noqa: E402
    ActivityError,
    ChildWorkflowError,
    AlreadyExistsError,
    ApplicationFailure,
    CancelledFailure,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    PostGripAgentError,
    RPCError,
    TaskFailedError,
    TerminatedFailure,
    TimeoutFailure,
    TransportError,
    UnauthorizedError,
    WorkflowFailureError,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from .handle import WorkflowHandle, WorkflowUpdateHandle  # noqa: E402
from .inspection import PendingActivity, WorkflowDescription  # noqa: E402
from .options import (  # noqa: E402
    ActivityFunction,
    ActivityInvocationPayload,
    ActivityOptions,
    ActivityRegistry,
    CancellationScopeType,
    CancellationType,
    ChildWorkflowOptions,
    ContainerExecPayload,
    ContinueAsNewOptions,
    CreateSandboxSessionRequest,
    CreateSandboxSessionResponse,
    IsolationTier,
    ScheduleMissedRunPolicy,
    ScheduleOverlapPolicy,
    ScheduleState,
    ShellExecPayload,
    TaskEventKind,
    TaskState,
    TimerPayload,
    WorkflowExecutionDescription,
    WorkflowFunction,
    WorkflowIdReusePolicy,
    WorkflowPayload,
    WorkflowQueryDefinition,
    WorkflowQueryPayload,
    WorkflowRegistry,
    WorkflowRuntimePayload,
    WorkflowSignalDefinition,
    WorkflowStartOptions,
    WorkflowUIMetadata,
    WorkflowUpdateDefinition,
    WorkflowUpdatePayload,
)
from .types import (  # noqa: E402
    BackfillScheduleRequest,
    BackfillScheduleResponse,
    CancelWorkflowRequest,
    CompactResponse,
    ContinueAsNewResult,
    CreateScheduleRequest,
    EnqueueTaskRequest,
    FailureInfo,
    Namespace,
    PauseScheduleRequest,
    RetryPolicy,
    Schedule,
    ScheduleAction,
    ScheduleCalendarSpec,
    ScheduleSpec,
    SignalWithStartWorkflowRequest,
    SignalWithStartWorkflowResponse,
    Task,
    TaskEvent,
    TaskEventInput,
    TaskResult,
    TerminateWorkflowRequest,
    TriggerScheduleRequest,
    TriggerScheduleResponse,
    UnpauseScheduleRequest,
    UpdateScheduleRequest,
    WorkflowCountResponse,
    WorkflowExecution,
    WorkflowHistoryEvent,
)
from .workflow import CancellationScope  # noqa: E402

WorkflowWorker = Agent
"""The async SDK's other name for the `Agent`."""

__all__ = [
    "__version__", "activity", "workflow", "Agent", "Worker", "Client", "Connection", "RetryOptions",
    "TaskClient", "WorkflowClient", "ScheduleClient", "WorkflowHandle", "WorkflowUpdateHandle",
    "PostGripAgentError", "RPCError", "InvalidArgumentError", "UnauthorizedError", "NotFoundError", "ConflictError",
    "AlreadyExistsError", "TransportError", "ApplicationFailure", "ActivityError", "ChildWorkflowError", "CancelledFailure", "TimeoutFailure",
    "TerminatedFailure", "TaskFailedError", "WorkflowFailureError", "WorkflowQueryFailedError", "WorkflowUpdateFailedError",
    "Task", "WorkflowExecution", "WorkflowHistoryEvent", "RetryPolicy", "Schedule", "FailureInfo",
    "WorkflowDescription", "PendingActivity", "CancellationScope",
    # wire types, under the names the async SDK exports them
    "BackfillScheduleRequest", "BackfillScheduleResponse", "CancelWorkflowRequest", "CompactResponse",
    "ContinueAsNewResult", "CreateScheduleRequest", "EnqueueTaskRequest", "Namespace", "PauseScheduleRequest",
    "ScheduleAction", "ScheduleCalendarSpec", "ScheduleSpec", "SignalWithStartWorkflowRequest",
    "SignalWithStartWorkflowResponse", "TaskEvent", "TaskEventInput", "TaskResult", "TerminateWorkflowRequest",
    "TriggerScheduleRequest", "TriggerScheduleResponse", "UnpauseScheduleRequest", "UpdateScheduleRequest",
    "WorkflowCountResponse",
    # typing names (postgrip_agent.options)
    "ActivityFunction", "ActivityInvocationPayload", "ActivityOptions", "ActivityRegistry", "CancellationScopeType",
    "CancellationType", "ChildWorkflowOptions", "ContainerExecPayload", "ContinueAsNewOptions", "IsolationTier",
    "ScheduleMissedRunPolicy", "ScheduleOverlapPolicy", "ScheduleState", "ShellExecPayload", "TaskEventKind",
    "TaskState", "TimerPayload", "WorkflowExecutionDescription", "WorkflowFunction", "WorkflowIdReusePolicy",
    "WorkflowPayload", "WorkflowQueryDefinition", "WorkflowQueryPayload", "WorkflowRegistry",
    "WorkflowRuntimePayload", "WorkflowSignalDefinition", "WorkflowStartOptions", "WorkflowUIMetadata",
    "WorkflowUpdateDefinition", "WorkflowUpdatePayload", "CreateSandboxSessionRequest", "CreateSandboxSessionResponse",
    "WorkflowWorker",
]
