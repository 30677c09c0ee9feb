"""Which agents poll which queues: kept from their polls, shared through the store, described by
the client and the CLI; a run of a type no agent polls for is started with a warning."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from postgrip_agent import Agent, Client
from postgrip_agent.server import LocalServer, ManualClock

from .conftest import postgres_db, wait_for
from .test_cli import Listener, Shouter, cli, shout


def test_a_queue_shows_its_agents_their_types_and_its_backlog(server: LocalServer) -> None:
    client = Client.connect(server.address)
    with Agent(client, task_queue="described", workflows=[Shouter, Listener], activities=[shout], identity="agent-7"):
        queue = wait_for(
            lambda: (q := client.describe_task_queue("described")).takes("activity:shout") and q.takes("workflow:Shouter") and q
        )  # both of its lanes have polled
        assert {p.agent_id for p in queue.pollers} == {"agent-7"}
        kinds = {t for p in queue.pollers for t in p.task_types}
        assert {"workflow:Shouter", "workflow:Listener", "activity:shout"} <= kinds, kinds
        assert queue.takes("workflow:Shouter") and not queue.takes("workflow:Nobody")
        seen = queue.pollers[0].last_seen
        assert seen is not None and abs((datetime.now(timezone.utc) - seen).total_seconds()) < 60
    client.task.enqueue("report:build", payload={"n": 1}, queue="described")
    client.task.enqueue("report:build", payload={"n": 2}, queue="described")
    assert client.describe_task_queue("described").backlog == {"report:build": 2}
    assert client.describe_task_queue("nobody-here").pollers == []
    listed = {q["queue"] for q in client.connection.request("GET", "/api/v1/task-queues")}
    assert "described" in listed


def test_the_cli_describes_a_queue(server: LocalServer) -> None:
    client = Client.connect(server.address)
    with Agent(client, task_queue="cli-described", workflows=[Shouter], activities=[shout], identity="agent-cli"):
        wait_for(lambda: client.describe_task_queue("cli-described").pollers)
        shown = cli("task-queue", "describe", "cli-described", address=server.address)
        assert "agent-cli" in shown.stdout and "workflow:Shouter" in shown.stdout and "backlog: empty" in shown.stdout
        listed = cli("task-queue", "list", address=server.address)
        assert "cli-described" in listed.stdout
    empty = cli("task-queue", "describe", "idle-queue", address=server.address)
    assert "no agent has polled queue 'idle-queue'" in empty.stderr


def test_starting_a_type_no_agent_polls_for_warns_without_refusing(caplog: Any) -> None:
    clock = ManualClock()
    with LocalServer(clock=clock, unpolled_warning_after=60) as server:
        clock.advance(61)  # past the grace an agent started with the service has to poll
        client = Client.connect(server.address)
        with Agent(client, task_queue="warned", workflows=[Shouter], activities=[shout]):
            wait_for(lambda: client.describe_task_queue("warned").pollers)
            with caplog.at_level(logging.WARNING, logger="postgrip_agent.client"):
                client.start_workflow(Shouter, "hi", task_queue="warned")
                assert not [r for r in caplog.records if "no agent has polled" in r.getMessage()]
                typo = client.start_workflow("NoSuchFlow", "hi", task_queue="warned")
            warned = [r.getMessage() for r in caplog.records if "no agent has polled" in r.getMessage()]
            assert len(warned) == 1 and "workflow:NoSuchFlow" in warned[0] and "'warned'" in warned[0], warned
            assert typo.describe().state == "running"  # started all the same: an agent may come later
            shown = cli("workflow", "start", "NoSuchFlow", "-q", "warned", address=server.address)
            assert "no agent has polled queue 'warned' for workflow:NoSuchFlow" in shown.stderr, shown.stderr
            clock.advance(120)  # the agent's last poll is now older than the window
            quiet = cli("workflow", "start", "Shouter", "-q", "nobody-polls-this", address=server.address)
            assert "no agent has polled" in quiet.stderr


def test_replicas_share_what_polls_told_them() -> None:
    url = next(postgres_db())
    with LocalServer(db=url) as polled, LocalServer(db=url) as other:
        client = Client.connect(polled.address)
        with Agent(client, task_queue="shared-queue", workflows=[Shouter], activities=[shout], identity="agent-a"):
            wait_for(lambda: client.describe_task_queue("shared-queue").pollers)
            elsewhere = Client.connect(other.address)
            queue = wait_for(lambda: (q := elsewhere.describe_task_queue("shared-queue")).pollers and q, timeout=20)
            assert [p.agent_id for p in queue.pollers] == ["agent-a"]
