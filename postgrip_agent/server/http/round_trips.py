"""The round-trip extensions' handlers: an activation's commands and block in one call
(``activation-commit``), a poll that carries the history tail (``history-tail``), a completion
that hands the woken workflow task back (``completion-handback``), a lease given back
(``lease-release``) and an agent's waiting polls called off (``poll-wake``)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from ... import types as wt
from ..engine import Engine, limits
from ..errors import BadRequest
from ..store import TaskRecord
from .request import Request, Response
from .wire import history_json, task_json


def _local_spec(raw: Any, what: str, *, with_max: bool = True) -> Optional[Tuple[str, List[str], int]]:
    """``{"queue": q, "types": [prefix, ...], "max": n}``: which tasks (at most n) the caller takes
    at once, leased to it in the same transaction (``max`` only where ``with_max``)."""
    if raw is None:
        return None
    fields = {"queue", "types", "max"} if with_max else {"queue", "types"}
    if not isinstance(raw, dict) or set(raw) - fields:
        raise BadRequest(f"{what} must be an object with {', '.join(sorted(fields))}")
    queue, types, most = raw.get("queue"), raw.get("types"), raw.get("max", 1)
    if not isinstance(queue, str) or not queue:
        raise BadRequest(f"{what}.queue must be a non-empty string")
    if not isinstance(types, list) or not all(isinstance(t, str) and t for t in types):
        raise BadRequest(f"{what}.types must be a list of task-type prefixes")
    if isinstance(most, bool) or not isinstance(most, int) or not 0 <= most <= 10_000:
        raise BadRequest(f"{what}.max must be an integer from 0 to 10000")
    return queue, types, most


class RoundTrips:
    """Handlers ``Api`` serves when ``round_trip_extensions`` is on (the default)."""

    engine: Engine

    def _poll(self, req: Request) -> Optional[TaskRecord]:
        raise NotImplementedError  # Api's: the contract's poll, which these extensions extend

    def _handed_over(self, task: TaskRecord) -> Dict[str, Any]:
        """A task leased to the caller, with its lease token and, for a workflow task whose
        history cursor is known, the run's history events after that cursor."""
        answer: Dict[str, Any] = {"task": task_json(task), "lease_token": task.lease_token}
        if task.type.startswith("workflow:") and task.history_cursor is not None:
            # where the previous activation stopped, even when its tail is too long to send
            answer["history_after"] = task.history_cursor
        tail = self.engine.history_tail(task)
        if tail is not None:
            answer["history_after"], answer["history"] = tail[0], [history_json(e) for e in tail[1]]
        return answer

    def poll_with_history(self, req: Request) -> Response:
        """Extension ``history-tail``: a poll whose answer carries the workflow task's new history."""
        task = self._poll(req)
        return 200, ({} if task is None else self._handed_over(task)), {}

    def complete_and_next(self, req: Request) -> Response:
        """Extension ``completion-handback``: complete a task and take the workflow task it woke."""
        raw = req.json_object()
        unknown = sorted(set(raw) - {"result", "next"})
        if unknown:
            raise BadRequest(f"unknown field(s) {', '.join(unknown)}; complete-and-next takes result and next")
        if not isinstance(raw.get("result"), dict):
            raise BadRequest("result is required: a TaskResult object")
        try:
            result = wt.structure_strict(raw["result"], wt.TaskResult)
        except Exception as err:
            raise BadRequest(f"result: {wt.describe_structure_error(err)}") from None
        spec = _local_spec(raw.get("next"), "next", with_max=False)
        if spec is None:
            raise BadRequest('next is required: {"queue": ..., "types": [...]}, the workflow tasks this agent takes')
        queue, prefixes, _ = spec
        task, following = self.engine.complete_and_next(req.params["taskId"], req.agent_id, result, req.fence, queue, prefixes)
        return 200, {"task": task_json(task), "next": None if following is None else self._handed_over(following)}, {}

    def activation(self, req: Request) -> Response:
        """Extension: end a workflow activation in one call: its new commands, then block, in one transaction."""
        raw = req.json_object()
        commands = raw.get("commands") or []
        if not isinstance(commands, list) or not all(isinstance(c, dict) for c in commands):
            raise BadRequest("commands must be an array of EnqueueTaskRequest objects")
        unknown = sorted(set(raw) - {"commands", "reason", "eager", "cursor"})
        if unknown:
            raise BadRequest(f"unknown field(s) {', '.join(unknown)}; an activation takes commands, reason, eager and cursor")
        eager = _local_spec(raw.get("eager"), "eager")
        cursor = raw.get("cursor")
        if cursor is not None and (
            isinstance(cursor, bool) or not isinstance(cursor, int) or not 0 <= cursor <= limits.INT64_MAX
        ):
            raise BadRequest("cursor must be the last history seq the agent applied (an integer >= 0)")
        requests = []
        for index, command in enumerate(commands):
            try:
                requests.append(wt.structure_strict(command, wt.EnqueueTaskRequest))
            except Exception as err:
                raise BadRequest(f"commands[{index}]: {wt.describe_structure_error(err)}") from None
        reason = raw.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise BadRequest("reason must be a string")
        task, scheduled, leased = self.engine.end_activation(
            req.params["taskId"], req.agent_id, requests, reason, req.fence, eager, cursor
        )
        return (
            200,
            {
                "task": task_json(task),
                "tasks": [task_json(t) for t in scheduled],
                "leased": [{"task": task_json(t), "lease_token": t.lease_token} for t in leased],
            },
            {},
        )

    def release(self, req: Request) -> Response:
        """Extension ``lease-release``: an agent that stops gives a leased task back at once."""
        if req.raw_body.strip() not in (b"", b"{}"):
            raise BadRequest("release takes no body (send {} or nothing)")
        return 200, task_json(self.engine.release(req.params["taskId"], req.agent_id, req.fence)), {}

    def wake_polls(self, req: Request) -> Response:
        """Extension ``poll-wake``: an agent that stops ends its own waiting long-polls now (empty)."""
        if req.raw_body.strip() not in (b"", b"{}"):
            raise BadRequest("polls/wake takes no body (send {} or nothing)")
        if not req.agent_id:
            raise BadRequest("name the agent: query parameter agent_id (or an agent session)")
        return 200, {"woken": self.engine.state.call_off_polls(req.agent_id)}, {}
