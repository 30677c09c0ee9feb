"""``workflow.patched``: changing workflow code while runs are in flight.

The first time a run asks ``patched(id)`` outside replay, the answer is yes and a marker
``patch:<id>`` is recorded in its history, in order with its commands (a ``MarkerRecorded``
event where the service has the ``markers`` extension, else a zero-length timer whose id
names the marker). A replay finds the marker where the run recorded it and answers yes
again; a run whose history went past that point without it answers no (it took the old
branch). Markers the code no longer asks for are passed over, so a ``patched`` call can be
deleted once no run needs its old branch.
"""

from __future__ import annotations

from typing import Any, Dict

from .. import types as wt
from ..types import format_timestamp
from .contract import RunningWorkflow
from .history import MARKER_TIMER


def patched(instance: RunningWorkflow, patch_id: str, *, deprecated: bool = False) -> bool:
    """Whether this run takes the patched branch: yes for a run that records the patch
    marker now or recorded it before; no for a run whose history went past this point
    without it. ``deprecated``: the old branch is gone; the marker is still recorded (so
    code that asks ``patched`` can replay the run) and the answer is always yes."""
    known = instance.patches.get(patch_id)
    if known is not None:
        return known
    name = f"patch:{patch_id}"
    commands = instance.history.commands
    index = instance.issued
    while index < len(commands) and commands[index].kind == "marker" and commands[index].name != name:
        index += 1
    found = index < len(commands) and commands[index].kind == "marker"
    new = instance.issued >= len(commands) and not instance.is_replaying()
    if found or new:  # the run took (or takes now) the patched branch: the marker says so
        payload = {**instance.base_payload(), "markerName": name, "details": {"patch_id": patch_id, "deprecated": deprecated}}
        if not instance.markers:  # written as a zero-length timer whose id names the marker
            payload = {
                **instance.base_payload(),
                "timerId": f"{instance.info.run_id}{MARKER_TIMER}{name}",
                "durationMs": 0,
                "fireAt": format_timestamp(instance.now),
            }
        request = {
            "type": "marker" if instance.markers else "timer",
            "namespace": instance.info.namespace,
            "queue": instance.info.task_queue,
            "payload": payload,
        }
        instance.issue("marker", name, f"marker {name}", request)
    taken = found or new or deprecated
    instance.patches[patch_id] = taken
    return taken


def upsert_search_attributes(instance: RunningWorkflow, attributes: Dict[str, Any]) -> None:
    """Record a change of the run's search attributes in its history (a marker the service applies)."""
    if not instance.markers and not instance.is_replaying():
        raise RuntimeError(
            "upsert_search_attributes needs a service with the 'markers' extension (the local "
            "service has it); set search attributes when starting the workflow instead"
        )
    payload = {**instance.base_payload(), "markerName": wt.UPSERT_MARKER, "details": {"search_attributes": attributes}}
    request = {"type": "marker", "namespace": instance.info.namespace, "queue": instance.info.task_queue, "payload": payload}
    instance.issue("marker", wt.UPSERT_MARKER, "upsert of search attributes", request)
