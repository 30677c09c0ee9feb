"""Handing tasks the service leased to this agent in an answer (not through a poll) to a pool."""

from __future__ import annotations

from typing import Any, Dict, List, Protocol


class LocalDispatch(Protocol):
    """One of the agent's lanes, as seen by code that receives tasks leased in an answer: the
    activities an activation scheduled (eager dispatch), or the workflow task an activity's
    completion woke (hand-back). Reserve slots first, then dispatch each task received and
    release the slots left over."""

    #: the queue, and the task-type prefixes of this lane
    queue: str
    types: List[str]

    def reserve(self, wanted: int) -> int:
        """Take up to ``wanted`` free slots without waiting; returns how many were taken."""

    def release(self, count: int) -> None:
        """Give back ``count`` reserved slots that got no task."""

    def dispatch(self, task: Dict[str, Any]) -> None:
        """Run a task on the lane's pool, in one of the reserved slots."""
