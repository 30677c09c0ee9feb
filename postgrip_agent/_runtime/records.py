"""What a workflow run's scheduler hands out and raises: its info, its new commands, and the
exceptions that end an activation early."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Dict, Mapping, Optional, Sequence

import attrs

from .._compat import either, run_timeout
from .._encoding import duration_ms, encode_args, lease_seconds, retry_json
from ..errors import ApplicationFailure


class NotAContinuation(Exception):
    """The new events do not follow from what this live instance did: replay it from history."""


class _TearingDown(BaseException):
    """Raised by workflow calls while an instance is torn down: its ``finally:`` blocks issue nothing."""


#: the keys of a continue-as-new options dict (the async SDK's ``ContinueAsNewCommand(type, args, options)``)
CONTINUE_AS_NEW_OPTIONS = (
    "workflow_id",
    "workflowId",
    "task_queue",
    "taskQueue",
    "workflow_run_timeout",
    "workflow_run_timeout_ms",
    "retry",
    "lease_timeout_seconds",
    "leaseTimeoutSeconds",
)


class ContinueAsNew(BaseException):
    """Raised by ``workflow.continue_as_new()``: ends the run and starts the next one (never catch it).

    ``ContinueAsNewCommand(workflow_type, args, options)`` is the async SDK's way to raise it by hand:
    ``options`` may name the next run's ``workflow_id``, ``task_queue``, ``workflow_run_timeout`` (a
    timedelta or milliseconds) or ``workflow_run_timeout_ms``, ``retry`` (a RetryPolicy or its wire
    dict) and ``lease_timeout_seconds`` (camelCase spellings too). A BaseException, unlike the async
    SDK's, so that ``except Exception`` in workflow code does not swallow it."""

    def __init__(self, workflow_type: str, args: Sequence[Any] = (), options: Optional[Mapping[str, Any]] = None) -> None:
        super().__init__(f"continue as new {workflow_type}")
        given = {key: value for key, value in dict(options or {}).items() if value is not None}
        unknown = sorted(set(given) - set(CONTINUE_AS_NEW_OPTIONS))
        if unknown:
            raise TypeError(f"continue-as-new options: unknown {', '.join(unknown)}; known: {', '.join(CONTINUE_AS_NEW_OPTIONS)}")
        if isinstance(args, (str, bytes)) or not isinstance(args, Sequence):
            raise TypeError(f"continue-as-new args must be a list of the next run's arguments, not {type(args).__name__}")
        next_id = either("workflow_id", given.get("workflow_id"), "workflowId", given.get("workflowId"))
        if next_id is not None and (not isinstance(next_id, str) or not next_id.strip()):
            raise ValueError("continue_as_new: workflow_id must be a non-empty string")
        timeout = run_timeout(None, given.get("workflow_run_timeout"), given.get("workflow_run_timeout_ms"))
        lease = either(
            "lease_timeout_seconds", given.get("lease_timeout_seconds"), "leaseTimeoutSeconds", given.get("leaseTimeoutSeconds")
        )
        self.workflow_type = workflow_type
        self.next_values = list(args)
        encode_args(self.next_values, "continue_as_new argument")  # a value that cannot be sent fails here, in the workflow
        self.options = given
        self.task_queue: Optional[str] = either("task_queue", given.get("task_queue"), "taskQueue", given.get("taskQueue"))
        self.run_timeout_ms = duration_ms(timeout, "run_timeout")
        #: the next run's workflow id (None: this run's), retry policy (wire form) and task lease
        self.workflow_id: Optional[str] = next_id
        self.retry = retry_json(given["retry"]) if "retry" in given else None
        self.lease_timeout_seconds = lease_seconds(lease, "continue_as_new lease_timeout_seconds")


def determinism_violation(message: str) -> ApplicationFailure:
    return ApplicationFailure(message, type="DeterminismViolation", non_retryable=True)


@attrs.frozen(init=False)
class WorkflowInfo:
    """What a workflow knows about its run (``workflow.info()``): ids, type, queue, namespace, attempt, parent and start time."""

    workflow_id: str
    run_id: str
    workflow_type: str
    task_queue: str
    namespace: str = "default"
    task_id: str = ""
    attempt: int = 1
    parent_workflow_id: Optional[str] = None
    continued_from_run_id: Optional[str] = None
    start_time: Optional[datetime] = None

    def __init__(
        self,
        workflow_id: str,
        run_id: Optional[str] = None,
        workflow_type: Optional[str] = None,
        task_queue: Optional[str] = None,
        namespace: str = "default",
        task_id: str = "",
        attempt: int = 1,
        parent_workflow_id: Optional[str] = None,
        continued_from_run_id: Optional[str] = None,
        start_time: Optional[datetime] = None,
        *,
        workflow_run_id: Optional[str] = None,
    ) -> None:
        """Built by the runtime; made by hand (a test, a replay), ``workflow_run_id=`` is the async SDK's
        spelling of ``run_id`` and its four fields (id, run id, queue, type) are enough."""
        run = either("run_id", run_id, "workflow_run_id", workflow_run_id)
        missing = [
            name
            for name, value in (("run_id", run), ("workflow_type", workflow_type), ("task_queue", task_queue))
            if value is None
        ]
        if run is None or workflow_type is None or task_queue is None:
            raise TypeError(f"WorkflowInfo needs {', '.join(missing)}")
        self.__attrs_init__(
            workflow_id,
            run,
            workflow_type,
            task_queue,
            namespace,
            task_id,
            attempt,
            parent_workflow_id,
            continued_from_run_id,
            start_time,
        )

    @property
    def workflow_run_id(self) -> str:
        """The run id (the async SDK's name)."""
        return self.run_id


@attrs.define
class NewCommand:
    kind: str
    description: str
    request: Dict[str, Any]
