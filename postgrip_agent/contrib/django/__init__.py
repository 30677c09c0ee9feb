"""Django: add ``"postgrip_agent.contrib.django"`` to ``INSTALLED_APPS`` and configure ``POSTGRIP``.

.. code-block:: python

    POSTGRIP = {
        "ADDRESS": "http://127.0.0.1:4100",   # default: POSTGRIP_AGENTORCHESTRATOR_URL
        "TOKEN": None,                        # default: POSTGRIP_TOKEN
        "NAMESPACE": "default",
        "TASK_QUEUE": "default",              # where start_workflow puts runs, and the agent polls
        "GRACE": 30,                          # seconds in-flight work may take when the agent stops
        "RETRY_SECONDS": 5,                   # how long a call the service does not answer is retried
    }

``get_client()`` is the process's shared Client, connected on first use (the site starts
while the service is down; the first call raises a TransportError naming the address).
``python manage.py postgrip_agent`` runs an Agent for the workflows and activities defined in
the ``workflows.py`` and ``activities.py`` modules of the installed apps (as Celery's
``autodiscover_tasks``), closing stale database connections before and after each activity,
and drains on SIGTERM as ``postgrip-agent agent`` does. Start workflows from views inside
``transaction.on_commit`` when they depend on rows the view writes.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
from typing import Any, Callable, Dict, List, Optional, Tuple

from ...client import Client
from .._shared import DEFAULT_RETRY_SECONDS, LazyClient

_shared: Optional[LazyClient] = None


def settings() -> Dict[str, Any]:
    """The ``POSTGRIP`` setting, with defaults."""
    from django.conf import settings as django_settings

    given = dict(getattr(django_settings, "POSTGRIP", {}) or {})
    unknown = sorted(set(given) - {"ADDRESS", "TOKEN", "NAMESPACE", "TASK_QUEUE", "GRACE", "RETRY_SECONDS"})
    if unknown:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            f"POSTGRIP has unknown key(s) {', '.join(unknown)}; "
            "use ADDRESS, TOKEN, NAMESPACE, TASK_QUEUE, GRACE and RETRY_SECONDS"
        )
    return {
        "ADDRESS": None,
        "TOKEN": None,
        "NAMESPACE": "default",
        "TASK_QUEUE": "default",
        "GRACE": 30.0,
        "RETRY_SECONDS": DEFAULT_RETRY_SECONDS,
        **given,
    }


def get_client() -> Client:
    """The shared Client (made on first use; again in a forked worker)."""
    global _shared
    if _shared is None:
        config = settings()
        _shared = LazyClient(
            config["ADDRESS"],
            token=config["TOKEN"],
            namespace=config["NAMESPACE"],
            task_queue=config["TASK_QUEUE"],
            retry_seconds=config["RETRY_SECONDS"],
        )
    return _shared.get()


def with_fresh_connections(activity: Callable[..., Any]) -> Callable[..., Any]:
    """The activity, closing the thread's stale database connections before and after it runs
    (Django's ``close_old_connections``, as a request would), so a long-lived agent thread
    never uses a connection the database has dropped."""
    if inspect.iscoroutinefunction(activity):
        return activity
    from django.db import close_old_connections

    @functools.wraps(activity)
    def run(*args: Any, **kwargs: Any) -> Any:
        close_old_connections()
        try:
            return activity(*args, **kwargs)
        finally:
            close_old_connections()

    return run


def autodiscover() -> Tuple[List[Any], List[Any]]:
    """The workflows and activities defined in ``<app>.workflows`` and ``<app>.activities`` of
    each installed app (a module that is absent is skipped; one that fails to import raises)."""
    from django.apps import apps

    from ...agent.process import discover

    workflows: List[Any] = []
    activities: List[Any] = []
    for app in apps.get_app_configs():
        for part in ("workflows", "activities"):
            name = f"{app.name}.{part}"
            if importlib.util.find_spec(name) is None:
                continue
            found = discover(importlib.import_module(name))
            workflows += found[0]
            activities += [with_fresh_connections(a) for a in found[1]]
    return workflows, activities
