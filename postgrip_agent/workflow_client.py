"""WorkflowClient: start, find, list and count workflow runs; handles to them."""

from __future__ import annotations

import logging
import uuid
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from . import types as wt
from ._encoding import duration_ms, encode_args, lease_seconds, plain_value, memo_json, name_of, retry_json, return_type_of
from . import _compat as compat
from ._compat import either
from .interceptor import StartWorkflowInput, through_client
from ._subclient import _check_id, _check_policy, _drop_none, _pages, _SubClient
from .connection import quote_segment as _q
from .errors import PostGripAgentError, TransportError
from .handle import WorkflowHandle
from .inspection import state_and_status


def _arguments(positional: Sequence[Any], keyword: Optional[Sequence[Any]]) -> Sequence[Any]:
    """A workflow's arguments, given positionally (ours) or as ``args=[...]`` (the async SDK's)."""
    if keyword is None:
        return positional
    if positional:
        raise TypeError("pass the workflow's arguments positionally or as args=[...], not both")
    if isinstance(keyword, (str, bytes)) or not isinstance(keyword, Sequence):
        raise TypeError(f"args must be a list of the workflow's arguments, not {type(keyword).__name__}")
    return keyword


log = logging.getLogger("postgrip_agent.client")

#: the service's advice about a request that succeeded (our extension; other services send none)
WARNING_HEADER = "X-PostGrip-Warning"

#: listings come newest first unless told otherwise (the service's own default is oldest first)
NEWEST_FIRST = "-created_at"


