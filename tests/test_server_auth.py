"""With --auth-token the API wants bearer tokens; agent sessions are issued by refresh."""

from __future__ import annotations

from typing import Iterator

import pytest
import requests

from postgrip_agent.server import LocalServer

from .conftest import Wire

TOKEN = "s3cret-token"


@pytest.fixture
def secured() -> Iterator[LocalServer]:
    with LocalServer(auth_token=TOKEN) as srv:
        yield srv


def test_missing_or_wrong_token_is_401(secured: LocalServer) -> None:
    anonymous = Wire(secured.address)
    assert anonymous.get("/healthz") == {"status": "ok"}  # health stays open
    denied = anonymous.post("/api/v1/tasks", {"type": "x"}, expect=401)
    assert denied["code"] == "unauthorized" and "Bearer" in denied["error"]
    wrong = Wire(secured.address, token="nope")
    assert wrong.get("/api/v1/tasks", expect=401)["code"] == "unauthorized"
    assert Wire(secured.address, token=TOKEN).get("/api/v1/tasks") == []


def test_refresh_issues_sessions_that_the_agent_lane_accepts(secured: LocalServer) -> None:
    anonymous = Wire(secured.address)
    session = anonymous.post("/api/v1/agent/session/refresh", {"refreshToken": TOKEN}, expect=200)
    agent = Wire(secured.address, token=session["accessToken"])
    Wire(secured.address, token=TOKEN).enqueue("shell.exec", {}, queue="q")
    assert agent.poll(queue="q") is not None
    # access tokens are not management tokens
    assert agent.post("/api/v1/namespaces", {"name": "x"}, expect=401)["code"] == "unauthorized"
    rotated = anonymous.post("/api/v1/agent/session/refresh", {"refreshToken": session["refreshToken"]}, expect=200)
    assert rotated["accessToken"] != session["accessToken"]
    reused = anonymous.post("/api/v1/agent/session/refresh", {"refreshToken": session["refreshToken"]}, expect=401)
    assert "refresh token" in reused["error"]
    assert requests.post(secured.address + "/api/v1/agent/session/refresh", json={}).status_code == 400
