"""An Agent as a process of its own (the CLI's ``agent`` command, Django's management command,
Flask's): finding the workflows and activities a module defines, and exiting past stuck task code."""

from __future__ import annotations

import inspect
import logging
import os
import sys
import types
from typing import Any, List, Tuple

from .agent import Agent

log = logging.getLogger("postgrip_agent.cli")


def discover(module: types.ModuleType) -> Tuple[List[Any], List[Any]]:
    """The workflows and activities a module defines (not those it imports from elsewhere)."""
    workflows, activities = [], []
    for value in vars(module).values():
        if getattr(value, "__module__", None) != module.__name__:
            continue
        if getattr(value, "_postgrip_workflow_name", None) is not None and (
            inspect.isclass(value) or getattr(value, "_postgrip_run_method", None) is value
        ):
            workflows.append(value)
        elif getattr(value, "_postgrip_activity_name", None) is not None and callable(value):
            activities.append(value)
    return workflows, activities


def leave_stuck_work(agent: Agent) -> None:
    """After a drain, exit at once if task code is still busy (a long C call ignores interruption):
    its task was handed back already, and the interpreter would otherwise wait for the thread."""
    if agent.in_flight:
        log.warning("%d task(s) still busy in this process after being handed back; exiting without them", agent.in_flight)
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
