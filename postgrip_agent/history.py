"""A run's history as the client hands it out (``handle.fetch_history()``), and as JSON to keep."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Sequence, Union

import attrs

from . import types as wt

__all__ = ["WorkflowHistory"]


@attrs.define
class WorkflowHistory:
    """A run's history, oldest event first (``handle.fetch_history()``), as JSON to keep."""

    workflow_id: str
    events: List[wt.WorkflowHistoryEvent]
    #: the run's id (it seeds ``workflow.random()``, so an exact replay needs it)
    run_id: Optional[str] = None

    def to_json(self) -> Dict[str, Any]:
        """A JSON-ready dict: ``json.dump(history.to_json(), file)``."""
        return {"workflow_id": self.workflow_id, "run_id": self.run_id, "events": [wt.to_json(e) for e in self.events]}

    @classmethod
    def from_json(
        cls,
        data: Union[str, bytes, Dict[str, Any], Sequence[Dict[str, Any]], None] = None,
        workflow_id: Any = None,
        *,
        history: Any = None,
    ) -> "WorkflowHistory":
        """From [`to_json()`][postgrip_agent.history.WorkflowHistory.to_json]'s dict (or its text), or from the bare event list the service's
        history endpoint answers (``workflow_id`` then comes from the events or the argument).
        Temporal's order, ``from_json(workflow_id, history)`` (or ``history=``), works too."""
        if history is not None or _looks_like_history(workflow_id):
            data, workflow_id = (history if history is not None else workflow_id), data
        if data is None:
            raise TypeError("from_json needs the history (to_json()'s dict or text, or the service's event list)")
        parsed: Any = json.loads(data) if isinstance(data, (str, bytes)) else data
        if isinstance(parsed, dict):
            raw_events, run_id = parsed.get("events"), parsed.get("run_id")
            workflow_id = workflow_id or parsed.get("workflow_id")
        else:
            raw_events, run_id = parsed, None
        if not isinstance(raw_events, list) or not raw_events:
            raise ValueError(
                "a workflow history needs a non-empty list of events (as handle.fetch_history().to_json() writes them)"
            )
        events = [wt.from_json(raw, wt.WorkflowHistoryEvent) for raw in raw_events]
        return cls(workflow_id or events[0].workflow_id, events, run_id)


def _looks_like_history(value: Any) -> bool:
    """A history given where the workflow id goes (Temporal's argument order)."""
    if isinstance(value, (dict, list, tuple)):
        return True
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return isinstance(value, str) and value.lstrip()[:1] in ("{", "[")
