"""Agent sessions: the agent id comes from the session, and a reused refresh token revokes its family."""

from __future__ import annotations

from typing import Any, Dict

import requests

from postgrip_agent.server import LocalServer

TOKEN = "service-token"


def _enrol(address: str) -> Dict[str, Any]:
    response = requests.post(address + "/api/v1/agent/session/refresh", json={"refreshToken": TOKEN}, timeout=5)
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def test_a_session_cannot_act_on_another_agents_lease() -> None:
    with LocalServer(auth_token=TOKEN) as server:
        one, two = _enrol(server.address), _enrol(server.address)
        assert one["agentId"] != two["agentId"]
        admin = {"Authorization": f"Bearer {TOKEN}"}
        requests.post(server.address + "/api/v1/tasks", json={"type": "job", "queue": "q"}, headers=admin, timeout=5)
        as_one = {"Authorization": f"Bearer {one['accessToken']}"}
        as_two = {"Authorization": f"Bearer {two['accessToken']}"}
        # the agent_id query parameter is ignored for sessions: the session names the agent
        task = requests.get(server.address + "/api/v1/agent/poll?queue=q&agent_id=someone", headers=as_one, timeout=5).json()[
            "task"
        ]
        assert task["agent_id"] == one["agentId"]
        for query in ("", f"?agent_id={one['agentId']}"):
            stolen = requests.post(
                server.address + f"/api/v1/agent/tasks/{task['id']}/complete{query}",
                json={"result": {"value": 1}},
                headers=as_two,
                timeout=5,
            )
            assert stolen.status_code == 409
        mine = requests.post(
            server.address + f"/api/v1/agent/tasks/{task['id']}/complete",
            json={"result": {"value": 1}},
            headers=as_one,
            timeout=5,
        )
        assert mine.status_code == 200


def test_reusing_a_rotated_refresh_token_revokes_the_family() -> None:
    with LocalServer(auth_token=TOKEN) as server:
        first = _enrol(server.address)
        rotated = requests.post(
            server.address + "/api/v1/agent/session/refresh", json={"refreshToken": first["refreshToken"]}, timeout=5
        ).json()
        reuse = requests.post(
            server.address + "/api/v1/agent/session/refresh", json={"refreshToken": first["refreshToken"]}, timeout=5
        )
        assert reuse.status_code == 401 and "revoked" in reuse.json()["error"]
        # every token of the family is gone: the newer access and refresh tokens too
        listed = requests.get(
            server.address + "/api/v1/tasks", headers={"Authorization": f"Bearer {rotated['accessToken']}"}, timeout=5
        )
        assert listed.status_code == 401
        again = requests.post(
            server.address + "/api/v1/agent/session/refresh", json={"refreshToken": rotated["refreshToken"]}, timeout=5
        )
        assert again.status_code == 401


def test_a_lost_refresh_answer_retried_with_its_key_does_not_revoke() -> None:
    with LocalServer(auth_token=TOKEN) as server:
        first = _enrol(server.address)
        headers = {"Idempotency-Key": "refresh-1"}
        a = requests.post(
            server.address + "/api/v1/agent/session/refresh",
            json={"refreshToken": first["refreshToken"]},
            headers=headers,
            timeout=5,
        )
        b = requests.post(
            server.address + "/api/v1/agent/session/refresh",
            json={"refreshToken": first["refreshToken"]},
            headers=headers,
            timeout=5,
        )
        assert a.status_code == b.status_code == 200 and a.json() == b.json()
        listed = requests.get(
            server.address + "/api/v1/tasks", headers={"Authorization": f"Bearer {b.json()['accessToken']}"}, timeout=5
        )
        assert listed.status_code == 200


