"""Flask: ``postgrip = PostGrip(app)`` (or ``PostGrip()`` and ``postgrip.init_app(app)``).

Configuration keys (``app.config``):

- ``POSTGRIP_ADDRESS``: the service (default ``POSTGRIP_AGENTORCHESTRATOR_URL``, then
  http://127.0.0.1:4100); ``POSTGRIP_TOKEN``; ``POSTGRIP_NAMESPACE`` (default ``default``);
  ``POSTGRIP_TASK_QUEUE``: where ``start_workflow`` puts runs by default (default ``default``);
  ``POSTGRIP_RETRY_SECONDS``: how long a call the service does not answer is retried (default 5).
- ``POSTGRIP_RUN_AGENT``: run an Agent inside the app process too (default False), for
  ``POSTGRIP_WORKFLOWS`` and ``POSTGRIP_ACTIVITIES`` (lists of workflows/activities, or of
  module paths whose definitions are found as ``postgrip-agent agent`` finds them), on
  ``POSTGRIP_TASK_QUEUE``; ``POSTGRIP_AGENT_GRACE``: seconds its in-flight work may take at
  exit (default 30).

The client connects on first use, so the app starts while the service is down; the first call
then raises a TransportError naming the address. Use ``postgrip.client`` in views. Under a
pre-fork server, each worker makes its own client; start an in-process agent after the fork
(``postgrip.start_agent()`` in gunicorn's ``post_fork``) rather than with ``--preload``.
"""

from __future__ import annotations

import atexit
import importlib
import logging
from typing import Any, List, Optional, Sequence, Set, Tuple

from flask import Flask, current_app

from ..agent import Agent
from ..client import Client
from ._shared import DEFAULT_RETRY_SECONDS, LazyClient

log = logging.getLogger("postgrip_agent.contrib.flask")

EXTENSION = "postgrip"


class PostGrip:
    """The Flask extension: a shared, lazily connected Client per app, and optionally an Agent."""

    def __init__(self, app: Optional[Flask] = None, *, workflows: Sequence[Any] = (), activities: Sequence[Any] = ()) -> None:
        self._workflows, self._activities = list(workflows), list(activities)
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask, *, workflows: Sequence[Any] = (), activities: Sequence[Any] = ()) -> None:
        config = app.config
        state = _State(
            LazyClient(
                config.get("POSTGRIP_ADDRESS"),
                token=config.get("POSTGRIP_TOKEN"),
                namespace=config.get("POSTGRIP_NAMESPACE", "default"),
                task_queue=config.get("POSTGRIP_TASK_QUEUE", "default"),
                retry_seconds=config.get("POSTGRIP_RETRY_SECONDS", DEFAULT_RETRY_SECONDS),
            ),
            list(workflows) or self._workflows or list(config.get("POSTGRIP_WORKFLOWS", ())),
            list(activities) or self._activities or list(config.get("POSTGRIP_ACTIVITIES", ())),
            config.get("POSTGRIP_TASK_QUEUE", "default"),
            float(config.get("POSTGRIP_AGENT_GRACE", 30.0)),
        )
        app.extensions[EXTENSION] = state
        if config.get("POSTGRIP_RUN_AGENT", False):
            state.start_agent()

    @property
    def client(self) -> Client:
        """The current app's Client (connected on first use)."""
        return _state().client.get()

    def start_agent(self, app: Optional[Flask] = None) -> Agent:
        """Run the app's Agent in this process (once; stopped with its grace period at exit)."""
        return (app.extensions[EXTENSION] if app is not None else _state()).start_agent()

    def stop_agent(self, app: Optional[Flask] = None) -> None:
        (app.extensions[EXTENSION] if app is not None else _state()).stop_agent()


class _State:
    def __init__(self, client: LazyClient, workflows: List[Any], activities: List[Any], task_queue: str, grace: float) -> None:
        self.client = client
        self.workflows, self.activities = workflows, activities
        self.task_queue, self.grace = task_queue, grace
        self.agent: Optional[Agent] = None

    def start_agent(self) -> Agent:
        if self.agent is None:
            workflows, activities = _resolve(self.workflows, self.activities)
            self.agent = Agent(self.client.get(), task_queue=self.task_queue, workflows=workflows, activities=activities).start()
            atexit.register(self.stop_agent)
        return self.agent

    def stop_agent(self) -> None:
        if self.agent is not None:
            self.agent.shutdown(grace=self.grace)
            self.agent = None


def _state() -> _State:
    state = current_app.extensions.get(EXTENSION)
    if state is None:
        raise RuntimeError("PostGrip is not set up on this app: call PostGrip(app) or postgrip.init_app(app)")
    return state  # type: ignore[no-any-return]


def _resolve(workflows: List[Any], activities: List[Any]) -> Tuple[List[Any], List[Any]]:
    """Workflows and activities, with module paths replaced by what the modules define."""
    from ..agent.process import discover

    found_workflows: List[Any] = []
    found_activities: List[Any] = []
    for item in [*workflows, *activities]:
        if isinstance(item, str):
            defined = discover(importlib.import_module(item))
            found_workflows += defined[0]
            found_activities += defined[1]
        elif item in workflows:
            found_workflows.append(item)
        else:
            found_activities.append(item)
    # a module named in both lists (it defines both) is read once: each definition registers once
    return _once(found_workflows), _once(found_activities)


def _once(items: List[Any]) -> List[Any]:
    out: List[Any] = []
    seen: Set[int] = set()
    for item in items:
        if id(item) not in seen:
            seen.add(id(item))
            out.append(item)
    return out
