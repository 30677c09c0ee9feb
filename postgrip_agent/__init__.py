"""PostGrip Agent workflows, synchronously: a blocking Client, a thread-based Agent,
and a local runtime service on SQLite.

The names below are imported when first used (PEP 562), so ``import postgrip_agent`` and the
``postgrip-agent --version`` command stay quick; ``from postgrip_agent import Client`` works as usual.
"""

import importlib
from typing import TYPE_CHECKING, Any, Dict, List, Tuple

from ._version import __version__ as __version__

if TYPE_CHECKING:  # what type checkers and IDEs see: every name, from where it is defined
    from . import activity as activity
    from . import workflow as workflow
    from .agent import Agent as Agent, Worker as Worker
    from .client import (
        Client as Client,
        ScheduleClient as ScheduleClient,
        TaskClient as TaskClient,
        WorkflowClient as WorkflowClient,
    )
    from .connection import Connection as Connection, RetryOptions as RetryOptions
    from .errors import (
        ActivityError as ActivityError,
        ChildWorkflowError as ChildWorkflowError,
        AlreadyExistsError as AlreadyExistsError,
        ApplicationFailure as ApplicationFailure,
        CancelledFailure as CancelledFailure,
        ConflictError as ConflictError,
        InvalidArgumentError as InvalidArgumentError,
        NotFoundError as NotFoundError,
        PostGripAgentError as PostGripAgentError,
        RPCError as RPCError,
        TaskFailedError as TaskFailedError,
        TerminatedFailure as TerminatedFailure,
        TimeoutFailure as TimeoutFailure,
        TransportError as TransportError,
        UnauthorizedError as UnauthorizedError,
        WorkflowFailureError as WorkflowFailureError,
        WorkflowQueryFailedError as WorkflowQueryFailedError,
        WorkflowUpdateFailedError as WorkflowUpdateFailedError,
    )
    from .handle import WorkflowHandle as WorkflowHandle, WorkflowUpdateHandle as WorkflowUpdateHandle
    from .inspection import PendingActivity as PendingActivity, WorkflowDescription as WorkflowDescription
    from .options import (
        ActivityFunction as ActivityFunction,
        ActivityInvocationPayload as ActivityInvocationPayload,
        ActivityOptions as ActivityOptions,
        ActivityRegistry as ActivityRegistry,
        CancellationScopeType as CancellationScopeType,
        CancellationType as CancellationType,
        ChildWorkflowOptions as ChildWorkflowOptions,
        ContainerExecPayload as ContainerExecPayload,
        ContinueAsNewOptions as ContinueAsNewOptions,
        CreateSandboxSessionRequest as CreateSandboxSessionRequest,
        CreateSandboxSessionResponse as CreateSandboxSessionResponse,
        IsolationTier as IsolationTier,
        ScheduleMissedRunPolicy as ScheduleMissedRunPolicy,
        ScheduleOverlapPolicy as ScheduleOverlapPolicy,
        ScheduleState as ScheduleState,
        ShellExecPayload as ShellExecPayload,
        TaskEventKind as TaskEventKind,
        TaskState as TaskState,
        TimerPayload as TimerPayload,
        WorkflowExecutionDescription as WorkflowExecutionDescription,
        WorkflowFunction as WorkflowFunction,
        WorkflowIdReusePolicy as WorkflowIdReusePolicy,
        WorkflowPayload as WorkflowPayload,
        WorkflowQueryDefinition as WorkflowQueryDefinition,
        WorkflowQueryPayload as WorkflowQueryPayload,
        WorkflowRegistry as WorkflowRegistry,
        WorkflowRuntimePayload as WorkflowRuntimePayload,
        WorkflowSignalDefinition as WorkflowSignalDefinition,
        WorkflowStartOptions as WorkflowStartOptions,
        WorkflowUIMetadata as WorkflowUIMetadata,
        WorkflowUpdateDefinition as WorkflowUpdateDefinition,
        WorkflowUpdatePayload as WorkflowUpdatePayload,
    )
    from .types import (
        BackfillScheduleRequest as BackfillScheduleRequest,
        BackfillScheduleResponse as BackfillScheduleResponse,
        CancelWorkflowRequest as CancelWorkflowRequest,
        CompactResponse as CompactResponse,
        ContinueAsNewResult as ContinueAsNewResult,
        CreateScheduleRequest as CreateScheduleRequest,
        EnqueueTaskRequest as EnqueueTaskRequest,
        FailureInfo as FailureInfo,
        Namespace as Namespace,
        PauseScheduleRequest as PauseScheduleRequest,
        RetryPolicy as RetryPolicy,
        Schedule as Schedule,
        ScheduleAction as ScheduleAction,
        ScheduleCalendarSpec as ScheduleCalendarSpec,
        ScheduleSpec as ScheduleSpec,
        SignalWithStartWorkflowRequest as SignalWithStartWorkflowRequest,
        SignalWithStartWorkflowResponse as SignalWithStartWorkflowResponse,
        Task as Task,
        TaskEvent as TaskEvent,
        TaskEventInput as TaskEventInput,
        TaskResult as TaskResult,
        TerminateWorkflowRequest as TerminateWorkflowRequest,
        TriggerScheduleRequest as TriggerScheduleRequest,
        TriggerScheduleResponse as TriggerScheduleResponse,
        UnpauseScheduleRequest as UnpauseScheduleRequest,
        UpdateScheduleRequest as UpdateScheduleRequest,
        WorkflowCountResponse as WorkflowCountResponse,
        WorkflowExecution as WorkflowExecution,
        WorkflowHistoryEvent as WorkflowHistoryEvent,
    )
    from .workflow import CancellationScope as CancellationScope

    WorkflowWorker = Agent

