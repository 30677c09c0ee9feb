"""The agent lane of the API, as the agent uses it."""

from __future__ import annotations

import contextvars
import logging
import threading
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from ..connection import Connection
from ..connection import quote_segment as _q
from ..errors import ConflictError, InvalidArgumentError, NotFoundError, PostGripAgentError

log = logging.getLogger("postgrip_agent.agent")


class TaskGone(Exception):
    """The task is terminal or no longer leased by this agent: drop the work."""


class InvalidCommand(Exception):
    """The service refused a command the workflow issued (400): the run cannot go on."""


#: the service's fencing extension: the poll answer carries the lease's token, and each write
#: made under that lease names it, so a write from an earlier lease changes nothing (409)
LEASE_TOKEN_HEADER = "X-PostGrip-Lease-Token"
LEASE_HEADER = "X-PostGrip-Lease"

#: the leases the work running in this context holds (task id -> token): a write names the lease
#: it is made under, not whichever lease of the same task this agent took last
_HELD: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar("postgrip_held_leases", default={})


class AgentLane:
    def __init__(self, connection: Connection, identity: str) -> None:
        self.connection = connection
        self.identity = identity
        self._params = {"agent_id": identity}
        self._tokens: Dict[str, str] = {}  # task id -> token of the lease this agent holds
        #: workflow task id -> (cursor, the run's history events after it), sent with the task
        self._tails: Dict[str, Tuple[int, List[Dict[str, Any]]]] = {}
        #: workflow task id -> the last history seq the run's previous activation applied
        self._cursors: Dict[str, int] = {}
        self._lock = threading.Lock()

    def _has(self, extension: str) -> bool:
        return extension in (self.connection.extensions or frozenset())

    def poll(
        self, namespace: str, queue: str, task_types: Sequence[str], wait_seconds: int, with_history: bool = False
    ) -> Optional[Dict[str, Any]]:
        """Lease the next task. ``with_history``: where the service offers ``history-tail``, a
        workflow task comes with its run's new history events (see ``take_history``)."""
        params = {
            "namespace": namespace,
            "queue": queue,
            "agent_id": self.identity,
            "wait_seconds": wait_seconds,
            "task_types": ",".join(task_types),
        }
        tail = with_history and self._has("history-tail")
        path = "/api/v1/agent/poll-with-history" if tail else "/api/v1/agent/poll"
        # a poll may lease a task, so it is not blindly retried once it reached the service
        body, headers = self.connection.request_full(
            "GET", path, params=params, idempotent=False, timeout=wait_seconds + self.connection.timeout, agent_lane=True
        )
        if tail:
            return self._handed_over(body)
        task: Optional[Dict[str, Any]] = (body or {}).get("task")
        token = headers.get(LEASE_TOKEN_HEADER)
        if task is not None and token:
            with self._lock:
                self._tokens[task["id"]] = token
        return task

    def _handed_over(self, answer: Any) -> Optional[Dict[str, Any]]:
        """A task the service leased to this agent in an answer: keep its lease token and history tail."""
        if not isinstance(answer, dict) or not isinstance(answer.get("task"), dict) or not answer.get("lease_token"):
            return None
        task: Dict[str, Any] = answer["task"]
        with self._lock:
            self._tokens[task["id"]] = str(answer["lease_token"])
            after, events = answer.get("history_after"), answer.get("history")
            if isinstance(after, int) and not isinstance(after, bool):
                self._cursors[task["id"]] = after
                if isinstance(events, list):
                    self._tails[task["id"]] = (after, events)
        return task

    def take_history(self, task_id: str) -> Optional[Tuple[int, List[Dict[str, Any]]]]:
        """(cursor, the run's history events after it) that came with the task, once; else None."""
        with self._lock:
            return self._tails.pop(task_id, None)

    def cursor(self, task_id: str) -> Optional[int]:
        """The last history seq the run's previous activation applied (it came with the task, from
        a service with ``history-tail``); None when unknown. Kept until the task is released, so a
        retried activation has it too. What a replay re-runs up to there was done before: its log
        lines are not written again."""
        with self._lock:
            return self._cursors.get(task_id)

    @contextmanager
    def holding(self, task_id: str) -> Iterator[Optional[str]]:
        """Run work under the lease this agent now holds on ``task_id``: its writes (here and in
        contexts copied from here, such as an activity's) name that lease even after the task is
        leased again. Yields the lease's token (None without the fencing extension)."""
        with self._lock:
            token = self._tokens.get(task_id)
        if token is None:
            yield None
            return
        reset = _HELD.set({**_HELD.get(), task_id: token})
        try:
            yield token
        finally:
            _HELD.reset(reset)

    def released(self, task_id: str, token: Optional[str] = None) -> None:
        """The agent is done with the task's lease (``token``: that lease; a later lease of the
        same task that this agent holds meanwhile is kept)."""
        with self._lock:
            if token is None or self._tokens.get(task_id) == token:
                self._tokens.pop(task_id, None)
                self._tails.pop(task_id, None)
                self._cursors.pop(task_id, None)

    def _fence(self, lease_of: Optional[str]) -> Optional[Dict[str, str]]:
        """The header naming the lease this work holds on ``lease_of`` (None when it holds none)."""
        if not lease_of:
            return None
        token = _HELD.get().get(lease_of)
        if token is None:
            with self._lock:
                token = self._tokens.get(lease_of)
        return {LEASE_HEADER: f"{lease_of} {token}"} if token else None

    def _post(self, task_id: str, action: str, body: Dict[str, Any], lease_of: Optional[str] = None) -> Any:
        try:
            return self.connection.request(
                "POST",
                f"/api/v1/agent/tasks/{_q(task_id)}/{action}",
                body=body,
                params=self._params,
                idempotent=True,
                agent_lane=True,
                headers=self._fence(lease_of or task_id),
            )
        except (ConflictError, NotFoundError) as err:
            raise TaskGone(str(err)) from err

    def heartbeat(
        self,
        task_id: str,
        details: Optional[Dict[str, Any]] = None,
        stage: str = "activity",
        lease_seconds: Optional[float] = None,
    ) -> None:
        """Renew the lease (``lease_seconds`` sets its new length); stage "activity" is the activity's own
        heartbeat, which also resets its heartbeat timeout, stage "lease" only the agent's renewal."""
        event: Dict[str, Any] = {"kind": "heartbeat", "stage": stage}
        if details is not None:
            event["details"] = details
        body: Dict[str, Any] = {"event": event}
        if lease_seconds is not None:
            body["lease_timeout_seconds"] = max(1, int(round(lease_seconds)))
        self._post(task_id, "heartbeat", body)

    def event(self, task_id: str, event: Dict[str, Any]) -> None:
        self._post(task_id, "events", {"event": event})

    def complete(self, task_id: str, result: Dict[str, Any], lease_of: Optional[str] = None) -> None:
        """Complete a task (``lease_of``: the task whose lease this write is made under, if not itself)."""
        self._post(task_id, "complete", {"result": result}, lease_of)

    def complete_and_next(self, task_id: str, result: Dict[str, Any], queue: str, types: List[str]) -> Optional[Dict[str, Any]]:
        """Complete a task; where the service offers ``completion-handback``, the workflow task the
        completion woke comes back leased to this agent (when on ``queue`` with a type in ``types``)."""
        if not self._has("completion-handback"):
            self.complete(task_id, result)
            return None
        answer = self._post(task_id, "complete-and-next", {"result": result, "next": {"queue": queue, "types": types}})
        return self._handed_over((answer or {}).get("next"))

    def fail(
        self, task_id: str, error: str, failure: Dict[str, Any], lease_of: Optional[str] = None, stack_trace: Optional[str] = None
    ) -> None:
        """Fail a task; ``stack_trace`` travels in the result's ``stderr`` (FailureInfo has no field for it)."""
        result: Dict[str, Any] = {"failure": failure}
        if stack_trace:
            result["stderr"] = stack_trace
        self._post(task_id, "fail", {"error": error, "result": result}, lease_of)

    def give_back(self, task_id: str) -> bool:
        """Hand a leased task back to the service (extension ``lease-release``) so another agent
        takes it at once; False where the service lacks it (the lease then lapses by itself)."""
        if not self._has("lease-release"):
            return False
        self._post(task_id, "release", {})
        return True

    def call_off_polls(self) -> bool:
        """End this agent's waiting long-polls now, empty (extension ``poll-wake``), so a stopping
        agent need not wait out its polls; False where the service lacks it (each poll then ends at
        its own timeout)."""
        if not self._has("poll-wake"):
            return False
        try:
            self.connection.request(
                "POST",
                "/api/v1/agent/polls/wake",
                params={"agent_id": self.identity},
                body={},
                idempotent=True,
                agent_lane=True,
                timeout=5.0,
            )
        except PostGripAgentError as err:  # only a speed-up: the polls end at their timeouts anyway
            log.debug("calling off the agent's polls failed: %s", err)
            return False
        return True

    def block(self, task_id: str, reason: str) -> None:
        self._post(task_id, "block", {"reason": reason})

    def signal(self, run_id: str, name: str, args: List[Any], lease_of: Optional[str] = None) -> None:
        try:
            self.connection.request(
                "POST",
                f"/api/v1/workflows/{_q(run_id)}/signal",
                body={"name": name, "args": args},
                idempotent=False,
                agent_lane=True,
                headers=self._fence(lease_of),
            )
        except ConflictError as err:
            if err.code == "stale_lease":
                raise TaskGone(str(err)) from err
            raise

    def cancel_workflow(self, workflow_id: str, reason: str, lease_of: Optional[str] = None) -> None:
        """Ask a workflow (a child) to cancel, under the lease of the activation that decides it;
        one that is no longer running is left alone."""
        try:
            self.connection.request(
                "POST",
                f"/api/v1/workflows/{_q(workflow_id)}/cancel",
                body={"reason": reason},
                idempotent=False,
                agent_lane=True,
                headers=self._fence(lease_of),
            )
        except NotFoundError:
            return
        except ConflictError as err:
            if err.code == "stale_lease":
                raise TaskGone(str(err)) from err

    def history(self, run_id: str, after: Optional[int] = None) -> List[Dict[str, Any]]:
        params = {"after": after} if after else None
        return self.connection.request(  # type: ignore[no-any-return]
            "GET", f"/api/v1/workflows/{_q(run_id)}/history", params=params, agent_lane=True
        )

    def end_activation(
        self,
        task_id: str,
        commands: List[Dict[str, Any]],
        reason: str,
        eager: Optional[Dict[str, Any]] = None,
        cursor: Optional[int] = None,
    ) -> List[Dict[str, Any]]:
        """Send an activation's new commands and block its workflow task: one request and one
        transaction where the service offers ``activation-commit``, else one request each.

        ``eager`` (``{"queue", "types", "max"}``) asks for up to ``max`` of the scheduled activities
        leased to this agent at once; they are returned (none without the extension). ``cursor`` is
        the last history seq the activation applied: the next activation's history tail starts there."""
        if self._has("activation-commit"):
            body: Dict[str, Any] = {"commands": commands, "reason": reason}
            if eager:
                body["eager"] = eager
            if cursor is not None and self._has("history-tail"):
                body["cursor"] = cursor
            try:
                answer = self._post(task_id, "activation", body) or {}
            except InvalidArgumentError as err:
                raise InvalidCommand(str(err)) from err
            leased = []
            for entry in answer.get("leased") or []:
                task, token = entry.get("task"), entry.get("lease_token")
                if isinstance(task, dict) and token:
                    with self._lock:
                        self._tokens[task["id"]] = token
                    leased.append(task)
            return leased
        for command in commands:
            try:
                self.enqueue(command, lease_of=task_id)
            except ConflictError as err:
                raise TaskGone(f"cannot schedule {command.get('type')}: {err}") from err
            except InvalidArgumentError as err:
                raise InvalidCommand(str(err)) from err
        self.block(task_id, reason)
        return []

    def enqueue(self, request: Dict[str, Any], lease_of: Optional[str] = None) -> Dict[str, Any]:
        """Send a command; ``lease_of`` is the workflow task whose activation issues it."""
        return self.connection.request(  # type: ignore[no-any-return]
            "POST", "/api/v1/tasks", body=request, idempotent=False, agent_lane=True, headers=self._fence(lease_of)
        )
