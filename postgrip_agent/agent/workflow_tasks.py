"""Running workflow, query and update tasks: replay, then send what the run decided."""

from __future__ import annotations

import logging
import threading
import time
import traceback
from typing import Any, Callable, Dict, List, Optional, Sequence, Type, TypeVar

from .._encoding import encode_args, encode_value
from .._runtime.history import History
from .._runtime.futures import WorkflowFuture
from .._runtime.instance import UPDATE_SIGNAL, WorkflowInstance
from ..interceptor import WorkflowInboundInterceptor
from .._runtime.records import ContinueAsNew, NotAContinuation, WorkflowInfo
from ..errors import (
    ApplicationFailure,
    DecodeError,
    PostGripAgentError,
    TransportError,
    UnavailableError,
    failure_info,
    stack_text,
)
from ..inspection import failure_chain
from .dispatch import LocalDispatch
from .lane import AgentLane, InvalidCommand, TaskGone
from .run_cache import LiveRun, LiveRunCache

log = logging.getLogger("postgrip_agent.agent")

T = TypeVar("T")

#: what the service or the network may answer for a while and then not: never the run's fault
TRANSIENT = (TransportError, UnavailableError, DecodeError)
#: how long one workflow task's activation is retried through transient faults (the lease keeper
#: renews its lease meanwhile); past it, the task is left to its lease and runs again later
TRANSIENT_RETRY_SECONDS = 60.0
MAX_TRANSIENT_BACKOFF = 5.0


class _ServiceFault(Exception):
    """A transient fault met while reading what a replay needs: carried past the handler for
    the run's own errors (a replay's failure fails the run; this must not)."""

    def __init__(self, error: PostGripAgentError) -> None:
        super().__init__(str(error))
        self.error = error


