"""What a workflow run's scheduler hands out and raises: its info, its new commands, and the
exceptions that end an activation early."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Dict, List, Optional

import attrs

from ..errors import ApplicationFailure


class NotAContinuation(Exception):
    """The new events do not follow from what this live instance did: replay it from history."""


class _TearingDown(BaseException):
    """Raised by workflow calls while an instance is torn down: its ``finally:`` blocks issue nothing."""


class ContinueAsNew(BaseException):
    """Raised by workflow.continue_as_new(); ends the run and starts the next one."""

    def __init__(self, workflow_type: str, args: List[Any], task_queue: Optional[str], run_timeout_ms: Optional[int], *,
                 workflow_id: Optional[str] = None, retry: Optional[Dict[str, Any]] = None,
                 lease_timeout_seconds: Optional[int] = None) -> None:
        super().__init__(f"continue as new {workflow_type}")
        self.workflow_type = workflow_type
        self.next_args = args
        self.task_queue = task_queue
        self.run_timeout_ms = run_timeout_ms
        #: the next run's workflow id (None: this run's), retry policy (wire form) and task lease
        self.workflow_id = workflow_id
        self.retry = retry
        self.lease_timeout_seconds = lease_timeout_seconds


def determinism_violation(message: str) -> ApplicationFailure:
    return ApplicationFailure(message, type="DeterminismViolation", non_retryable=True)


@attrs.frozen
class WorkflowInfo:
    """What a workflow knows about its run (``workflow.info()``): ids, type, queue, namespace, attempt, parent and start time."""
    workflow_id: str
    run_id: str
    workflow_type: str
    task_queue: str
    namespace: str
    task_id: str
    attempt: int = 1
    parent_workflow_id: Optional[str] = None
    continued_from_run_id: Optional[str] = None
    start_time: Optional[datetime] = None

    @property
    def workflow_run_id(self) -> str:
        """The run id (the async SDK's name)."""
        return self.run_id


@attrs.define
class NewCommand:
    kind: str
    description: str
    request: Dict[str, Any]
