"""One workflow run: the cooperative scheduler and the command matcher.

A cold activation re-runs the workflow from the top (``activate``). The main body and any
handler bodies run round-robin, in a fixed order, until every one waits on an unresolved
future. Then the next history event is applied (a future resolved, a signal delivered, ...)
and the bodies run again, until the history is used up. Commands the bodies issue are
matched, in order, against the commands recorded in history; those beyond it are new, and
the agent sends them. A live instance kept between activations takes only the events that
came since (``advance``): the commands it issued last time are matched as history records
them, with the same checks. ``teardown`` closes the bodies of an instance that is dropped so
that no ``finally:`` block issues commands then. Nothing here touches the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import logging
import random as _random
import uuid as _uuid
from datetime import datetime, timedelta
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Type


from .calls import _call, _init_takes_args, set_decoded
from .intercept import Interception
from ..converter import DEFAULT, DataConverter
from ..interceptor import WorkflowInboundInterceptor
from ..errors import ApplicationFailure, CancelledFailure, activity_error, child_error
from ..types import format_timestamp
from .bodies import Body, Scope
from .cancelling import Cancelling
from .contract import RunningWorkflow
from .futures import WorkflowFuture, failed, hash_sequence, new_hash_sequence, resolved
from .history import Event, History, argument_drift
from .loop import WorkflowLoop, WorkflowTask, as_failure, task_body
from .records import ContinueAsNew, NewCommand, NotAContinuation, WorkflowInfo, _TearingDown, determinism_violation

log = logging.getLogger("postgrip_agent.workflow")

#: the signal that hands an update whose handler waits to the workflow itself
UPDATE_SIGNAL = "__postgrip_update__"

current: contextvars.ContextVar[Optional["WorkflowInstance"]] = contextvars.ContextVar("postgrip_workflow_instance", default=None)


def running(what: str) -> "WorkflowInstance":
    """The run whose code is running; ``workflow.<what>()`` outside one is a RuntimeError."""
    instance = current.get()
    if instance is None:
        raise RuntimeError(f"workflow.{what}() can only be called from inside a workflow run by an Agent")
    return instance


class WorkflowInstance(Cancelling):
    def __init__(
        self,
        target: Any,
        info: WorkflowInfo,
        history: History,
        *,
        query_mode: bool = False,
        live_after_seq: int = 0,
        args: Optional[List[Any]] = None,
        converter: DataConverter = DEFAULT,
        interceptors: Sequence[Type[WorkflowInboundInterceptor]] = (),
        headers: Optional[Dict[str, Any]] = None,
    ) -> None:
        self.target = target
        #: how arguments and results cross the wire (typed values, codecs); the interceptors' chains
        self.converter, self.interception = converter, Interception(interceptors, info.workflow_type)
        self.headers = headers or {}  # what the start carried for the interceptors
        self.info, self.history, self.query_mode, self.live_after_seq = info, history, query_mode, live_after_seq
        self.args = list(history.started.attributes.get("args") or []) if args is None else args
        #: a replayed command whose arguments differ from history's is a DeterminismViolation (else a warning)
        self.strict_arguments = False
        #: the start-to-close timeout of activities that name none (the Agent's default; None: no deadline)
        self.default_start_to_close_ms: Optional[int] = None
        #: (child workflow id, reason) of children this activation asks to cancel
        self.child_cancels: List[Tuple[str, str]] = []
        self.now: datetime = history.started.created_at
        self.current_seq = history.started.seq
        self.rng = _random.Random(f"{info.run_id}:{info.workflow_id}")
        self.root, self.bodies = Scope(None, cancellable=True), []  # type: Scope, List[Body]
        #: the generator body being stepped (a task's body is in its context: loop.task_body)
        self._stepping: Optional[Body] = None
        self.loop, self.hashes = WorkflowLoop(self), new_hash_sequence()
        #: continue-as-new raised inside a task (a generator's propagates at once)
        self.continuing: Optional[ContinueAsNew] = None
        self.futures_by_task: Dict[str, Tuple[WorkflowFuture[Any], str]] = {}
        self.new_commands: List[NewCommand] = []
        self.milestones: List[Dict[str, Any]] = []
        self.conditions: List[Tuple[Callable[[], bool], WorkflowFuture[Any]]] = []
        self.handlers: Dict[Tuple[str, str], Callable[..., Any]] = {}
        self.validators: Dict[str, Callable[..., Any]] = {}
        self.buffered_signals: List[Tuple[str, List[Any], Optional[Dict[str, Any]]]] = []
        #: update task id -> outcome of its handler running inside the workflow
        self.updates_in_workflow: Dict[str, WorkflowFuture[Any]] = {}
        self.cancel_requested, self.instance = False, None  # type: bool, Any
        self.main: Optional[Body] = None
        #: every command issued, in order: (kind, name, future) — history binds them to tasks
        self.issued_futures: List[Tuple[str, Any, WorkflowFuture[Any]]] = []
        #: the seq of the last event applied
        self.last_seq = self.current_seq
        self.tearing_down = False
        #: a query is being answered from this live instance: it may not change anything
        self.querying = False
        #: the service records markers (extension ``markers``); without it, a zero-length timer is one
        self.markers = True
        #: patch id -> whether this run takes the patched branch (asked once, the same after)
        self.patches: Dict[str, bool] = {}

    # ================================================================== driving

    @contextlib.contextmanager
    def _running(self, hashes: Optional[Iterator[int]] = None) -> Iterator[None]:
        """Workflow code runs: this instance is current, and its loop is the thread's running loop."""
        token = current.set(self)
        hash_token = hash_sequence.set(hashes or self.hashes)
        previous_loop = asyncio.events._get_running_loop()
        asyncio.events._set_running_loop(self.loop)
        try:
            yield
        finally:
            asyncio.events._set_running_loop(previous_loop)
            hash_sequence.reset(hash_token)
            current.reset(token)

    def activate(self) -> WorkflowFuture[Any]:
        """Replay the whole history; return the main body's outcome future (maybe pending)."""
        with self._running():
            self._start()
            self._run_until_blocked()
            self._apply_all(self.history.events[1:])
            if self.main is not None and not self.query_mode:
                self._check_all_commands_replayed()
            assert self.main is not None
            return self.main.outcome

    def advance(self, raw_events: List[Dict[str, Any]]) -> WorkflowFuture[Any]:
        """Apply the events that came since the last activation to this live instance; return
        the main body's outcome. Raises NotAContinuation when history went somewhere else."""
        assert self.main is not None
        recorded_before = len(self.history.commands)
        added = self.history.extend(raw_events)
        newly = self.history.commands[recorded_before:]
        if len(self.history.commands) > len(self.issued_futures):
            raise NotAContinuation(
                f"history records {len(self.history.commands)} commands, this instance issued "
                f"{len(self.issued_futures)}: another agent advanced run {self.info.run_id}"
            )
        for index, recorded in enumerate(newly, start=recorded_before):
            kind, name, future = self.issued_futures[index]
            if recorded.kind != kind or recorded.name != name:
                raise determinism_violation(
                    f"command #{index + 1} differs from history: history has {recorded.kind} {recorded.name!r}, "
                    f"the workflow issued {kind} {name!r} (run {self.info.run_id})"
                )
            self.futures_by_task[recorded.task_id] = (future, kind)
        self.new_commands, self.milestones, self.child_cancels = [], [], []
        self.live_after_seq = self.last_seq
        with self._running():
            self._apply_all(added)
            return self.main.outcome

    def _apply_all(self, events: List[Event]) -> None:
        for event in events:
            if self.main is not None and self.main.outcome.done():
                break
            self.now, self.current_seq = event.created_at, event.seq
            self._apply(event)
            self._run_until_blocked()
        if events:
            self.last_seq = max(self.last_seq, events[-1].seq)

    def teardown(self) -> None:
        """Drop the instance without side effects: each unfinished body is closed here (not
        later by the garbage collector), and workflow calls its ``finally:`` blocks make raise
        before issuing anything; logging through ``workflow.logger`` stays silent."""
        self.tearing_down = True
        with self._running():
            for body in self.bodies:
                try:
                    body.close()
                except BaseException:  # a finally block that called the workflow API: stopped there
                    pass
            self.bodies = []
            self.loop.clear()

    def _handler_for(self, kind: str, name: str) -> Callable[..., Any]:
        handler = self.handlers.get((kind, name))
        if handler is None:
            known = sorted(n for k, n in self.handlers if k == kind)
            raise ApplicationFailure(
                f"workflow {self.info.workflow_type} ({self.info.workflow_id}) has no {kind} handler {name!r}"
                f"; known: {', '.join(known) or 'none'}",
                type=f"{kind.capitalize()}NotFound",
                non_retryable=True,
            )
        return handler

    def query(self, name: str, args: List[Any], headers: Optional[Dict[str, Any]] = None) -> WorkflowFuture[Any]:
        """Answer a query from this live instance: only the handler runs, and it changes nothing
        (its futures and tasks do not even take hashes from the run's sequence)."""
        self.querying = True
        body: Optional[Body] = None
        try:
            with self._running(new_hash_sequence()):
                body = self._spawn(self._handler_for("query", name), args, f"query handler {name!r}", ("query", name, headers))
                progressed = True
                while progressed:
                    progressed = self.loop.run_ready()
                    while body.ready():
                        self._step(body)
                        progressed = True
                return body.outcome
        finally:
            if body is not None and body in self.bodies:
                self.bodies.remove(body)
                if not body.outcome.done():
                    body.close()
            self.querying = False

    def call_handler(
        self, kind: str, name: str, args: List[Any], headers: Optional[Dict[str, Any]] = None
    ) -> WorkflowFuture[Any]:
        """Run a query or update handler against the replayed state (query mode)."""
        with self._running():
            handler = self._handler_for(kind, name)
            validator = self.validators.get(name) if kind == "update" else None
            if validator is not None:
                _call(validator, args, f"{kind} {name!r} validator", self.converter)
            body = self._spawn(handler, args, f"{kind} handler {name!r}", (kind, name, headers))
            self._run_until_blocked()
            return body.outcome

    def _start(self) -> None:
        target = self.target
        run = getattr(target, "_postgrip_run_method", None)
        if inspect.isclass(target):
            init_args = self.args if _init_takes_args(target) else []
            try:
                self.instance = _call(target, init_args, f"workflow {self.info.workflow_type} __init__", self.converter)
            except ContinueAsNew:
                raise
            except Exception as err:  # a failing __init__ fails the run like a failing body
                self.main = Body(iter(()), f"workflow {self.info.workflow_type}", [self.root])
                self.main.started = True
                self.main.outcome.set_exception(err)
                return
            assert run is not None
            for kind, name, method, check in getattr(target, "_postgrip_handlers", ()):  # @workflow.signal etc.
                self.set_handler(kind, name, getattr(self.instance, method), getattr(self.instance, check) if check else None)
            entry: Callable[..., Any] = getattr(self.instance, run.__name__)
        else:
            entry = target
        self.main = self._spawn(entry, self.args, f"workflow {self.info.workflow_type}", ("workflow", "", self.headers))

    def _spawn(
        self,
        fn: Callable[..., Any],
        args: List[Any],
        name: str,
        entry: Optional[Tuple[str, str, Optional[Dict[str, Any]]]] = None,
    ) -> Body:
        """A body for ``fn(*args)``; an ``entry`` point (kind, name, headers) goes through the inbound interceptors."""
        try:
            value = _call(fn, args, name, self.converter, self.interception.invoke(*entry) if entry else None)
        except ContinueAsNew:
            raise
        except BaseException as err:
            body = Body(iter(()), name, [self.root])
            body.started = True
            body.outcome.set_exception(err)
            return body
        if inspect.isgenerator(value) or inspect.iscoroutine(value):
            return self._add_body(value, name, [self.root])
        body = Body(iter(()), name, [self.root])
        body.started = True
        body.outcome.set_result(value)
        return body

    def _add_body(self, value: Any, name: str, scopes: List[Scope]) -> Body:
        """Drive a generator, or run a coroutine as a task of the loop, from the next turn on."""
        body = Body(value, name, scopes)
        if inspect.iscoroutine(value):
            context = contextvars.copy_context()
            context.run(task_body.set, body)
            body.task = context.run(WorkflowTask, value, loop=self.loop, name=name)
            body.started = True
            body.task.add_done_callback(lambda task: self._task_done(body, task))
        self.bodies.append(body)
        return body

    def _task_done(self, body: Body, task: "asyncio.Task[Any]") -> None:
        if task.cancelled():
            try:
                task.result()
            except BaseException as err:  # the cancellation that ended it
                body.outcome.set_exception(as_failure(err))
            return
        error = task.exception()
        if isinstance(error, ContinueAsNew):
            self.continuing = error
        elif error is not None:
            body.outcome.set_exception(as_failure(error))
        else:
            body.outcome.set_result(task.result())

    def _step(self, body: Body) -> None:
        self._stepping = body
        try:
            body.step(ContinueAsNew)
        finally:
            self._stepping = None

    def _run_until_blocked(self) -> None:
        while True:
            progressed = self.loop.run_ready()
            if self.continuing is not None:
                raise self.continuing
            for body in list(self.bodies):
                while body.ready():
                    self._step(body)
                    progressed = True
            for predicate, future in list(self.conditions):
                if future.done():
                    self.conditions.remove((predicate, future))
                elif _holds(predicate):
                    self.conditions.remove((predicate, future))
                    future.set_result(True)
                    progressed = True
            self.bodies = [b for b in self.bodies if not b.outcome.done()]
            if not progressed:
                return

    # ================================================================== history events

    def _apply(self, event: Event) -> None:
        kind = event.type
        attributes = event.attributes
        if kind == "ActivityTaskCompleted":
            self._resolve(event, lambda f: set_decoded(f, attributes.get("result"), self.converter))
        elif kind == "ActivityTaskFailed":
            root = self.history.root_of(event.task_id or "")
            recorded = next((c for c in self.history.commands if c.task_id == root), None)
            activity_failure = activity_error(attributes, str(recorded.name) if recorded else "activity", event.task_id)
            self._resolve(event, lambda f: f.set_exception(activity_failure))
        elif kind == "ActivityTaskCanceled":
            reason = str(attributes.get("reason") or "activity cancelled")
            self._resolve(event, lambda f: f.set_exception(CancelledFailure(reason)))
        elif kind == "TimerFired":
            self._resolve(event, lambda f: f.set_result(None))
        elif kind == "ChildWorkflowExecutionCompleted":
            self._resolve(event, lambda f: set_decoded(f, attributes.get("result"), self.converter))
        elif kind == "ChildWorkflowExecutionFailed":
            child = next((c for c in self.history.commands if c.task_id == event.task_id), None)
            failure = child_error(attributes, str(child.name) if child else "child")
            self._resolve(event, lambda f: f.set_exception(failure))
        elif kind == "WorkflowSignaled" and attributes.get("signal_name") == UPDATE_SIGNAL:
            task_id, name, args, headers = (list(attributes.get("args") or []) + [None] * 4)[:4]
            self.updates_in_workflow[str(task_id)] = self._replay_update(str(name), list(args or []), headers)
        elif kind == "WorkflowSignaled":
            self._deliver_signal(
                str(attributes.get("signal_name")), list(attributes.get("args") or []), attributes.get("headers")
            )
        elif kind == "WorkflowUpdateCompleted" and not attributes.get("in_workflow"):
            self._replay_update(str(attributes.get("update_name")), list(attributes.get("args") or []), attributes.get("headers"))
        elif kind == "WorkflowCancellationRequested":
            self.cancel_requested = True
            self.cancel_scope(self.root, str(attributes.get("reason") or "workflow cancellation requested"))

    def _resolve(self, event: Event, apply: Callable[[WorkflowFuture[Any]], None]) -> None:
        root_task = self.history.root_of(event.task_id or "")
        entry = self.futures_by_task.get(root_task)
        if entry is None:
            recorded = next((c for c in self.history.commands if c.task_id == root_task), None)
            if recorded is None:
                return  # not a command of this run (e.g. a stray task): nothing waits on it
            raise determinism_violation(
                f"history shows {recorded.kind} {recorded.name!r} finishing ({event.type}), but the workflow "
                f"code did not schedule it: the code changed in a way that breaks replay of run {self.info.run_id}"
            )
        apply(entry[0])

    def _deliver_signal(self, name: str, args: List[Any], headers: Optional[Dict[str, Any]] = None) -> None:
        handler = self.handlers.get(("signal", name))
        if handler is None:
            self.buffered_signals.append((name, args, headers))
            return
        self._run_signal(handler, name, args, headers)

    def _run_signal(
        self, handler: Callable[..., Any], name: str, args: List[Any], headers: Optional[Dict[str, Any]] = None
    ) -> None:
        body = self._spawn(handler, args, f"signal handler {name!r}", ("signal", name, headers))
        error = body.outcome.exception() if body.outcome.done() else None
        if isinstance(error, (TypeError, RecursionError)):  # arguments it cannot take: drop the signal, keep the run
            log.warning("workflow %s: signal %r dropped: %s", self.info.workflow_id, name, error)
        elif error is not None and not isinstance(error, (CancelledFailure,)):
            raise error

    def _replay_update(self, name: str, args: List[Any], headers: Optional[Dict[str, Any]] = None) -> WorkflowFuture[Any]:
        handler = self.handlers.get(("update", name))
        if handler is None:
            raise determinism_violation(
                f"history has update {name!r} applied, but workflow {self.info.workflow_type} registers no handler for it"
            )
        return self._spawn(handler, args, f"update handler {name!r}", ("update", name, headers)).outcome

    def _check_all_commands_replayed(self) -> None:
        # Every recorded command was issued before it was recorded, after events that are all
        # in history; so once history is replayed, each must have been issued again.
        if self.issued < len(self.history.commands):
            self._skip_markers("", None)
        if self.issued < len(self.history.commands):
            missing = self.history.commands[self.issued]
            raise determinism_violation(
                f"history has {missing.kind} {missing.name!r} as command #{self.issued + 1}, "
                f"but the workflow code no longer issues it (run {self.info.run_id})"
            )

    # ================================================================== commands (called via workflow.*)

    def start_body(self, body: Any, name: str) -> WorkflowFuture[Any]:
        """Drive a coroutine or generator alongside the run's others, from the next scheduling turn
        on, inside the scopes the calling body is in now; its outcome is the returned future."""
        creator = self.current_body
        return self._add_body(body, name, list(creator.scopes) if creator is not None else [self.root]).outcome

    def start_task(self, coroutine: Any, name: str, *, shielded: bool = False) -> "asyncio.Task[Any]":
        """``asyncio.create_task`` in workflow code: a task inside the creator's scopes (and a
        non-cancellable one of its own when ``asyncio.shield`` made it)."""
        creator = self.current_body
        scopes = list(creator.scopes) if creator is not None else [self.root]
        if shielded:
            scopes.append(Scope(scopes[-1], cancellable=False))
        task: "asyncio.Task[Any]" = self._add_body(coroutine, name, scopes).task
        return task

    def issue(
        self,
        kind: str,
        name: Any,
        description: str,
        request: Dict[str, Any],
        on_cancel: Optional[Callable[[WorkflowFuture[Any], BaseException], None]] = None,
    ) -> WorkflowFuture[Any]:
        if self.tearing_down:
            raise _TearingDown(f"{description}: the workflow instance is being dropped (its run goes on elsewhere)")
        if self.querying:
            raise ApplicationFailure(
                f"a query handler cannot schedule work ({description})", type="QueryIssuedCommand", non_retryable=True
            )
        reason = self.cancelled_here() if kind != "marker" else None
        if reason is not None:
            return failed(CancelledFailure(reason), description)
        future: WorkflowFuture[Any] = WorkflowFuture(description)
        index = self.issued
        if index < len(self.history.commands) and self.history.commands[index].kind == "marker":
            index = self._skip_markers(kind, name)
        self.issued_futures.append((kind, name, future))
        if index < len(self.history.commands):
            recorded = self.history.commands[index]
            if recorded.kind != kind or recorded.name != name:
                raise determinism_violation(
                    f"command #{index + 1} differs from history: history has {recorded.kind} {recorded.name!r}, "
                    f"the workflow now issues {kind} {name!r} (run {self.info.run_id})"
                )
            drift = argument_drift(recorded, request)
            if drift is not None:  # a deliberate deploy may change arguments (as in Temporal): warn, or refuse
                message = (
                    f"command #{index + 1} ({kind} {name!r}) passes other arguments than history recorded "
                    f"(digest {drift}, history {recorded.digest}; run {self.info.run_id})"
                )
                if self.strict_arguments:
                    raise determinism_violation(message)
                log.warning("%s: replay goes on with the recorded result", message)
            self.futures_by_task[recorded.task_id] = (future, kind)
        elif not self.query_mode:
            self.new_commands.append(NewCommand(kind, description, request))
            future.command = request
        scope = self._scope()
        future.scope = scope
        scope.futures.append(future)
        if on_cancel is not None:
            future.on_cancel = lambda err: on_cancel(future, err)
        else:
            future.on_cancel = future.set_exception
        return future

    def _skip_markers(self, kind: str, name: Any) -> int:
        """Pass over recorded markers the code no longer asks for (a ``patched`` call removed
        once no run needs its old branch); return the index of the next recorded command."""
        commands = self.history.commands
        while (
            self.issued < len(commands)
            and commands[self.issued].kind == "marker"
            and (kind, name) != ("marker", commands[self.issued].name)
        ):
            recorded = commands[self.issued]
            placeholder = resolved(None, f"marker {recorded.name}")
            self.issued_futures.append(("marker", recorded.name, placeholder))
            self.futures_by_task[recorded.task_id] = (placeholder, "marker")
        return self.issued

    @property
    def issued(self) -> int:
        """How many commands the workflow has issued so far (replayed or new)."""
        return len(self.issued_futures)

    def base_payload(self) -> Dict[str, Any]:
        return {"workflowId": self.info.workflow_id, "workflowRunId": self.info.run_id, "workflowTaskId": self.info.task_id}

    def emit_milestone(self, event: Dict[str, Any]) -> None:
        if not self.query_mode and self.current_seq > self.live_after_seq:
            self.milestones.append(event)

    def is_replaying(self) -> bool:
        """True while re-running what an earlier activation already did, during teardown, and
        while a query is answered."""
        return self.tearing_down or self.querying or self.current_seq <= self.live_after_seq

    def condition(self, predicate: Callable[[], bool], timeout_ms: Optional[int]) -> WorkflowFuture[bool]:
        if self.tearing_down:
            raise _TearingDown("condition: the workflow instance is being dropped")
        if _holds(predicate):
            return resolved(True, "condition")
        reason = self.cancelled_here()
        if reason is not None:
            return failed(CancelledFailure(reason), "condition")
        future: WorkflowFuture[bool] = WorkflowFuture("condition")
        scope = self._scope()
        future.scope = scope
        scope.futures.append(future)
        future.on_cancel = future.set_exception
        self.conditions.append((predicate, future))
        if timeout_ms is not None:
            timer = self.timer(timeout_ms)
            timer._on_done(lambda t: future.set_result(False) if t.exception() is None else future.set_exception(t.exception()))  # type: ignore[arg-type]
        return future

    def timer(self, duration_ms: int) -> WorkflowFuture[None]:
        fire_at = format_timestamp(self.now + timedelta(milliseconds=duration_ms))
        payload = {
            **self.base_payload(),
            "timerId": f"{self.info.run_id}:{self.issued + 1}",
            "durationMs": duration_ms,
            "fireAt": fire_at,
        }
        if self.shielded():
            payload["cancellationScope"] = "non_cancellable"
        request = {"type": "timer", "namespace": self.info.namespace, "queue": self.info.task_queue, "payload": payload}
        return self.issue("timer", duration_ms, f"timer {duration_ms} ms", request)

    def set_handler(
        self, kind: str, name: str, handler: Optional[Callable[..., Any]], validator: Optional[Callable[..., Any]]
    ) -> None:
        if handler is None:
            self.handlers.pop((kind, name), None)
            return
        self.handlers[(kind, name)] = handler
        if validator is not None:
            self.validators[name] = validator
        if kind == "signal":
            pending = [(a, h) for n, a, h in self.buffered_signals if n == name]
            self.buffered_signals = [s for s in self.buffered_signals if s[0] != name]
            for args, headers in pending:
                self._run_signal(handler, name, args, headers)

    def random(self) -> _random.Random:
        return self.rng

    def uuid4(self) -> _uuid.UUID:
        return _uuid.UUID(int=self.rng.getrandbits(128), version=4)


def _holds(predicate: Callable[[], bool]) -> bool:
    return bool(predicate())


def _satisfies_the_contract(instance: WorkflowInstance) -> RunningWorkflow:
    return instance  # mypy checks here that WorkflowInstance is what workflow.py may rely on