def _fetch(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    try:
        return call(*args, **kwargs)
    except TRANSIENT as err:
        raise _ServiceFault(err) from err


def _headers(payload: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """What the run's start carried for the interceptors (a JSON object under ``headers``)."""
    headers = payload.get("headers")
    return headers if isinstance(headers, dict) else None


def _seq(event: Dict[str, Any]) -> Optional[int]:
    raw = str(event.get("id", ""))
    return int(raw) if raw.isdigit() else None


def _after(events: List[Dict[str, Any]], last_seq: int) -> List[Dict[str, Any]]:
    return [e for e in events if (_seq(e) or 0) > last_seq]


class WorkflowTaskRunner:
    def __init__(
        self,
        lane: AgentLane,
        workflows: Dict[str, Any],
        cache_size: int = 1_000,
        eager: Optional[LocalDispatch] = None,
        stopping: Optional[threading.Event] = None,
        default_start_to_close_ms: Optional[int] = None,
        interceptors: Sequence[Type[WorkflowInboundInterceptor]] = (),
    ) -> None:
        self.lane = lane
        #: how arguments and results cross the wire (typed values, codecs): the connection's
        self.converter = lane.connection.data_converter
        #: the workflow interceptors' classes (each run builds its chains from them)
        self.interceptors: List[Type[WorkflowInboundInterceptor]] = list(interceptors)
        self.default_start_to_close_ms = default_start_to_close_ms
        self.stopping = stopping or threading.Event()
        self.workflows = workflows
        self.eager = eager
        self.cache = LiveRunCache(cache_size)
        #: queries answered from a live instance (no replay)
        self.live_queries = 0

    def run(self, task: Dict[str, Any]) -> None:
        """Run one workflow, query or update task. A transient fault (the service or the network
        unavailable) is retried with backoff while the agent holds the lease, never charged to
        the run; only the run's own code fails it."""
        delay = 0.1
        give_up = time.monotonic() + TRANSIENT_RETRY_SECONDS
        while True:
            try:
                self._run_once(task)
                return
            except TRANSIENT as err:
                if self.stopping.is_set() or time.monotonic() + delay > give_up:
                    raise  # the lease lapses (or is handed back) and the task runs again later
                log.warning(
                    "task %s (%s): the service is unavailable (%s); trying again in %.1fs", task["id"], task["type"], err, delay
                )
                if self.stopping.wait(delay):
                    raise
                delay = min(delay * 2, MAX_TRANSIENT_BACKOFF)

    def _run_once(self, task: Dict[str, Any]) -> None:
        kind = task["type"].split(":", 1)[0]
        try:
            if kind == "workflow":
                self._workflow(task)
            else:
                self._handler(task, kind)
        except TaskGone as err:
            log.info("task %s (%s) was taken from this agent: %s", task["id"], task["type"], err)
        except PostGripAgentError:
            raise  # the service or the network: transient, the lease lapses and the task is retried
        except Exception as err:
            # Anything else would fail again on every retry: surface it in the run's history
            # (WorkflowExecutionFailed, with the traceback) rather than retry silently for ever.
            log.exception("workflow task %s (%s) failed inside the agent", task["id"], task["type"])
            message = f"workflow task failed in agent {self.lane.identity}: {type(err).__name__}: {err}"
            self.lane.fail(
                task["id"],
                message,
                {"message": message, "type": "WorkflowTaskFailed", "non_retryable": True, "details": [traceback.format_exc()]},
                stack_trace=traceback.format_exc(),
            )

    # ------------------------------------------------------------------ workflow tasks

    def _info(self, task: Dict[str, Any], history: History, run_id: str, workflow_id: str, workflow_type: str) -> WorkflowInfo:
        started = history.started
        return WorkflowInfo(
            workflow_id=workflow_id,
            run_id=run_id,
            workflow_type=workflow_type,
            task_queue=task["queue"],
            namespace=task["namespace"],
            task_id=started.task_id or task["id"],
            attempt=int(started.attributes.get("attempt") or 1),
            parent_workflow_id=started.attributes.get("parent_workflow_id"),
            continued_from_run_id=started.attributes.get("continued_from_run_id"),
            start_time=started.created_at,
        )

    def _workflow(self, task: Dict[str, Any]) -> None:
        payload = task.get("payload") or {}
        workflow_type = payload.get("workflowType") or task["type"][len("workflow:") :]
        run_id = payload.get("runId")
        target = self.workflows.get(workflow_type)
        if target is None or not run_id:
            problem = (
                (
                    f"workflow {workflow_type} is not registered with the agent on queue {task.get('queue')!r} "
                    f"(it has: {', '.join(sorted(self.workflows)) or 'none'}); register it there, or start it on "
                    "the queue of an agent that has it"
                )
                if run_id
                else "workflow task has no runId"
            )
            self.lane.fail(task["id"], problem, {"message": problem, "type": "WorkflowNotRegistered", "non_retryable": True})
            return
        entry = self.cache.entry(run_id)
        with entry.lock:
            keep = False
            try:
                keep = self._activation(task, entry, target, run_id, workflow_type)
            finally:
                if not keep or entry.dropped:
                    self.cache.forget(run_id, entry)
                    entry.discard()

    def _activation(self, task: Dict[str, Any], entry: LiveRun, target: Any, run_id: str, workflow_type: str) -> bool:
        """Run one activation; True when the run's live instance should stay cached."""
        payload = task.get("payload") or {}
        instance = entry.instance
        tail = self.lane.take_history(task["id"])  # (cursor, events after it) when the service sent them
        cursor = self.lane.cursor(task["id"])
        try:
            outcome = None
            if instance is not None:
                try:
                    if tail is not None and tail[0] <= instance.last_seq:
                        events = _after(tail[1], instance.last_seq)
                    else:
                        events = _fetch(self._events_since, run_id, instance.last_seq)
                    outcome = instance.advance(events)
                    self.cache.hits += 1
                except NotAContinuation as miss:
                    log.info("workflow run %s: %s; replaying it from history", run_id, miss)
                    entry.discard()
            if outcome is None:
                self.cache.misses += 1
                history = History(tail[1] if tail is not None and tail[0] == 0 else _fetch(self.lane.history, run_id))
                info = self._info(task, history, run_id, payload.get("workflowId") or task["id"], workflow_type)
                # replayed up to where the previous activation got: the events it applied, when the service
                # tells (history-tail), else its last command. Log lines from before are not written again;
                # an event that arrived while it ran (a signal recorded before its commands) is new
                live_after = history.last_command_seq if cursor is None else cursor
                entry.instance = instance = WorkflowInstance(
                    target,
                    info,
                    history,
                    live_after_seq=live_after,
                    converter=self.converter,
                    interceptors=self.interceptors,
                    headers=_headers(payload),
                )
                instance.markers = self.lane._has("markers")
                instance.default_start_to_close_ms = self.default_start_to_close_ms
                outcome = instance.activate()
        except ContinueAsNew as can:
            assert instance is not None
            self._emit(task, instance)
            self._continue_as_new(task, instance.info, can)
            return False
        except _ServiceFault as fault:
            raise fault.error from None
        except Exception as failure:  # a determinism violation, or the run's code broke replay itself
            log.error("workflow run %s failed during replay: %s", run_id, failure)
            self.lane.fail(task["id"], str(failure) or type(failure).__name__, failure_info(failure))
            return False
        assert instance is not None
        info = instance.info
        self._emit(task, instance)
        self._finish_updates(instance, task["id"])
        if outcome.done():
            error = outcome.exception()
            if error is None:
                try:
                    value = encode_value(outcome.result(), f"workflow {workflow_type} result", self.converter)
                except TypeError as err:
                    self.lane.fail(task["id"], str(err), {"message": str(err), "type": "TypeError", "non_retryable": True})
                    return False
                self.lane.complete(task["id"], {"value": value})
            else:
                log.info("workflow %s run %s failed: %r", info.workflow_id, run_id, error)
                self._report_failure(task["id"], error)
            return False
        # the entry stays locked until the block is sent: the next activation waits for it
        try:
            self._end_activation(task["id"], instance)
        except InvalidCommand as err:
            message = f"cannot schedule a command: {err}"
            self.lane.fail(task["id"], message, {"message": message, "type": "InvalidCommand", "non_retryable": True})
            return False
        return self.cache.size > 0

    def _end_activation(self, task_id: str, instance: WorkflowInstance) -> None:
        """Send the new commands and block; activities leased back at once go to the activity pool."""
        eager = self.eager
        local = [
            c
            for c in instance.new_commands
            if c.kind == "activity"
            and eager is not None
            and c.request.get("queue") == eager.queue
            and c.request.get("type", "").startswith(tuple(eager.types))
        ]
        reserved = eager.reserve(len(local)) if eager is not None and local else 0
        leased: List[Dict[str, Any]] = []
        try:
            spec = {"queue": eager.queue, "types": eager.types, "max": reserved} if eager is not None and reserved else None
            leased = self.lane.end_activation(
                task_id,
                [c.request for c in instance.new_commands],
                f"waiting ({len(instance.new_commands)} new command(s))",
                eager=spec,
                cursor=instance.last_seq,
            )
        finally:
            if eager is not None:
                for activity_task in leased:
                    eager.dispatch(activity_task)  # each uses one reserved slot
                eager.release(reserved - len(leased))

    def _report_failure(self, task_id: str, error: BaseException) -> None:
        """Fail the workflow task with the full stack text (the workflow's traceback and the
        activity's behind it), after recording the failure's cause chain as a task event."""
        event = {
            "kind": "failed",
            "stage": "workflow",
            "message": (str(error) or type(error).__name__)[:2000],
            "details": {"failure_chain": failure_chain(error)},
        }
        try:
            self.lane.event(task_id, event)
        except TaskGone:
            raise
        except PostGripAgentError as err:  # the chain is a convenience; the failure itself must go through
            log.warning("could not record the failure chain of task %s: %s", task_id, err)
        self.lane.fail(task_id, str(error) or type(error).__name__, failure_info(error), stack_trace=stack_text(error))

    def _finish_updates(self, instance: WorkflowInstance, workflow_task: str) -> None:
        """Report updates whose handlers finished inside the workflow (each once: later replays get 409),
        under the lease of the workflow task whose activation finished them."""
        for update_task, outcome in instance.updates_in_workflow.items():
            if not outcome.done():
                continue
            try:
                error = outcome.exception()
                if error is None:
                    self.lane.complete(
                        update_task,
                        {"value": encode_value(outcome.result(), "update result", self.converter)},
                        lease_of=workflow_task,
                    )
                else:
                    self.lane.fail(update_task, str(error) or type(error).__name__, failure_info(error), lease_of=workflow_task)
            except (TaskGone, TypeError) as err:
                log.debug("update task %s already finished: %s", update_task, err)

    def _emit(self, task: Dict[str, Any], instance: WorkflowInstance) -> None:
        """What the activation tells beyond its commands: children it asks to cancel, milestones."""
        for child_id, reason in instance.child_cancels:
            self.lane.cancel_workflow(child_id, reason, lease_of=task["id"])
        for event in instance.milestones:
            try:
                self.lane.event(task["id"], event)
            except TaskGone:
                raise
            except PostGripAgentError as err:
                log.warning("could not record milestone on task %s: %s", task["id"], err)

    def _continue_as_new(self, task: Dict[str, Any], info: WorkflowInfo, can: ContinueAsNew) -> None:
        queue = can.task_queue or info.task_queue
        next_id = can.workflow_id or info.workflow_id
        payload: Dict[str, Any] = {
            "namespace": info.namespace,
            "workflowType": can.workflow_type,
            "workflowId": next_id,
            "continuedFromWorkflowId": info.workflow_id,
            "args": encode_args(can.next_values, "continue_as_new argument", self.converter),
        }
        if can.run_timeout_ms:
            payload["runTimeoutMs"] = can.run_timeout_ms
        if can.retry:
            payload["retry"] = can.retry
        headers = _headers(task.get("payload") or {})
        if headers:  # the next run carries what this one was started with (a trace goes on through the chain)
            payload["headers"] = headers
        request: Dict[str, Any] = {
            "type": f"workflow:{can.workflow_type}",
            "namespace": info.namespace,
            "queue": queue,
            "payload": payload,
        }
        if can.lease_timeout_seconds:
            request["lease_timeout_seconds"] = can.lease_timeout_seconds
        next_task = self.lane.enqueue(request, lease_of=task["id"])
        self.lane.complete(
            task["id"],
            {
                "message": "workflow continued as new",
                "continue_as_new": {
                    "workflow_id": next_id,
                    "workflow_type": can.workflow_type,
                    "task_queue": queue,
                    "task_id": next_task["id"],
                },
            },
        )

    # ------------------------------------------------------------------ queries and updates

    def _events_since(self, run_id: str, last_seq: int) -> List[Dict[str, Any]]:
        """The run's history events after ``last_seq`` (one request)."""
        return _after(self.lane.history(run_id, after=last_seq), last_seq)

    def _live_query(
        self, run_id: str, name: str, args: List[Any], headers: Optional[Dict[str, Any]] = None
    ) -> Optional[WorkflowFuture[Any]]:
        """Answer from the cached live instance when it is up to date with history (else None)."""
        entry = self.cache.peek(run_id)
        if entry is None:
            return None
        with entry.lock:
            instance = entry.instance
            if instance is None or entry.dropped:
                return None
            if self._events_since(run_id, instance.last_seq):
                return None  # events it has not applied yet: a replay sees them, the live instance does not
            self.live_queries += 1
            return instance.query(name, args, headers)

    def _handler(self, task: Dict[str, Any], kind: str) -> None:
        payload = task.get("payload") or {}
        name = payload.get("queryName" if kind == "query" else "updateName") or ""
        try:
            workflow_type = payload.get("workflowType") or task["type"].split(":", 1)[1]
            target = self.workflows.get(workflow_type)
            if target is None:
                raise ApplicationFailure(
                    f"workflow {workflow_type} is not registered with this agent",
                    type="WorkflowNotRegistered",
                    non_retryable=True,
                )
            run_id = str(payload.get("workflowRunId") or payload.get("workflowId") or "")
            if not run_id:
                raise ApplicationFailure(f"{kind} task has no workflowId", type="InvalidPayload", non_retryable=True)
            headers = payload.get("headers") if isinstance(payload.get("headers"), dict) else None
            live = self._live_query(run_id, name, list(payload.get("args") or []), headers) if kind == "query" else None
            if live is not None:
                outcome = live
            else:
                history = History(self.lane.history(run_id))
                info = self._info(task, history, run_id, str(payload.get("workflowId") or run_id), str(workflow_type))
                instance = WorkflowInstance(
                    target,
                    info,
                    history,
                    query_mode=True,
                    live_after_seq=history.last_seq,
                    converter=self.converter,
                    interceptors=self.interceptors,
                )
                try:
                    instance.activate()
                except ContinueAsNew:
                    pass
                outcome = instance.call_handler(kind, name, list(payload.get("args") or []), headers)
            if not outcome.done() and kind == "update":
                # The handler waits on workflow futures: run it inside the workflow itself.
                handed = [task["id"], name, list(payload.get("args") or [])] + ([headers] if headers else [])
                self.lane.signal(run_id, UPDATE_SIGNAL, handed, lease_of=task["id"])
                self.lane.block(task["id"], "update handed to its workflow")
                return
            if not outcome.done():
                raise ApplicationFailure(
                    f"query handler {name!r} waited on a workflow future; query handlers must return without waiting",
                    type="HandlerBlocked",
                    non_retryable=True,
                )
            value = encode_value(outcome.result(), f"{kind} {name!r} result", self.converter)
        except (TaskGone, *TRANSIENT):
            raise  # not the handler's failure: the task is dropped, or retried
        except BaseException as err:  # the handler rejected or failed: the caller gets the failure
            if not isinstance(err, Exception):
                raise
            self.lane.fail(task["id"], str(err) or type(err).__name__, failure_info(err))
            return
        self.lane.complete(task["id"], {"value": value})
