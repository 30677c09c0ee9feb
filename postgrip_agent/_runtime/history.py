"""A run's history read for replay: its commands in order, and what became of each."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Dict, List, Optional

import attrs

from ..converter import ENVELOPE_KEY
from ..types import parse_timestamp

COMMAND_EVENTS = {
    "ActivityTaskScheduled": "activity",
    "TimerStarted": "timer",
    "ChildWorkflowExecutionStarted": "child",
    "MarkerRecorded": "marker",
}

#: a marker written as a zero-length timer (a service without the ``markers`` extension) has a
#: timer id ``<run id>:marker:<marker name>``
MARKER_TIMER = ":marker:"


@attrs.define
class Event:
    seq: int
    type: str
    task_id: Optional[str]
    attributes: Dict[str, Any]
    created_at: datetime


@attrs.define
class RecordedCommand:
    kind: str
    #: activity type, child workflow type, the timer's duration in ms, or the marker's name
    name: Any
    task_id: str
    seq: int
    #: a digest of the arguments history recorded for it (activities; children where recorded)
    digest: Optional[str] = None


def args_digest(args: Any) -> str:
    """A stable digest of a command's JSON arguments (the same on every machine and replay).
    An argument passed through codecs (an envelope) counts as one opaque value: encryption
    gives each encoding new bytes, so its content cannot be compared without the key."""
    if isinstance(args, list):
        args = ["<encoded>" if isinstance(a, dict) and len(a) == 1 and ENVELOPE_KEY in a else a for a in args]
    text = json.dumps(args, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def argument_drift(recorded: RecordedCommand, request: Dict[str, Any]) -> Optional[str]:
    """The digest of the arguments a replayed command now passes, when it differs from what
    history recorded for it (None when they match, or either side recorded none)."""
    payload = request.get("payload")
    if recorded.digest is None or not isinstance(payload, dict) or "args" not in payload:
        return None
    now = args_digest(payload["args"])
    return None if now == recorded.digest else now


class History:
    """Events oldest first. Retries of an activity are folded into its first task."""

    def __init__(self, raw_events: List[Dict[str, Any]]) -> None:
        self.events: List[Event] = []
        self.commands: List[RecordedCommand] = []
        #: retry task id -> the first task of its activity
        self.root: Dict[str, str] = {}
        self.extend(raw_events)
        if not self.events or self.events[0].type != "WorkflowExecutionStarted":
            raise ValueError("history does not start with WorkflowExecutionStarted")
        self.started = self.events[0]

    def extend(self, raw_events: List[Dict[str, Any]]) -> List[Event]:
        """Add events that came after the ones held (only those are parsed); return them."""
        base = len(self.events)
        added = [
            Event(
                seq=int(raw["id"]) if str(raw.get("id", "")).isdigit() else base + i + 1,
                type=raw["type"],
                task_id=raw.get("task_id"),
                attributes=raw.get("attributes") or {},
                created_at=parse_timestamp(raw["created_at"]),
            )
            for i, raw in enumerate(raw_events)
        ]
        self.events.extend(added)
        for event in added:
            if event.type == "ActivityTaskRetryScheduled" and event.task_id:
                previous = str(event.attributes.get("previous_task") or "")
                self.root[event.task_id] = self.root.get(previous, previous)
            kind = COMMAND_EVENTS.get(event.type)
            if kind is None or not event.task_id or event.task_id in self.root:
                continue
            if kind == "activity":
                name: Any = event.attributes.get("activity_type")
            elif kind == "timer":
                name = event.attributes.get("duration_ms")
                timer_id = str(event.attributes.get("timer_id") or "")
                if MARKER_TIMER in timer_id:
                    kind, name = "marker", timer_id.split(MARKER_TIMER, 1)[1]
            elif kind == "marker":
                name = event.attributes.get("marker_name")
            else:
                name = event.attributes.get("workflow_type")
            digest = (
                args_digest(event.attributes["args"]) if kind in ("activity", "child") and "args" in event.attributes else None
            )
            self.commands.append(RecordedCommand(kind, name, event.task_id, event.seq, digest))
        return added

    def root_of(self, task_id: str) -> str:
        return self.root.get(task_id, task_id)

    @property
    def last_seq(self) -> int:
        return self.events[-1].seq

    @property
    def last_command_seq(self) -> int:
        return self.commands[-1].seq if self.commands else 0
