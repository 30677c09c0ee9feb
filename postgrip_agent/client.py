"""The blocking Client: one connection, its defaults, and its groups of operations."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Iterator, List, Optional, Sequence, Union

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
        cls, address: Union[str, Sequence[str], InProcessService, None] = None, *, namespace: str = "default",
        default_task_queue: str = "default", check_health: bool = True, **connection_options: Any,
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
                    "'postgrip-agent server' or set POSTGRIP_AGENTORCHESTRATOR_URL", reached_server=err.reached_server,
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
        return wt.from_json(self.connection.request("GET", "/healthz", timeout=min(5.0, self.connection.timeout)), wt.HealthResponse)

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
        return wt.from_json(self.connection.request("POST", "/api/v1/namespaces", body={"name": name}, idempotent=False), wt.Namespace)

    def compact(self, *, retention: Union[timedelta, float] = 0) -> wt.CompactResponse:
        """Drop finished runs, task events and history older than ``retention`` (a timedelta or seconds) from the service's store."""
        seconds = (duration_ms(retention, "retention") or 0) // 1000
        data = self.connection.request("POST", "/api/v1/admin/compact", body={"retention_seconds": seconds}, idempotent=True)
        return wt.from_json(data, wt.CompactResponse)

    # workflow shortcuts, Temporal-style
    def start_workflow(self, workflow: Any, *args: Any, **options: Any) -> WorkflowHandle[Any]:
        """Start a workflow (a ``@workflow.defn`` class, its run method, or its name) with ``args``; return its handle. Options: ``id``, ``task_queue``, ``id_reuse_policy``, ``run_timeout``, ``retry_policy``, ``memo``, ``search_attributes`` and the async SDK's spellings (see ``WorkflowClient.start``)."""
        return self.workflow.start(workflow, *args, **options)

    def execute_workflow(self, workflow: Any, *args: Any, timeout: Optional[float] = None, **options: Any) -> Any:
        """Start a workflow and block until it finishes; return its result (``timeout``: seconds to wait). Options as for :meth:`start_workflow`."""
        return self.workflow.execute(workflow, *args, timeout=timeout, **options)

    def get_workflow_handle(self, id: Optional[str] = None, *, run_id: Optional[str] = None,
                            first_execution_run_id: Optional[str] = None, result_type: Optional[Any] = None,
                            workflow_id: Optional[str] = None, workflow_type: Optional[str] = None) -> WorkflowHandle[Any]:
        """A handle to an existing workflow (see ``WorkflowClient.get_handle``)."""
        return self.workflow.get_handle(id, run_id=run_id, first_execution_run_id=first_execution_run_id,
                                        result_type=result_type, workflow_id=workflow_id, workflow_type=workflow_type)

    def list_workflows(self, **filters: Any) -> Iterator[wt.WorkflowExecution]:
        """Runs matching the filters (``workflow_type``, ``state``, ``task_queue``, ``query``, ...), newest first, fetched page by page."""
        return self.workflow.list(**filters)

    def count_workflows(self, **filters: Any) -> int:
        """How many runs match the filters (as for :meth:`list_workflows`)."""
        return self.workflow.count(**filters)