#: each public name by the module (under ``postgrip_agent``) that defines it
_EXPORTS: Dict[str, Tuple[str, ...]] = {
    "agent": ("Agent", "Worker"),
    "client": ("Client", "ScheduleClient", "TaskClient", "WorkflowClient"),
    "connection": ("Connection", "RetryOptions"),
    "errors": (
        "ActivityError",
        "ChildWorkflowError",
        "AlreadyExistsError",
        "ApplicationFailure",
        "CancelledFailure",
        "ConflictError",
        "InvalidArgumentError",
        "NotFoundError",
        "PostGripAgentError",
        "RPCError",
        "TaskFailedError",
        "TerminatedFailure",
        "TimeoutFailure",
        "TransportError",
        "UnauthorizedError",
        "WorkflowFailureError",
        "WorkflowQueryFailedError",
        "WorkflowUpdateFailedError",
    ),
    "handle": ("WorkflowHandle", "WorkflowUpdateHandle"),
    "inspection": ("PendingActivity", "WorkflowDescription"),
    "options": (
        "ActivityFunction",
        "ActivityInvocationPayload",
        "ActivityOptions",
        "ActivityRegistry",
        "CancellationScopeType",
        "CancellationType",
        "ChildWorkflowOptions",
        "ContainerExecPayload",
        "ContinueAsNewOptions",
        "CreateSandboxSessionRequest",
        "CreateSandboxSessionResponse",
        "IsolationTier",
        "ScheduleMissedRunPolicy",
        "ScheduleOverlapPolicy",
        "ScheduleState",
        "ShellExecPayload",
        "TaskEventKind",
        "TaskState",
        "TimerPayload",
        "WorkflowExecutionDescription",
        "WorkflowFunction",
        "WorkflowIdReusePolicy",
        "WorkflowPayload",
        "WorkflowQueryDefinition",
        "WorkflowQueryPayload",
        "WorkflowRegistry",
        "WorkflowRuntimePayload",
        "WorkflowSignalDefinition",
        "WorkflowStartOptions",
        "WorkflowUIMetadata",
        "WorkflowUpdateDefinition",
        "WorkflowUpdatePayload",
    ),
    "types": (
        "BackfillScheduleRequest",
        "BackfillScheduleResponse",
        "CancelWorkflowRequest",
        "CompactResponse",
        "ContinueAsNewResult",
        "CreateScheduleRequest",
        "EnqueueTaskRequest",
        "FailureInfo",
        "Namespace",
        "PauseScheduleRequest",
        "RetryPolicy",
        "Schedule",
        "ScheduleAction",
        "ScheduleCalendarSpec",
        "ScheduleSpec",
        "SignalWithStartWorkflowRequest",
        "SignalWithStartWorkflowResponse",
        "Task",
        "TaskEvent",
        "TaskEventInput",
        "TaskResult",
        "TerminateWorkflowRequest",
        "TriggerScheduleRequest",
        "TriggerScheduleResponse",
        "UnpauseScheduleRequest",
        "UpdateScheduleRequest",
        "WorkflowCountResponse",
        "WorkflowExecution",
        "WorkflowHistoryEvent",
    ),
    "workflow": ("CancellationScope",),
}
_SUBMODULES = ("activity", "workflow")
_ALIASES = {"WorkflowWorker": "Agent"}  # the async SDK's other name for the Agent
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = ["__version__", *_SUBMODULES, *_WHERE, *_ALIASES]


def __getattr__(name: str) -> Any:
    """Import a public name (or a submodule) on first use and keep it, so later lookups are plain."""
    target = _ALIASES.get(name, name)
    module = _WHERE.get(target)
    if module is not None:
        value = getattr(importlib.import_module(f"{__name__}.{module}"), target)
    else:
        try:
            value = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(__all__))
