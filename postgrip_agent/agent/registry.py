"""Checks workflow and activity registrations when the Agent is built."""

from __future__ import annotations

import inspect
from typing import Any, Dict, Iterable, Mapping, Union

from .._runtime import sandbox

Registrations = Union[Iterable[Any], Mapping[str, Any]]


def _entries(items: Registrations) -> Iterable[Any]:
    return items.values() if isinstance(items, Mapping) else items


def workflows(items: Registrations) -> Dict[str, Any]:
    found: Dict[str, Any] = {}
    for target in _entries(items):
        name = getattr(target, "_postgrip_workflow_name", None)
        if name is None:
            raise TypeError(f"{target!r} is not a workflow: decorate it with @workflow.defn")
        if inspect.isclass(target):
            count = getattr(target, "_postgrip_run_methods", 0)
            if count != 1:
                raise TypeError(
                    f"workflow class {target.__name__} needs exactly one method decorated with @workflow.run (found {count})"
                )
        elif not callable(target):
            raise TypeError(f"workflow {name} must be a class or a function")
        if name in found:
            raise ValueError(f"two workflows are registered under the name {name!r}; give one @workflow.defn(name=...)")
        if getattr(target, "_postgrip_workflow_sandboxed", True):
            sandbox.check(target, name)
        found[name] = target
    return found


def activities(items: Registrations) -> Dict[str, Any]:
    found: Dict[str, Any] = {}
    for target in _entries(items):
        name = getattr(target, "_postgrip_activity_name", None)
        if name is None or not callable(target):
            raise TypeError(f"{target!r} is not an activity: decorate it with @activity.defn")
        if name in found:
            raise ValueError(f"two activities are registered under the name {name!r}; give one @activity.defn(name=...)")
        found[name] = target
    return found
