"""The pytest plugin shipped with the package (entry point ``pytest11``): fixtures for tests of
code that uses this SDK.

- ``postgrip_env``: a ``WorkflowEnvironment`` (an in-process service on a free port, with a
  client), new for each test;
- ``postgrip_client``: its client;
- ``postgrip_time_skipping_env``: a time-skipping ``WorkflowEnvironment`` (timers and backoffs
  take no wall time);
- ``activity_environment``: an ``ActivityEnvironment`` to call activities directly.
"""

from __future__ import annotations

from typing import Iterator

import pytest

from .client import Client
from .testing import ActivityEnvironment, WorkflowEnvironment


@pytest.fixture
def postgrip_env() -> Iterator[WorkflowEnvironment]:
    """An in-process service on a free port and a client for it; stopped after the test."""
    with WorkflowEnvironment.start_local() as environment:
        yield environment


@pytest.fixture
def postgrip_time_skipping_env() -> Iterator[WorkflowEnvironment]:
    """A time-skipping environment (``WorkflowEnvironment.start_time_skipping()``); stopped after the test."""
    with WorkflowEnvironment.start_time_skipping() as environment:
        yield environment


@pytest.fixture
def postgrip_client(postgrip_env: WorkflowEnvironment) -> Client:
    """The client of ``postgrip_env``."""
    return postgrip_env.client


@pytest.fixture
def activity_environment() -> ActivityEnvironment:
    """An ActivityEnvironment: ``activity_environment.run(my_activity, arg)``."""
    return ActivityEnvironment()
