"""The agent lane of the API, as the agent uses it."""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Sequence

from ..connection import Connection
from ..connection import quote_segment as _q
from ..errors import ConflictError, NotFoundError

log = logging.getLogger("postgrip_agent.agent")


class TaskGone(Exception):
    """The task is terminal or no longer leased by this agent: drop the work."""


class AgentLane:
    def __init__(self, connection: Connection, identity: str) -> None:
        self.connection = connection
        self.identity = identity
        self._params = {"agent_id": identity}

    def poll(self, namespace: str, queue: str, task_types: Sequence[str], wait_seconds: int) -> Optional[Dict[str, Any]]:
        params = {"namespace": namespace, "queue": queue, "agent_id": self.identity, "wait_seconds": wait_seconds,
                  "task_types": ",".join(task_types)}
        # a poll may lease a task, so it is not blindly retried once it reached the service
        body = self.connection.request("GET", "/api/v1/agent/poll", params=params, idempotent=False,
                                       timeout=wait_seconds + self.connection.timeout, agent_lane=True)
        return (body or {}).get("task")

    def _post(self, task_id: str, action: str, body: Dict[str, Any]) -> Any:
        try:
            return self.connection.request("POST", f"/api/v1/agent/tasks/{_q(task_id)}/{action}", body=body,
                                           params=self._params, idempotent=True, agent_lane=True)
        except (ConflictError, NotFoundError) as err:
            raise TaskGone(str(err)) from err

    def heartbeat(self, task_id: str, details: Optional[Dict[str, Any]] = None, stage: str = "activity") -> None:
        event: Dict[str, Any] = {"kind": "heartbeat", "stage": stage}
        if details is not None:
            event["details"] = details
        self._post(task_id, "heartbeat", {"event": event})

    def event(self, task_id: str, event: Dict[str, Any]) -> None:
        self._post(task_id, "events", {"event": event})

    def complete(self, task_id: str, result: Dict[str, Any]) -> None:
        self._post(task_id, "complete", {"result": result})

    def fail(self, task_id: str, error: str, failure: Dict[str, Any]) -> None:
        self._post(task_id, "fail", {"error": error, "result": {"failure": failure}})

    def block(self, task_id: str, reason: str) -> None:
        self._post(task_id, "block", {"reason": reason})

    def signal(self, run_id: str, name: str, args: List[Any]) -> None:
        self.connection.request("POST", f"/api/v1/workflows/{_q(run_id)}/signal", body={"name": name, "args": args},
                                idempotent=False, agent_lane=True)

    def history(self, run_id: str, after: Optional[int] = None) -> List[Dict[str, Any]]:
        params = {"after": after} if after else None
        return self.connection.request(  # type: ignore[no-any-return]
            "GET", f"/api/v1/workflows/{_q(run_id)}/history", params=params, agent_lane=True)

    def enqueue(self, request: Dict[str, Any]) -> Dict[str, Any]:
        return self.connection.request("POST", "/api/v1/tasks", body=request, idempotent=False, agent_lane=True)  # type: ignore[no-any-return]
