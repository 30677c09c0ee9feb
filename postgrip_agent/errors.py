"""The exception hierarchy: everything the SDK raises is a [`PostGripAgentError`][postgrip_agent.errors.PostGripAgentError]."""

from __future__ import annotations

import asyncio
import traceback
from typing import Any, Dict, Iterable, List, Optional, Sequence


class PostGripAgentError(Exception):
    """Base of every error the SDK raises."""


# ---------------------------------------------------------------- service and transport


class RPCError(PostGripAgentError):
    """The service answered with an error status."""

    def __init__(self, message: str, *, status: int, code: Optional[str] = None, method: str = "", url: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.method = method
        self.url = url

    def __str__(self) -> str:
        where = f" ({self.method} {self.url})" if self.method else ""
        return f"{self.status} {self.code or 'error'}: {self.message}{where}"


class InvalidArgumentError(RPCError):
    """400: the request was malformed or named something invalid."""


class UnauthorizedError(RPCError):
    """401/403: missing or rejected credentials."""


class NotFoundError(RPCError):
    """404: the task, workflow or schedule does not exist."""


class ConflictError(RPCError):
    """409: the request conflicts with the current state (not leased, not running, ...)."""


class AlreadyExistsError(ConflictError):
    """409: a workflow with this id is running, or a namespace or schedule exists already."""


class PayloadTooLargeError(RPCError):
    """413: the request body is over the service's limit."""


class UnavailableError(RPCError):
    """429/5xx: the service is overloaded or unavailable (retried where safe)."""


class TransportError(PostGripAgentError):
    """The request did not complete: connection refused or reset, timeout, ..."""

    def __init__(self, message: str, *, reached_server: bool, idempotency_key: Optional[str] = None) -> None:
        super().__init__(message)
        #: False only when no attempt of the request can have reached the service.
        self.reached_server = reached_server
        #: the write's Idempotency-Key when it may have been applied: sending the same request
        #: again with this key gets the first answer instead of a second effect
        self.idempotency_key = idempotency_key


class DecodeError(PostGripAgentError):
    """The service's answer could not be decoded into the expected type."""


# ---------------------------------------------------------------- workflow failures


class FailureError(PostGripAgentError):
    """Base of failures that travel through workflows (the seed's failure types)."""


class ApplicationFailure(FailureError):
    """A failure with a type tag, retryability and details; survives the wire as FailureInfo."""

    def __init__(
        self,
        message: str,
        *detail_args: Any,
        type: Optional[str] = None,
        non_retryable: bool = False,
        details: Optional[Sequence[Any]] = None,
        details_list: Optional[Sequence[Any]] = None,
    ) -> None:
        """Details come positionally (Temporal's style) or as a list: ``details=[...]`` (the async
        SDK's keyword) or ``details_list=[...]``; only one of the three."""
        super().__init__(message)
        self.message = message
        self.type = type or "ApplicationFailure"
        self.non_retryable = non_retryable
        given = [d for d in (detail_args or None, details, details_list) if d is not None]
        if len(given) > 1:
            raise TypeError("pass the details positionally, as details=[...] or as details_list=[...], only one of them")
        if isinstance(details, (str, bytes)):
            raise TypeError("details must be a list of values (details=[...]), not a string")
        self.details: List[Any] = list(given[0]) if given else []
        #: the formatted traceback where the failure was raised (set when it crossed the wire)
        self.stack_trace: Optional[str] = None

    @classmethod
    def non_retryable_failure(cls, message: str, type: str = "NonRetryableFailure", *details: Any) -> "ApplicationFailure":
        """An ApplicationFailure that is not retried (the async SDK's constructor)."""
        return cls(message, *details, type=type, non_retryable=True)

    def __repr__(self) -> str:
        return f"ApplicationFailure({self.message!r}, type={self.type!r}, non_retryable={self.non_retryable}, details={self.details!r})"


class CancelledFailure(FailureError, asyncio.CancelledError):
    """The work was cancelled (a workflow cancel request, or the service cancelled the task).

    It is also an ``asyncio.CancelledError``, so ``async def`` workflow code catches it under
    either name, and asyncio's helpers (``wait_for``, ``timeout``, ``gather``) treat it as the
    cancellation it is. It stays an ``Exception`` too: ``except Exception`` still catches it."""

    def __init__(self, message: str = "cancelled", *details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = list(details)


class TimeoutFailure(FailureError):
    """An operation ran past its deadline (a wait, a run timeout, an activity timeout).

    For activities ``timeout_type`` names the timeout: START_TO_CLOSE, SCHEDULE_TO_CLOSE,
    HEARTBEAT or SCHEDULE_TO_START.
    """

    def __init__(self, message: str = "timed out", *, timeout_type: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.timeout_type = timeout_type
        self.stack_trace: Optional[str] = None


class ActivityError(ApplicationFailure):
    """An activity failed for good (its retries, if any, are spent), as workflow code sees it.

    ``cause`` is what ended the last attempt: an [`ApplicationFailure`][postgrip_agent.errors.ApplicationFailure] (type, message,
    details, non_retryable as the activity raised them), a [`TimeoutFailure`][postgrip_agent.errors.TimeoutFailure] (with its
    ``timeout_type``) or a [`CancelledFailure`][postgrip_agent.errors.CancelledFailure]. The error's own ``type``, ``message``,
    ``details`` and ``non_retryable`` mirror the cause's, so ``except ApplicationFailure``
    with a check of ``.type`` keeps working.
    """

    def __init__(
        self, cause: BaseException, *, activity_type: str, activity_id: Optional[str] = None, attempt: Optional[int] = None
    ) -> None:
        message = getattr(cause, "message", None) or str(cause)
        details = list(getattr(cause, "details", []) or [])
        if isinstance(cause, TimeoutFailure) and cause.timeout_type and not details:
            details = [{"timeout_type": cause.timeout_type}]  # an activity's timeout, not the run's
        super().__init__(
            str(message),
            type=getattr(cause, "type", None) or type(cause).__name__,
            non_retryable=bool(getattr(cause, "non_retryable", True)),
            details_list=details,
        )
        self.cause = cause
        self.__cause__ = cause
        self.activity_type = activity_type
        self.activity_id = activity_id
        self.attempt = attempt
        self.stack_trace = getattr(cause, "stack_trace", None)

    def __str__(self) -> str:
        where = f" (attempt {self.attempt})" if self.attempt else ""
        return f"activity {self.activity_type} failed{where}: {self.type}: {self.message}"


class ChildWorkflowError(ApplicationFailure):
    """A child workflow did not complete, as its parent sees it.

    ``cause`` is how it ended: a [`CancelledFailure`][postgrip_agent.errors.CancelledFailure] (it was cancelled, by the parent or
    anyone), a [`TimeoutFailure`][postgrip_agent.errors.TimeoutFailure], or the [`ApplicationFailure`][postgrip_agent.errors.ApplicationFailure] its code raised (type
    ``TerminatedFailure`` when it was terminated). As with [`ActivityError`][postgrip_agent.errors.ActivityError], the error's own
    ``type``, ``message``, ``details`` and ``non_retryable`` mirror the cause's, so
    ``except ApplicationFailure`` with a check of ``.type`` keeps working.
    """

    def __init__(
        self, cause: BaseException, *, workflow_type: str, workflow_id: Optional[str] = None, run_id: Optional[str] = None
    ) -> None:
        message = getattr(cause, "message", None) or str(cause)
        super().__init__(
            str(message),
            type=getattr(cause, "type", None) or type(cause).__name__,
            non_retryable=bool(getattr(cause, "non_retryable", True)),
            details_list=list(getattr(cause, "details", []) or []),
        )
        self.cause = cause
        self.__cause__ = cause
        self.workflow_type = workflow_type
        self.workflow_id = workflow_id
        self.run_id = run_id

    def __str__(self) -> str:
        return f"child workflow {self.workflow_type} ({self.workflow_id}) failed: {self.type}: {self.message}"


class TerminatedFailure(FailureError):
    """The run was terminated."""


class TaskFailedError(PostGripAgentError):
    """A task ended in failure; ``cause`` is the ApplicationFailure rebuilt from its FailureInfo."""

    def __init__(self, task_id: str, message: str, cause: Optional[ApplicationFailure] = None) -> None:
        super().__init__(message)
        self.task_id = task_id
        self.message = message
        self.cause = cause or ApplicationFailure(message)
        self.__cause__ = self.cause


class WorkflowFailureError(TaskFailedError):
    """A workflow run did not succeed. ``status`` is failed, cancelled, terminated or timed_out."""

    def __init__(
        self, workflow_id: str, run_id: str, task_id: str, status: str, message: str, cause: Optional[BaseException]
    ) -> None:
        app_cause = cause if isinstance(cause, ApplicationFailure) else None
        super().__init__(task_id, f"workflow {workflow_id} (run {run_id}) {status.replace('_', ' ')}: {message}", app_cause)
        self.workflow_id = workflow_id
        self.run_id = run_id
        self.status = status
        self.failure: Optional[BaseException] = cause
        self.__cause__ = cause
        #: the formatted tracebacks behind the failure (the workflow's, then the activity's), when known
        self.stack_trace: Optional[str] = getattr(cause, "stack_trace", None)

    def __str__(self) -> str:
        text = super().__str__()
        if self.stack_trace:
            last = self.stack_trace.rstrip().splitlines()[-1] if self.stack_trace.strip() else ""
            return f"{text} (raised as {last.strip()}; see .stack_trace)" if last else text
        return text


class WorkflowQueryFailedError(PostGripAgentError):
    """A query could not be answered (unknown name, handler raised, bad arguments)."""

    def __init__(self, message: str, cause: Optional[ApplicationFailure] = None) -> None:
        super().__init__(message)
        self.cause = cause
        self.__cause__ = cause


class WorkflowUpdateFailedError(PostGripAgentError):
    """An update was rejected by its handler or failed; ``cause`` carries the ApplicationFailure."""

    def __init__(self, message: str, cause: Optional[ApplicationFailure] = None) -> None:
        super().__init__(message)
        self.cause = cause
        self.__cause__ = cause


def failure_from_info(info: Optional[Dict[str, Any]], fallback_message: str = "failed") -> ApplicationFailure:
    """Rebuild an ApplicationFailure (or CancelledFailure-typed one) from a FailureInfo dict."""
    info = info or {}
    details: Iterable[Any] = info.get("details") or []
    return ApplicationFailure(
        str(info.get("message") or fallback_message),
        type=info.get("type") or "ApplicationFailure",
        non_retryable=bool(info.get("non_retryable")),
        details_list=list(details),
    )


def rebuild_failure(info: Dict[str, Any], fallback_message: str = "failed") -> BaseException:
    """The exception a FailureInfo stands for: a TimeoutFailure (with the ``timeout_type`` its
    own field or its details name), a CancelledFailure, or an ApplicationFailure."""
    message = str(info.get("message") or fallback_message)
    if info.get("type") == "TimeoutFailure":
        kind = info.get("timeout_type") or next(
            (d.get("timeout_type") for d in info.get("details") or [] if isinstance(d, dict)), None
        )
        return TimeoutFailure(message, timeout_type=kind)
    if info.get("type") == "CancelledFailure":
        return CancelledFailure(message)
    return failure_from_info(info, message)


def activity_error(attributes: Dict[str, Any], activity_type: str, task_id: Optional[str]) -> ActivityError:
    """The ActivityError a workflow sees for a final ActivityTaskFailed event."""
    info = dict(attributes.get("failure") or {})
    if attributes.get("timeout_type"):
        info["timeout_type"] = attributes["timeout_type"]
    cause = rebuild_failure(info, str(attributes.get("error") or "activity failed"))
    cause.stack_trace = attributes.get("stack_trace")  # type: ignore[attr-defined]
    attempt = attributes.get("attempt")
    return ActivityError(cause, activity_type=activity_type, activity_id=task_id, attempt=int(attempt) if attempt else None)


def child_error(attributes: Dict[str, Any], workflow_type: str) -> ChildWorkflowError:
    """The ChildWorkflowError a parent sees for a ChildWorkflowExecutionFailed event."""
    cause = rebuild_failure(dict(attributes.get("failure") or {}), str(attributes.get("error") or "child workflow failed"))
    return ChildWorkflowError(
        cause, workflow_type=workflow_type, workflow_id=attributes.get("child_workflow_id"), run_id=attributes.get("child_run_id")
    )


def stack_text(exc: BaseException) -> str:
    """The traceback of ``exc`` followed by the remote tracebacks of the failures behind it
    (an activity's, carried in history), for a failure report a user can debug."""
    parts = ["".join(traceback.format_exception(type(exc), exc, exc.__traceback__))]
    node: Optional[BaseException] = exc
    while node is not None:
        remote = getattr(node, "stack_trace", None)
        if remote and all(remote not in part for part in parts):
            parts.append(f"\nCaused by a failure elsewhere:\n{remote}")
        node = node.__cause__
    return "".join(parts)


def failure_info(exc: BaseException) -> Dict[str, Any]:
    """The FailureInfo dict for an exception raised by user code."""
    if isinstance(exc, ApplicationFailure):
        return {"message": exc.message, "type": exc.type, "non_retryable": exc.non_retryable, "details": _jsonable(exc.details)}
    if isinstance(exc, CancelledFailure):
        return {"message": exc.message, "type": "CancelledFailure", "non_retryable": True}
    if isinstance(exc, TimeoutFailure):
        info: Dict[str, Any] = {"message": str(exc), "type": "TimeoutFailure"}
        if exc.timeout_type:
            info["details"] = [{"timeout_type": exc.timeout_type}]
        return info
    return {"message": str(exc) or type(exc).__name__, "type": type(exc).__name__}


def _jsonable(values: List[Any]) -> List[Any]:
    """Failure details in their plain JSON forms (dataclasses, dates...: see converter); what
    has none travels as its repr, so a failure is always reported."""
    import json

    from .converter import DEFAULT

    out = []
    for value in values:
        try:
            data = DEFAULT.payload_converter.to_json(value)
            json.dumps(data)
            out.append(data)
        except (TypeError, ValueError):
            out.append(repr(value))
    return out
