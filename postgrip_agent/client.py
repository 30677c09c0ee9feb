"""The blocking Client: one connection, its defaults, and its groups of operations."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Iterator, List, Mapping, Optional, Sequence, Union

from . import types as wt
from ._encoding import duration_ms
from ._subclient import _check_id
from .connection import Connection, InProcessService, RetryOptions
from .errors import TransportError
from .handle import WorkflowHandle, WorkflowUpdateHandle
from .inspection import TaskQueueDescription, describe_task_queue
from .schedule_client import ScheduleClient
from .task_client import TaskClient
from .workflow_client import WorkflowClient

__all__ = ["Client", "WorkflowClient", "TaskClient", "ScheduleClient", "WorkflowHandle", "WorkflowUpdateHandle"]


class Client:
    """The blocking entry point; thread-safe, one per process is enough.

    ``client.workflow``, ``client.task`` and ``client.schedule`` group the operations;
    the workflow ones are also on the client itself (``start_workflow``, ...).
    """

    def __init__(self, connection: Connection, *, namespace: str = "default", default_task_queue: str = "default") -> None:
        self.connection = connection
        self.namespace = namespace
        self.default_task_queue = default_task_queue
        self.workflow = WorkflowClient(self)
        self.task = TaskClient(self)
        self.schedule = ScheduleClient(self)

    @classmethod
    def connect(
        cls,
        address: Union[str, Sequence[str], InProcessService, None] = None,
        *,
        namespace: str = "default",
        default_task_queue: str = "default",
        check_health: bool = True,
        **connection_options: Any,
    ) -> "Client":
        """Connect and (by default) check the service answers; fails fast naming the address.

        ``address`` is the service's URL; a list of URLs (or one string with commas) names
        replicas of one service, and calls move to the next when a connection fails; or a
        ``LocalServer`` running in this process: then calls reach it directly on the calling
        thread, without a socket (same API and errors)."""
        connection = Connection(address, **connection_options)
        client = cls(connection, namespace=namespace, default_task_queue=default_task_queue)
        if check_health:
            try:
                # fail fast at start-up: a brief retry rides out a blip, not an absent service
                quick = RetryOptions(max_elapsed=1.0, max_attempts=4, sleep=connection.retry.sleep)
                connection.request("GET", "/healthz", timeout=min(5.0, connection.timeout), retry=quick)
            except TransportError as err:
                connection.close()
                raise TransportError(
                    f"no PostGrip Agent service answers at {', '.join(connection.addresses)}: {err}. Start one with "
                    "'postgrip-agent server' or set POSTGRIP_AGENTORCHESTRATOR_URL",
                    reached_server=err.reached_server,
                ) from err
        return client

    def close(self) -> None:
        """Close the connection's pooled sockets (the Client is not usable afterwards)."""
        self.connection.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def health(self) -> wt.HealthResponse:
        """The service's liveness answer (``GET /healthz``)."""
        return wt.from_json(
            self.connection.request("GET", "/healthz", timeout=min(5.0, self.connection.timeout)), wt.HealthResponse
        )

    def describe_task_queue(self, task_queue: str, *, namespace: Optional[str] = None) -> TaskQueueDescription:
        """Which agents poll ``task_queue`` (their ids, the task types they take, when last seen)
        and its backlog, as the local service learns them from polls (its ``task-queues``
        extension; another service answers NotFoundError)."""
        if not isinstance(task_queue, str) or not task_queue.strip():
            raise ValueError("task_queue must be a non-empty string")
        return describe_task_queue(self.connection.request, namespace or self.namespace, task_queue)

    def ready(self) -> wt.ReadyResponse:
        """The service's readiness answer with its statistics (``GET /readyz``)."""
        return wt.from_json(self.connection.request("GET", "/readyz"), wt.ReadyResponse)

    def list_namespaces(self) -> List[wt.Namespace]:
        """The service's namespaces."""
        return [wt.from_json(n, wt.Namespace) for n in self.connection.request("GET", "/api/v1/namespaces")]

    def create_namespace(self, name: str) -> wt.Namespace:
        """Create a namespace; AlreadyExistsError if it exists."""
        _check_id(name, "namespace name")
        return wt.from_json(
            self.connection.request("POST", "/api/v1/namespaces", body={"name": name}, idempotent=False), wt.Namespace
        )

    def compact(self, *, retention: Union[timedelta, float] = 0) -> wt.CompactResponse:
        """Drop finished runs, task events and history older than ``retention`` (a timedelta or seconds) from the service's store."""
        seconds = (duration_ms(retention, "retention") or 0) // 1000
        data = self.connection.request("POST", "/api/v1/admin/compact", body={"retention_seconds": seconds}, idempotent=True)
        return wt.from_json(data, wt.CompactResponse)

    # workflow shortcuts, Temporal-style
    def start_workflow(
        self,
        workflow: Any,
        *arguments: Any,
        id: Optional[str] = None,
        task_queue: Optional[str] = None,
        namespace: Optional[str] = None,
        id_reuse_policy: Optional[str] = None,
        run_timeout: Any = None,
        retry_policy: Any = None,
        memo: Optional[Mapping[str, Any]] = None,
        search_attributes: Optional[Mapping[str, Any]] = None,
        ui: Optional[Mapping[str, Any]] = None,
        lease_timeout: Any = None,
        result_type: Optional[Any] = None,
        workflow_id: Optional[str] = None,
        args: Optional[Sequence[Any]] = None,
        retry: Any = None,
        workflow_id_reuse_policy: Optional[str] = None,
        workflow_run_timeout: Any = None,
        workflow_run_timeout_ms: Optional[int] = None,
        lease_timeout_seconds: Optional[float] = None,
        start_signal: Optional[Any] = None,
        start_signal_args: Sequence[Any] = (),
    ) -> WorkflowHandle[Any]:
        """Start a workflow and return its handle (``client.workflow.start``).

        Args:
            workflow: A ``@workflow.defn`` class, its run method, or its registered name.
            *arguments: The run method's arguments, each converted to JSON by its type hints.
            id: The workflow id (default: a new UUID). One run per id at a time.
            task_queue: The queue its agents poll (default: the client's ``default_task_queue``).
            namespace: The namespace (default: the client's).
            id_reuse_policy: What an id that already ran may do: ``"allow_duplicate"`` (default),
                ``"allow_duplicate_failed_only"`` or ``"reject_duplicate"``.
            run_timeout: Fail the run after this long (a timedelta or seconds).
            retry_policy: Retry the whole run on failure (a ``RetryPolicy`` or its dict).
            memo: Values kept with the run, read back by ``workflow.memo()`` and ``describe()``.
            search_attributes: Values to list and count runs by (``list_workflows(query=...)``).
            ui: A title and summary for the web UI (``{"title": ..., "summary": ...}``).
            lease_timeout: How long an agent may hold one of the run's workflow tasks (a timedelta or seconds;
                the service's default otherwise).
            result_type: The type ``handle.result()`` converts to (default: the run method's return annotation).
            workflow_id: The async SDK's spelling of ``id``.
            args: The arguments as a list, the async SDK's way (not with positional ones).
            retry: The async SDK's spelling of ``retry_policy``.
            workflow_id_reuse_policy: The async SDK's spelling of ``id_reuse_policy``.
            workflow_run_timeout: The async SDK's spelling of ``run_timeout`` (a number is milliseconds).
            workflow_run_timeout_ms: ``run_timeout`` in milliseconds.
            lease_timeout_seconds: The async SDK's spelling of ``lease_timeout``.
            start_signal: Temporal's signal-with-start: this signal reaches the run before its first activation,
                starting the run if it is not running (see ``signal_with_start``).
            start_signal_args: The arguments of ``start_signal``.

        Returns:
            The run's handle (its ``result()`` blocks until the run ends).

        Raises:
            AlreadyExistsError: ``id`` is running, or its reuse policy refuses a new run.
            TypeError: Both spellings of one option were given.
        """
        return self.workflow.start(
            workflow,
            *arguments,
            id=id,
            task_queue=task_queue,
            namespace=namespace,
            id_reuse_policy=id_reuse_policy,
            run_timeout=run_timeout,
            retry_policy=retry_policy,
            memo=memo,
            search_attributes=search_attributes,
            ui=ui,
            lease_timeout=lease_timeout,
            result_type=result_type,
            workflow_id=workflow_id,
            args=args,
            retry=retry,
            workflow_id_reuse_policy=workflow_id_reuse_policy,
            workflow_run_timeout=workflow_run_timeout,
            workflow_run_timeout_ms=workflow_run_timeout_ms,
            lease_timeout_seconds=lease_timeout_seconds,
            start_signal=start_signal,
            start_signal_args=start_signal_args,
        )

    def execute_workflow(
        self,
        workflow: Any,
        *arguments: Any,
        timeout: Optional[float] = None,
        id: Optional[str] = None,
        task_queue: Optional[str] = None,
        namespace: Optional[str] = None,
        id_reuse_policy: Optional[str] = None,
        run_timeout: Any = None,
        retry_policy: Any = None,
        memo: Optional[Mapping[str, Any]] = None,
        search_attributes: Optional[Mapping[str, Any]] = None,
        ui: Optional[Mapping[str, Any]] = None,
        lease_timeout: Any = None,
        result_type: Optional[Any] = None,
        workflow_id: Optional[str] = None,
        args: Optional[Sequence[Any]] = None,
        retry: Any = None,
        workflow_id_reuse_policy: Optional[str] = None,
        workflow_run_timeout: Any = None,
        workflow_run_timeout_ms: Optional[int] = None,
        lease_timeout_seconds: Optional[float] = None,
        start_signal: Optional[Any] = None,
        start_signal_args: Sequence[Any] = (),
    ) -> Any:
        """Start a workflow and block until it ends; return its result (``client.workflow.execute``).

        Args:
            workflow: A ``@workflow.defn`` class, its run method, or its registered name.
            *arguments: The run method's arguments, each converted to JSON by its type hints.
            timeout: Seconds to wait for the result (default: as long as it takes); on expiry a
                ``TimeoutFailure`` is raised and the run goes on.
            id: The workflow id (default: a new UUID). One run per id at a time.
            task_queue: The queue its agents poll (default: the client's ``default_task_queue``).
            namespace: The namespace (default: the client's).
            id_reuse_policy: What an id that already ran may do: ``"allow_duplicate"`` (default),
                ``"allow_duplicate_failed_only"`` or ``"reject_duplicate"``.
            run_timeout: Fail the run after this long (a timedelta or seconds).
            retry_policy: Retry the whole run on failure (a ``RetryPolicy`` or its dict).
            memo: Values kept with the run, read back by ``workflow.memo()`` and ``describe()``.
            search_attributes: Values to list and count runs by (``list_workflows(query=...)``).
            ui: A title and summary for the web UI (``{"title": ..., "summary": ...}``).
            lease_timeout: How long an agent may hold one of the run's workflow tasks (a timedelta or seconds;
                the service's default otherwise).
            result_type: The type ``handle.result()`` converts to (default: the run method's return annotation).
            workflow_id: The async SDK's spelling of ``id``.
            args: The arguments as a list, the async SDK's way (not with positional ones).
            retry: The async SDK's spelling of ``retry_policy``.
            workflow_id_reuse_policy: The async SDK's spelling of ``id_reuse_policy``.
            workflow_run_timeout: The async SDK's spelling of ``run_timeout`` (a number is milliseconds).
            workflow_run_timeout_ms: ``run_timeout`` in milliseconds.
            lease_timeout_seconds: The async SDK's spelling of ``lease_timeout``.
            start_signal: Temporal's signal-with-start: this signal reaches the run before its first activation,
                starting the run if it is not running (see ``signal_with_start``).
            start_signal_args: The arguments of ``start_signal``.

        Raises:
            WorkflowFailureError: The run failed, was cancelled, terminated or timed out.
        """
        return self.workflow.execute(
            workflow,
            *arguments,
            timeout=timeout,
            id=id,
            task_queue=task_queue,
            namespace=namespace,
            id_reuse_policy=id_reuse_policy,
            run_timeout=run_timeout,
            retry_policy=retry_policy,
            memo=memo,
            search_attributes=search_attributes,
            ui=ui,
            lease_timeout=lease_timeout,
            result_type=result_type,
            workflow_id=workflow_id,
            args=args,
            retry=retry,
            workflow_id_reuse_policy=workflow_id_reuse_policy,
            workflow_run_timeout=workflow_run_timeout,
            workflow_run_timeout_ms=workflow_run_timeout_ms,
            lease_timeout_seconds=lease_timeout_seconds,
            start_signal=start_signal,
            start_signal_args=start_signal_args,
        )

    def get_workflow_handle(
        self,
        id: Optional[str] = None,
        *,
        run_id: Optional[str] = None,
        first_execution_run_id: Optional[str] = None,
        result_type: Optional[Any] = None,
        workflow_id: Optional[str] = None,
        workflow_type: Optional[str] = None,
    ) -> WorkflowHandle[Any]:
        """A handle to an existing workflow (see ``WorkflowClient.get_handle``)."""
        return self.workflow.get_handle(
            id,
            run_id=run_id,
            first_execution_run_id=first_execution_run_id,
            result_type=result_type,
            workflow_id=workflow_id,
            workflow_type=workflow_type,
        )

    def list_workflows(
        self,
        *,
        query: Optional[str] = None,
        workflow_id: Optional[str] = None,
        workflow_type: Optional[str] = None,
        state: Optional[str] = None,
        task_queue: Optional[str] = None,
        namespace: Optional[str] = None,
        search_attributes: Optional[Mapping[str, Any]] = None,
        order_by: Optional[str] = None,
        page_size: int = 100,
        run_id: Optional[str] = None,
        limit: Optional[int] = None,
        page_token: Optional[str] = None,
        offset: Optional[int] = None,
        agent_id: Optional[str] = None,
        q: Optional[str] = None,
        order: Optional[str] = None,
        status: Optional[str] = None,
    ) -> Iterator[wt.WorkflowExecution]:
        """Runs matching every filter given, newest first, fetched page by page (``client.workflow.list``).

        Args:
            query: A search-attribute filter, e.g. ``"customer=acme"``.
            workflow_id: Runs of this workflow id.
            workflow_type: Runs of this workflow type.
            state: The service's state: running, succeeded, failed, cancelled, terminated, timed_out or
                continued_as_new.
            task_queue: Runs on this queue.
            namespace: The namespace (default: the client's).
            search_attributes: Runs whose search attributes include these values.
            run_id: One run.
            agent_id: Runs an agent last held.
            q: The async SDK's spelling of ``query``.
            status: Temporal's names: RUNNING, COMPLETED, FAILED, CANCELED, TERMINATED, CONTINUED_AS_NEW,
                TIMED_OUT.
            order_by: ``"-created_at"`` (default, newest first) or ``"created_at"``.
            page_size: Runs fetched per request.
            limit: Stop after this many.
            page_token: Start where a page ended (its ``X-Next-Page-Token``).
            offset: Skip this many first.
            order: The async SDK's spelling of ``order_by``.
        """
        return self.workflow.list(
            query=query,
            workflow_id=workflow_id,
            workflow_type=workflow_type,
            state=state,
            task_queue=task_queue,
            namespace=namespace,
            search_attributes=search_attributes,
            order_by=order_by,
            page_size=page_size,
            run_id=run_id,
            limit=limit,
            page_token=page_token,
            offset=offset,
            agent_id=agent_id,
            q=q,
            order=order,
            status=status,
        )

    def count_workflows(
        self,
        *,
        query: Optional[str] = None,
        workflow_id: Optional[str] = None,
        workflow_type: Optional[str] = None,
        state: Optional[str] = None,
        task_queue: Optional[str] = None,
        namespace: Optional[str] = None,
        search_attributes: Optional[Mapping[str, Any]] = None,
        run_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        q: Optional[str] = None,
        status: Optional[str] = None,
    ) -> int:
        """How many runs match every filter given (``client.workflow.count``).

        Args:
            query: A search-attribute filter, e.g. ``"customer=acme"``.
            workflow_id: Runs of this workflow id.
            workflow_type: Runs of this workflow type.
            state: The service's state: running, succeeded, failed, cancelled, terminated, timed_out or
                continued_as_new.
            task_queue: Runs on this queue.
            namespace: The namespace (default: the client's).
            search_attributes: Runs whose search attributes include these values.
            run_id: One run.
            agent_id: Runs an agent last held.
            q: The async SDK's spelling of ``query``.
            status: Temporal's names: RUNNING, COMPLETED, FAILED, CANCELED, TERMINATED, CONTINUED_AS_NEW,
                TIMED_OUT.
        """
        return self.workflow.count(
            query=query,
            workflow_id=workflow_id,
            workflow_type=workflow_type,
            state=state,
            task_queue=task_queue,
            namespace=namespace,
            search_attributes=search_attributes,
            run_id=run_id,
            agent_id=agent_id,
            q=q,
            status=status,
        )
