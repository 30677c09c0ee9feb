"""PostGrip Agent workflows, synchronously: a blocking Client, a thread-based Agent,
and a local runtime service on SQLite."""

__version__ = "0.1.0"

from . import activity, workflow  # noqa: E402
from .agent import Agent, Worker  # noqa: E402
from .client import Client, ScheduleClient, TaskClient, WorkflowClient  # noqa: E402
from .connection import Connection, RetryOptions  # noqa: E402
from .errors import (  # noqa: E402
    ActivityError,
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
from .types import FailureInfo, RetryPolicy, Schedule, Task, WorkflowExecution, WorkflowHistoryEvent  # noqa: E402

__all__ = [
    "__version__", "activity", "workflow", "Agent", "Worker", "Client", "Connection", "RetryOptions",
    "TaskClient", "WorkflowClient", "ScheduleClient", "WorkflowHandle", "WorkflowUpdateHandle",
    "PostGripAgentError", "RPCError", "InvalidArgumentError", "UnauthorizedError", "NotFoundError", "ConflictError",
    "AlreadyExistsError", "TransportError", "ApplicationFailure", "ActivityError", "CancelledFailure", "TimeoutFailure",
    "TerminatedFailure", "TaskFailedError", "WorkflowFailureError", "WorkflowQueryFailedError", "WorkflowUpdateFailedError",
    "Task", "WorkflowExecution", "WorkflowHistoryEvent", "RetryPolicy", "Schedule", "FailureInfo",
    "WorkflowDescription", "PendingActivity",
]
