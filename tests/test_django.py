"""``postgrip_agent.contrib.django`` in a real Django project (``tests/django_project``): views
start, signal and query a workflow through the shared client (exercised with Django's test
client); ``manage.py postgrip_agent`` runs, as a subprocess, an agent for the workflows and
activities it discovers, and drains on SIGTERM; the site starts while the service is down."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

django = pytest.importorskip("django")

from postgrip_agent import TransportError  # noqa: E402
from postgrip_agent.server import LocalServer  # noqa: E402

from .conftest import wait_for  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = "tests.django_project.settings"


@pytest.fixture(scope="module", autouse=True)
def django_set_up() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS)
    django.setup()


@pytest.fixture
def shared_client() -> Iterator[None]:
    """Each test configures POSTGRIP itself: forget the client an earlier test made."""
    import postgrip_agent.contrib.django as integration

    integration._shared = None
    yield
    if integration._shared is not None:
        integration._shared.close()
    integration._shared = None


def manage(address: str) -> "subprocess.Popen[str]":
    env = {**os.environ, "PYTHONPATH": str(ROOT), "POSTGRIP_TEST_ADDRESS": address}
    return subprocess.Popen(
        [sys.executable, "-m", "django", "postgrip_agent", "--settings", SETTINGS],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_views_and_the_management_command_run_a_workflow(shared_client: None) -> None:
    from django.test import Client as WebClient
    from django.test.utils import override_settings

    from postgrip_agent.contrib.django import get_client

    with LocalServer(db=":memory:", port=0) as server:
        agent = manage(server.address)
        try:
            with override_settings(POSTGRIP={"ADDRESS": server.address, "TASK_QUEUE": "shop", "RETRY_SECONDS": 1}):
                web = WebClient()
                assert web.post("/orders/1").status_code == 202
                wait_for(lambda: web.get("/orders/1/state").json()["state"] == "waiting for payment", timeout=30)
                assert web.post("/orders/1/pay", data={"amount": 12}, content_type="application/json").json() == {"ok": True}
                wait_for(lambda: web.get("/orders/1/state").json()["state"] == "paid", timeout=30)
                assert get_client().get_workflow_handle("shop-1").result(timeout=10) == "order 1: paid 12 (checked 24)"
            agent.send_signal(signal.SIGTERM)
            out, err = agent.communicate(timeout=30)
        finally:
            agent.kill()
    assert agent.returncode == 0, err
    assert "on queue 'shop': 1 workflow(s), 1 activity(ies)" in out and "stopped" in out


def test_the_site_starts_while_the_service_is_down(shared_client: None) -> None:
    from django.test import Client as WebClient
    from django.test.utils import override_settings

    with override_settings(POSTGRIP={"ADDRESS": "http://127.0.0.1:1", "RETRY_SECONDS": 0.2}):
        with pytest.raises(TransportError) as caught:
            WebClient().post("/orders/2")
    assert "127.0.0.1:1" in str(caught.value)


def test_an_unknown_setting_is_named(shared_client: None) -> None:
    from django.core.exceptions import ImproperlyConfigured
    from django.test.utils import override_settings

    from postgrip_agent.contrib.django import get_client

    with override_settings(POSTGRIP={"ADRESS": "http://x"}), pytest.raises(ImproperlyConfigured, match="ADRESS"):
        get_client()


def test_the_command_without_a_reachable_service_fails_clearly(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "django", "postgrip_agent", "--settings", SETTINGS],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "POSTGRIP_TEST_ADDRESS": "http://127.0.0.1:1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "127.0.0.1:1" in done.stderr.strip().splitlines()[-1]