class WorkflowClient(_SubClient):
    """Start, find and steer workflows."""

    def _start_payload(
        self,
        workflow: Any,
        args: Sequence[Any],
        *,
        id: Optional[str],
        id_reuse_policy: Optional[str],
        run_timeout: Any,
        retry_policy: Any,
        memo: Optional[Mapping[str, Any]],
        search_attributes: Optional[Mapping[str, Any]],
        ui: Optional[Mapping[str, Any]],
    ) -> Dict[str, Any]:
        workflow_type = name_of(workflow, "workflow")
        _check_id(id, "workflow id")
        _check_policy(id_reuse_policy)
        return _drop_none(
            {
                "workflowType": workflow_type,
                "workflowId": id or str(uuid.uuid4()),
                "workflowIdReusePolicy": id_reuse_policy,
                "runTimeoutMs": duration_ms(run_timeout, "run_timeout") or None,
                "retry": retry_json(retry_policy),
                "memo": memo_json(memo, ui, self._conn.data_converter),
                "searchAttributes": plain_value(dict(search_attributes), "search_attributes") if search_attributes else None,
                "args": encode_args(args, f"workflow {workflow_type} argument", self._conn.data_converter),
            }
        )

    def start(
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
        """Start a workflow run and return its handle.

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
        if start_signal is not None:
            return self.signal_with_start(
                workflow,
                *arguments,
                signal=start_signal,
                signal_args=start_signal_args,
                id=id,
                task_queue=task_queue,
                namespace=namespace,
                id_reuse_policy=id_reuse_policy,
                run_timeout=run_timeout,
                retry_policy=retry_policy,
                memo=memo,
                search_attributes=search_attributes,
                result_type=result_type,
                ui=ui,
                workflow_id=workflow_id,
                args=args,
                retry=retry,
                workflow_id_reuse_policy=workflow_id_reuse_policy,
                workflow_run_timeout=workflow_run_timeout,
                workflow_run_timeout_ms=workflow_run_timeout_ms,
                lease_timeout_seconds=lease_seconds(
                    either("lease_timeout", lease_timeout, "lease_timeout_seconds", lease_timeout_seconds), "lease_timeout"
                ),
            )
        if start_signal_args:
            raise TypeError("start_signal_args= goes with start_signal=")
        id = either("id", id, "workflow_id", workflow_id)
        id_reuse_policy = either("id_reuse_policy", id_reuse_policy, "workflow_id_reuse_policy", workflow_id_reuse_policy)
        run_timeout = compat.run_timeout(run_timeout, workflow_run_timeout, workflow_run_timeout_ms)
        lease_timeout = either("lease_timeout", lease_timeout, "lease_timeout_seconds", lease_timeout_seconds)
        given = list(_arguments(arguments, args))
        payload = self._start_payload(
            workflow,
            given,
            id=id,
            id_reuse_policy=id_reuse_policy,
            run_timeout=run_timeout,
            retry_policy=either("retry_policy", retry_policy, "retry", retry),
            memo=memo,
            search_attributes=search_attributes,
            ui=ui,
        )
        queue = task_queue or self._default_task_queue

        def send(input: StartWorkflowInput) -> WorkflowHandle[Any]:
            sent = dict(payload, workflowId=input.id)
            if input.args is not given:  # an interceptor changed them
                sent["args"] = encode_args(input.args, f"workflow {input.workflow} argument", self._conn.data_converter)
            if input.headers:
                sent["headers"] = dict(input.headers)
            return self._send_start(workflow, sent, namespace, input.task_queue, lease_timeout, result_type)

        start = StartWorkflowInput(
            workflow=payload["workflowType"],
            args=given,
            id=payload["workflowId"],
            task_queue=queue,
            headers={},
            options={"namespace": namespace, "memo": memo, "search_attributes": search_attributes},
        )
        return through_client(self._conn.interceptors, "start_workflow", start, send)  # type: ignore[no-any-return]

    def _send_start(
        self,
        workflow: Any,
        payload: Dict[str, Any],
        namespace: Optional[str],
        task_queue: str,
        lease_timeout: Any,
        result_type: Optional[Any],
    ) -> WorkflowHandle[Any]:
        request = wt.EnqueueTaskRequest(
            type=f"workflow:{payload['workflowType']}",
            namespace=namespace or self._namespace,
            queue=task_queue,
            payload=payload,
            lease_timeout_seconds=lease_seconds(lease_timeout, "lease_timeout"),
        )
        # A workflow start is safe to retry: the id is fixed, so a repeat can never create a second run.
        try:
            data, headers = self._conn.request_full("POST", "/api/v1/tasks", body=wt.to_json(request), idempotent=False)
            if headers.get(WARNING_HEADER):  # e.g. no agent polls for this workflow type: the run would wait
                log.warning("workflow %s started: %s", payload["workflowId"], headers[WARNING_HEADER])
        except TransportError as err:
            if not err.reached_server:
                raise
            data = self._recover_start(payload["workflowId"], err)
        task = wt.from_json(data, wt.Task)
        run_id = (task.payload or {}).get("runId")
        return WorkflowHandle(
            self._conn,
            payload["workflowId"],
            result_run_id=run_id,
            first_execution_run_id=run_id,
            result_type=result_type if result_type is not None else return_type_of(workflow),
            workflow_type=payload["workflowType"],
            task_id=task.id,
        )

    def _recover_start(self, workflow_id: str, err: TransportError) -> Any:
        """The start may or may not have landed: look before starting again."""
        try:
            run = self._conn.request("GET", f"/api/v1/workflows/{_q(workflow_id)}")
        except PostGripAgentError:
            raise err from None
        return self._conn.request("GET", f"/api/v1/tasks/{_q(run['task_id'])}")

    def execute(
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
        """Start a workflow and block until it ends; return its result.

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
        return self.start(
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
        ).result(timeout=timeout)

    def signal_with_start(
        self,
        workflow: Any,
        *arguments: Any,
        signal: Any,
        signal_args: Sequence[Any] = (),
        id: Optional[str] = None,
        task_queue: Optional[str] = None,
        namespace: Optional[str] = None,
        id_reuse_policy: Optional[str] = None,
        run_timeout: Any = None,
        retry_policy: Any = None,
        memo: Optional[Mapping[str, Any]] = None,
        search_attributes: Optional[Mapping[str, Any]] = None,
        result_type: Optional[Any] = None,
        ui: Optional[Mapping[str, Any]] = None,
        workflow_id: Optional[str] = None,
        args: Optional[Sequence[Any]] = None,
        retry: Any = None,
        workflow_id_reuse_policy: Optional[str] = None,
        workflow_run_timeout: Any = None,
        workflow_run_timeout_ms: Optional[int] = None,
        lease_timeout_seconds: Optional[float] = None,
    ) -> WorkflowHandle[Any]:
        """Signal the workflow with this id, starting it first if it is not running.

        The signal is recorded before the run's first activation, so a run started here sees it
        at once. One request, atomic on the service.

        Args:
            workflow: A ``@workflow.defn`` class, its run method, or its registered name.
            *arguments: The run method's arguments (used only if the run is started here).
            signal: The signal: a ``@workflow.signal`` method, a ``define_signal`` definition or its name.
            signal_args: The signal's arguments.
            id: The workflow id (required).
            task_queue: The queue its agents poll (default: the client's ``default_task_queue``).
            namespace: The namespace (default: the client's).
            id_reuse_policy: What an id that already ran may do: ``"allow_duplicate"`` (default),
                ``"allow_duplicate_failed_only"`` or ``"reject_duplicate"``.
            run_timeout: Fail the run after this long (a timedelta or seconds).
            retry_policy: Retry the whole run on failure (a ``RetryPolicy`` or its dict).
            memo: Values kept with the run, read back by ``workflow.memo()`` and ``describe()``.
            search_attributes: Values to list and count runs by (``list_workflows(query=...)``).
            result_type: The type ``handle.result()`` converts to (default: the run method's return annotation).
            ui: A title and summary for the web UI (``{"title": ..., "summary": ...}``).
            workflow_id: The async SDK's spelling of ``id``.
            args: The arguments as a list, the async SDK's way (not with positional ones).
            retry: The async SDK's spelling of ``retry_policy``.
            workflow_id_reuse_policy: The async SDK's spelling of ``id_reuse_policy``.
            workflow_run_timeout: The async SDK's spelling of ``run_timeout`` (a number is milliseconds).
            workflow_run_timeout_ms: ``run_timeout`` in milliseconds.
            lease_timeout_seconds: How long an agent may hold the run's workflow task (as in the contract's
                SignalWithStartWorkflowRequest).

        Returns:
            The handle of the run that received the signal.
        """
        id = either("id", id, "workflow_id", workflow_id)
        if id is None:
            raise TypeError("signal_with_start needs the workflow's id (id= or workflow_id=)")
        _check_id(id, "workflow id")
        payload = self._start_payload(
            workflow,
            _arguments(arguments, args),
            id=id,
            id_reuse_policy=either("id_reuse_policy", id_reuse_policy, "workflow_id_reuse_policy", workflow_id_reuse_policy),
            run_timeout=compat.run_timeout(run_timeout, workflow_run_timeout, workflow_run_timeout_ms),
            retry_policy=either("retry_policy", retry_policy, "retry", retry),
            memo=memo,
            search_attributes=search_attributes,
            ui=ui,
        )
        if lease_timeout_seconds is not None:
            payload["lease_timeout_seconds"] = lease_seconds(lease_timeout_seconds, "lease_timeout_seconds")
        signal_name = name_of(signal, "signal")
        body = {
            **payload,
            "namespace": namespace or self._namespace,
            "queue": task_queue or self._default_task_queue,
            "signal": {
                "name": signal_name,
                "args": encode_args(signal_args, f"signal {signal_name!r} argument", self._conn.data_converter),
            },
        }
        data = self._conn.request("POST", f"/api/v1/workflows/{_q(id)}/signal-with-start", body=body, idempotent=False)
        response = wt.from_json(data, wt.SignalWithStartWorkflowResponse)
        run_id = response.workflow.run_id
        return WorkflowHandle(
            self._conn,
            id,
            result_run_id=run_id,
            first_execution_run_id=run_id,
            result_type=result_type if result_type is not None else return_type_of(workflow),
            workflow_type=payload["workflowType"],
            task_id=response.task.id,
        )

    def get_handle(
        self,
        id: Optional[str] = None,
        *,
        run_id: Optional[str] = None,
        first_execution_run_id: Optional[str] = None,
        result_type: Optional[Any] = None,
        workflow_id: Optional[str] = None,
        workflow_type: Optional[str] = None,
    ) -> WorkflowHandle[Any]:
        """A handle to an existing workflow (``workflow_id`` is the async SDK's spelling of ``id``;
        ``workflow_type``, which it takes, is kept on the handle)."""
        id = either("id", id, "workflow_id", workflow_id)
        if id is None:
            raise TypeError("get_handle needs the workflow's id (id= or workflow_id=)")
        return WorkflowHandle(
            self._conn,
            id,
            run_id=run_id,
            first_execution_run_id=first_execution_run_id,
            result_type=result_type,
            workflow_type=workflow_type,
        )

    def list(
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
        """Runs matching the filters, newest first (``order_by`` changes it: ``"created_at"`` for
        oldest first), page by page.
        ``run_id`` picks one run; ``agent_id`` those an agent last held; ``limit`` stops after
        that many; ``page_token`` (a page's ``X-Next-Page-Token``, as the async SDK pages) or
        ``offset`` starts there. ``q`` and ``order`` are the async SDK's names of ``query`` and
        ``order_by``. ``status`` (Temporal's names: RUNNING, COMPLETED, FAILED, CANCELED,
        TERMINATED, CONTINUED_AS_NEW, TIMED_OUT; see ``WorkflowExecution.status``), or a ``state``
        of ``cancelled``, ``terminated`` or ``timed_out``, picks runs that ended so."""
        query = either("query", query, "q", q)
        state, wanted = state_and_status(state, status)
        params = self._filters(
            query, workflow_id, workflow_type, state, task_queue, namespace, search_attributes, run_id, agent_id
        )
        # a page token carries its listing's order; else newest first
        params["order_by"] = either("order_by", order_by, "order", order) or (None if page_token else NEWEST_FIRST)
        left = limit
        runs = _pages(
            self._conn,
            "/api/v1/workflows",
            params,
            page_size,
            limit=None if wanted else limit,
            page_token=page_token,
            offset=offset,
        )
        for raw in runs:
            run = wt.from_json(raw, wt.WorkflowExecution)
            if wanted is not None and run.status != wanted:
                continue
            if left is not None:
                if left <= 0:
                    return
                left -= 1
            yield run

    def list_page(
        self,
        *,
        page_size: int = 50,
        page_token: Optional[str] = None,
        query: Optional[str] = None,
        workflow_type: Optional[str] = None,
        state: Optional[str] = None,
        status: Optional[str] = None,
        task_queue: Optional[str] = None,
        namespace: Optional[str] = None,
        search_attributes: Optional[Mapping[str, Any]] = None,
        order_by: Optional[str] = None,
    ) -> Tuple[List[wt.WorkflowExecution], Optional[str]]:
        """One page of runs (newest first unless ``order_by`` says otherwise) and the token of the
        next page (None after the last): what a paged view or ``workflow list --page-token`` shows.
        A ``status`` the service cannot filter on is applied to the page, which may then be short."""
        if not isinstance(page_size, int) or not 1 <= page_size <= 1000:
            raise ValueError(f"page_size must be an integer 1..1000, got {page_size!r}")
        state, wanted = state_and_status(state, status)
        params = self._filters(query, None, workflow_type, state, task_queue, namespace, search_attributes)
        params.update(order_by=order_by or (None if page_token else NEWEST_FIRST), limit=page_size, page_token=page_token)
        items, headers = self._conn.request_full("GET", "/api/v1/workflows", params=params)
        runs = [wt.from_json(raw, wt.WorkflowExecution) for raw in items]
        token = headers.get("X-Next-Page-Token") if items else None
        return [r for r in runs if wanted is None or r.status == wanted], token or None

    def count(
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
        """How many runs match the filters (as for [`list()`][postgrip_agent.workflow_client.WorkflowClient.list]; a FAILED, CANCELED, TERMINATED or
        TIMED_OUT ``status`` is counted by listing the failed runs)."""
        wire_state, wanted = state_and_status(state, status)
        if wanted is not None:
            return sum(
                1
                for _ in self.list(
                    query=query,
                    q=q,
                    workflow_id=workflow_id,
                    workflow_type=workflow_type,
                    state=state,
                    status=status,
                    task_queue=task_queue,
                    namespace=namespace,
                    search_attributes=search_attributes,
                    run_id=run_id,
                    agent_id=agent_id,
                    page_size=500,
                )
            )
        state = wire_state
        params = self._filters(
            either("query", query, "q", q),
            workflow_id,
            workflow_type,
            state,
            task_queue,
            namespace,
            search_attributes,
            run_id,
            agent_id,
        )
        return int(self._conn.request("GET", "/api/v1/workflows/count", params=params)["count"])

    @staticmethod
    def _filters(
        query: Optional[str],
        workflow_id: Optional[str],
        workflow_type: Optional[str],
        state: Optional[str],
        task_queue: Optional[str],
        namespace: Optional[str],
        search: Optional[Mapping[str, Any]],
        run_id: Optional[str] = None,
        agent_id: Optional[str] = None,
    ) -> Dict[str, Any]:
        if state is not None and state not in wt.WORKFLOW_STATES:
            raise ValueError(f"state must be one of {', '.join(wt.WORKFLOW_STATES)}, got {state!r}")
        params: Dict[str, Any] = {
            "q": query,
            "id": workflow_id,
            "type": workflow_type,
            "state": state,
            "queue": task_queue,
            "namespace": namespace,
            "run_id": run_id,
            "agent_id": agent_id,
        }
        for key, value in (search or {}).items():
            params[f"search.{key}"] = value
        return params
