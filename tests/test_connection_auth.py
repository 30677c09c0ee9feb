"""Management tokens, agent sessions with refresh, request signing, headers."""

from __future__ import annotations

import base64
import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List

import pytest

from postgrip_agent import Agent, Client, Connection, UnauthorizedError, activity, workflow
from postgrip_agent.connection import USER_AGENT
from postgrip_agent.server import LocalServer

TOKEN = "local-secret"


@activity.defn
def ping() -> str:
    return "pong"


@workflow.defn
def pinger() -> Any:
    result = yield workflow.execute_activity(ping, start_to_close_timeout=10)
    return result


def test_management_token_from_argument_or_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with LocalServer(auth_token=TOKEN) as server:
        with pytest.raises(UnauthorizedError):
            Client.connect(server.address).ready()
        assert Client.connect(server.address, token=TOKEN).ready().status == "ready"
        monkeypatch.setenv("POSTGRIP_TOKEN", TOKEN)
        monkeypatch.setenv("POSTGRIP_AGENTORCHESTRATOR_URL", server.address)
        assert Client.connect().ready().status == "ready"


def test_agent_session_is_refreshed_and_used_on_the_agent_lane() -> None:
    with LocalServer(auth_token=TOKEN) as server:
        client = Client.connect(server.address, token=TOKEN)
        agent_client = Client.connect(server.address, agent_refresh_token=TOKEN)  # no management token
        with Agent(agent_client, task_queue="secure", workflows=[pinger], activities=[ping]):
            assert client.execute_workflow(pinger, task_queue="secure", timeout=10) == "pong"
        # the refresh token rotated: the bootstrap token is no longer what the connection holds
        assert agent_client.connection._refresh_token not in (None, TOKEN)


class _Recorder:
    def __init__(self) -> None:
        self.requests: List[Dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_GET = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.address = f"http://127.0.0.1:{self.server.server_address[1]}"


def test_agent_lane_writes_are_signed_with_ed25519() -> None:
    ed25519 = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ed25519")
    from cryptography.hazmat.primitives.serialization import Encoding, PrivateFormat, NoEncryption, PublicFormat

    key = ed25519.Ed25519PrivateKey.generate()
    raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    recorder = _Recorder()
    conn = Connection(
        recorder.address,
        signing_private_key=base64.b64encode(raw).decode(),
        agent_access_token="acc",
        headers={"X-Team": "payments"},
    )
    conn.request("POST", "/api/v1/agent/tasks/t1/complete", params={"agent_id": "a"}, body={"result": {}}, agent_lane=True)
    conn.request("GET", "/api/v1/tasks")  # not an agent-lane write: unsigned
    signed, plain = recorder.requests
    headers = signed["headers"]
    assert headers["Authorization"] == "Bearer acc" and headers["X-Team"] == "payments"
    assert headers["User-Agent"] == USER_AGENT and USER_AGENT.startswith("postgrip-agent-python-sync/")
    digest = base64.b64encode(hashlib.sha256(signed["body"]).digest()).decode()
    canonical = "\n".join(
        [
            "agent-task-v1",
            "POST",
            "/api/v1/agent/tasks/t1/complete",
            "agent_id=a",
            headers["X-Agent-Signature-Timestamp"],
            digest,
            "",
        ]
    ).encode()
    key.public_key().verify(base64.b64decode(headers["X-Agent-Signature"]), canonical)  # raises if wrong
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert headers["X-Agent-Signature-Key-Id"] == hashlib.sha256(public).hexdigest()[:16]
    assert "X-Agent-Signature" not in plain["headers"]


def test_list_workflows_iterates_over_pages(env: Any) -> None:
    ids = [env.client.start_workflow("W", id=f"paged-{i}").id for i in range(7)]
    sent = env.client.connection.requests_sent
    assert [w.id for w in env.client.list_workflows(page_size=3)] == ids[::-1]  # newest first
    assert env.client.connection.requests_sent - sent == 3  # 3 + 3 + 1
