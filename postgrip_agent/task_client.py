"""TaskClient: the service's tasks (enqueue, inspect, wait, watch)."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any, Iterator, List, Mapping, Optional, Sequence, Union

from . import types as wt
from ._compat import either
from ._encoding import lease_seconds, plain_value
from ._subclient import LONG_POLL, _check_id, _drop_none, _pages, _SubClient, long_poll
from .connection import quote_segment as _q
from .errors import TimeoutFailure


class TaskClient(_SubClient):
    """Tasks of the service: enqueue, inspect, watch."""

    def enqueue(
        self,
        type: str,
        *,
        payload: Any = None,
        namespace: Optional[str] = None,
        queue: Optional[str] = None,
        lease_timeout: Union[timedelta, float, None] = None,
        lease_timeout_seconds: Optional[float] = None,
    ) -> wt.Task:
        """Enqueue a task. ``lease_timeout_seconds`` is the async SDK's spelling of ``lease_timeout``."""
        if not isinstance(type, str) or not type.strip():
            raise ValueError("task type must be a non-empty string, e.g. 'shell.exec'")
        lease_timeout = either("lease_timeout", lease_timeout, "lease_timeout_seconds", lease_timeout_seconds)
        request = wt.EnqueueTaskRequest(
            type=type,
            namespace=namespace or self._namespace,
            queue=queue or self._default_task_queue,
            payload=plain_value(payload, "task payload"),
            lease_timeout_seconds=lease_seconds(lease_timeout, "lease_timeout"),
        )
        data = self._conn.request("POST", "/api/v1/tasks", body=wt.to_json(request), idempotent=False)
        return wt.from_json(data, wt.Task)

    def get(self, task_id: str) -> wt.Task:
        """One task."""
        _check_id(task_id, "task id")
        return wt.from_json(self._conn.request("GET", f"/api/v1/tasks/{_q(task_id)}"), wt.Task)

    def wait(self, task_id: str, *, timeout: Optional[float] = None) -> wt.Task:
        """Block until the task is terminal (succeeded or failed); TimeoutFailure after ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        return long_poll(
            lambda wait: wt.from_json(
                self._conn.request(
                    "GET", f"/api/v1/tasks/{_q(task_id)}", params={"wait_seconds": wait}, timeout=wait + self._conn.timeout
                ),
                wt.Task,
            ),
            lambda task: task.state in wt.TERMINAL_TASK_STATES,
            deadline,
            lambda: TimeoutFailure(f"task {task_id} did not finish within {timeout} s"),
        )

    def list(
        self,
        *,
        namespace: Optional[str] = None,
        queue: Optional[str] = None,
        type: Optional[str] = None,
        state: Optional[str] = None,
        order_by: Optional[str] = None,
        page_size: int = 100,
    ) -> Iterator[wt.Task]:
        """Tasks matching the filters (``queue``, ``type``, ``state``), page by page."""
        if state is not None and state not in wt.TASK_STATES:
            raise ValueError(f"state must be one of {', '.join(wt.TASK_STATES)}, got {state!r}")
        params = {"namespace": namespace, "queue": queue, "type": type, "state": state, "order_by": order_by}
        for raw in _pages(self._conn, "/api/v1/tasks", params, page_size):
            yield wt.from_json(raw, wt.Task)

    def events(self, task_id: str) -> List[wt.TaskEvent]:
        """A task's events (leased, heartbeats, milestones, output, completion), oldest first."""
        return [wt.from_json(e, wt.TaskEvent) for e in self._conn.request("GET", f"/api/v1/tasks/{_q(task_id)}/events")]

    def watch_events(
        self, task_id: str, *, timeout: Optional[float] = None, poll_interval: Optional[float] = None
    ) -> Iterator[wt.TaskEvent]:
        """Events of the task as they are written, until it is terminal (or ``timeout``);
        ``poll_interval`` (the async SDK's) is accepted: the service wakes the watch itself."""
        deadline = None if timeout is None else time.monotonic() + timeout
        after = 0
        while True:
            wait = LONG_POLL if deadline is None else max(0.0, min(LONG_POLL, deadline - time.monotonic()))
            events = self._conn.request(
                "GET",
                f"/api/v1/tasks/{_q(task_id)}/events",
                params={"after": after, "wait_seconds": round(wait, 3)},
                timeout=wait + self._conn.timeout,
            )
            for raw in events:
                after = max(after, int(raw["id"]))
                yield wt.from_json(raw, wt.TaskEvent)
            if not events:
                if self.get(task_id).state in wt.TERMINAL_TASK_STATES:
                    return
                if deadline is not None and time.monotonic() >= deadline:
                    return

    def shell_exec(
        self,
        command: str,
        args: Sequence[str] = (),
        *,
        env: Optional[Mapping[str, str]] = None,
        working_dir: Optional[str] = None,
        timeout_seconds: Optional[int] = None,
        queue: Optional[str] = None,
        namespace: Optional[str] = None,
    ) -> wt.Task:
        """Enqueue a ``shell.exec`` task (run by a host agent that provides a shell)."""
        payload = _drop_none(
            {
                "command": command,
                "args": list(args),
                "env": dict(env) if env else None,
                "working_dir": working_dir,
                "timeout_seconds": timeout_seconds,
            }
        )
        return self.enqueue("shell.exec", payload=payload, queue=queue, namespace=namespace)

    def container_exec(
        self,
        image: str,
        args: Sequence[str] = (),
        *,
        command: Optional[str] = None,
        env: Optional[Mapping[str, str]] = None,
        working_dir: Optional[str] = None,
        pull_policy: Optional[str] = None,
        timeout_seconds: Optional[int] = None,
        queue: Optional[str] = None,
        namespace: Optional[str] = None,
    ) -> wt.Task:
        """Enqueue a ``container.exec`` task (run by a host agent that provides containers)."""
        if not image:
            raise ValueError("container_exec needs an image")
        payload = _drop_none(
            {
                "image": image,
                "command": command,
                "args": list(args),
                "env": dict(env) if env else None,
                "working_dir": working_dir,
                "pull_policy": pull_policy,
                "timeout_seconds": timeout_seconds,
            }
        )
        return self.enqueue("container.exec", payload=payload, queue=queue, namespace=namespace)

    def workflow_runtime(
        self,
        *,
        image: Optional[str] = None,
        command: Optional[str] = None,
        args: Sequence[str] = (),
        env: Optional[Mapping[str, str]] = None,
        working_dir: Optional[str] = None,
        runtime_id: Optional[str] = None,
        isolation: Optional[str] = None,
        timeout_seconds: Optional[int] = None,
        queue: Optional[str] = None,
        namespace: Optional[str] = None,
    ) -> wt.Task:
        """Enqueue a managed ``workflow.runtime`` task on a host-agent pool."""
        if not image and not command:
            raise ValueError("workflow_runtime needs an image or a command")
        if isolation is not None and not image:
            raise ValueError("workflow_runtime isolation needs an image (a command-only runtime has no isolation floor)")
        payload = _drop_none(
            {
                "runtime_id": runtime_id,
                "image": image,
                "command": command,
                "args": list(args),
                "env": dict(env) if env else None,
                "working_dir": working_dir,
                "isolation": isolation,
                "timeout_seconds": timeout_seconds,
                "queue": queue,
                "namespace": namespace,
            }
        )
        return self.enqueue("workflow.runtime", payload=payload, queue=queue, namespace=namespace)

    def noop(self, *, queue: Optional[str] = None, namespace: Optional[str] = None) -> wt.Task:
        """Enqueue a no-op task (a probe of the queue)."""
        return self.enqueue("noop", payload={}, queue=queue, namespace=namespace)