def test_reuse_sent_with_an_idempotency_key_still_revokes_the_family() -> None:
    with LocalServer(auth_token=TOKEN) as server:
        first = _enrol(server.address)
        rotated = requests.post(
            server.address + "/api/v1/agent/session/refresh",
            json={"refreshToken": first["refreshToken"]},
            headers={"Idempotency-Key": "k1"},
            timeout=5,
        ).json()
        for _ in range(2):  # the reuse, and a retry of it with the same key: both refused
            reuse = requests.post(
                server.address + "/api/v1/agent/session/refresh",
                json={"refreshToken": first["refreshToken"]},
                headers={"Idempotency-Key": "k2"},
                timeout=5,
            )
            assert reuse.status_code == 401 and "revoked" in reuse.json()["error"]
        listed = requests.get(
            server.address + "/api/v1/tasks", headers={"Authorization": f"Bearer {rotated['accessToken']}"}, timeout=5
        )
        assert listed.status_code == 401


def test_an_agent_session_acts_only_in_the_namespace_it_first_names() -> None:
    with LocalServer(auth_token=TOKEN) as server:
        base, admin = server.address, {"Authorization": f"Bearer {TOKEN}"}
        for namespace, workflow_id in (("billing", "bill-1"), ("default", "other-1")):
            started = requests.post(
                base + "/api/v1/tasks",
                json={"type": "workflow:W", "queue": "q", "namespace": namespace, "payload": {"workflowId": workflow_id}},
                headers=admin,
                timeout=5,
            )
            assert started.status_code == 202
        session = _enrol(base)
        agent = {"Authorization": f"Bearer {session['accessToken']}"}
        # a listing that names no namespace binds nothing (an agent may list before its first poll)
        assert requests.get(base + "/api/v1/tasks", headers=agent, timeout=5).status_code == 200
        leased = requests.get(base + "/api/v1/agent/poll?namespace=billing&queue=q", headers=agent, timeout=5).json()["task"]
        assert leased["namespace"] == "billing"  # the first request naming a namespace binds it to billing
        other_task = requests.get(base + "/api/v1/workflows/other-1", headers=admin, timeout=5).json()["task_id"]
        refused = [
            requests.get(base + "/api/v1/agent/poll?namespace=default&queue=q", headers=agent, timeout=5),
            requests.get(base + "/api/v1/workflows?namespace=default", headers=agent, timeout=5),
            requests.get(base + "/api/v1/workflows/other-1", headers=agent, timeout=5),
            requests.get(base + f"/api/v1/tasks/{other_task}", headers=agent, timeout=5),
            requests.post(base + "/api/v1/workflows/other-1/signal", json={"name": "s"}, headers=agent, timeout=5),
            requests.post(base + "/api/v1/workflows/other-1/terminate", json={}, headers=agent, timeout=5),
            requests.post(base + "/api/v1/tasks", json={"type": "job", "queue": "q"}, headers=agent, timeout=5),
        ]
        for answer in refused:
            assert answer.status_code == 403, (answer.request.method, answer.request.url, answer.text)
            assert "acts in namespace 'billing'" in answer.json()["error"]
        listed = requests.get(base + "/api/v1/workflows", headers=agent, timeout=5).json()
        assert [w["id"] for w in listed] == ["bill-1"]  # a listing without a namespace stays in its own
        other = requests.get(base + "/api/v1/workflows/other-1", headers=admin, timeout=5).json()
        assert other["state"] == "running"  # the refused terminate changed nothing
        history = requests.get(base + "/api/v1/workflows/other-1/history", headers=admin, timeout=5).json()
        assert [e["type"] for e in history] == ["WorkflowExecutionStarted"]
        # the tokens it refreshes into keep the binding
        renewed = requests.post(
            base + "/api/v1/agent/session/refresh", json={"refreshToken": session["refreshToken"]}, timeout=5
        ).json()
        again = requests.get(
            base + "/api/v1/agent/poll?namespace=default&queue=q",
            headers={"Authorization": f"Bearer {renewed['accessToken']}"},
            timeout=5,
        )
        assert again.status_code == 403
