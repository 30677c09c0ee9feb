"""The CLI's listing and result commands: newest first, paged; a run's result by exit code; a
closed pipe; a timeout's own exit code."""

from __future__ import annotations

import json
import subprocess
from typing import Iterator

import pytest

from postgrip_agent import Agent, Client
from postgrip_agent.server import LocalServer

from .test_cli import QUEUE, Listener, Shouter, cli, command, one_line_error, shout

EXIT_TIMEOUT = 4


@pytest.fixture(scope="module")
def listed() -> Iterator[str]:
    with LocalServer(db=":memory:", port=0) as server:
        client = Client.connect(server.address)
        for i in range(67):
            client.start_workflow("Nobody", i, id=f"listed-{i:02d}", task_queue="nobody-polls")
        with Agent(client, task_queue=QUEUE, workflows=[Shouter, Listener], activities=[shout]):
            yield server.address


def _ids(done: subprocess.CompletedProcess) -> list:
    return [row["id"] for row in json.loads(done.stdout)]


def test_list_is_newest_first_paged_with_a_token_or_all(listed: str) -> None:
    first = cli("workflow", "list", "-q", "nobody-polls", "-o", "json", address=listed)
    assert _ids(first) == [f"listed-{i:02d}" for i in range(66, 16, -1)]  # the 50 newest
    token = first.stderr.split("--page-token ")[1].split()[0]
    rest = cli("workflow", "list", "-q", "nobody-polls", "-o", "json", "--page-token", token, address=listed)
    assert _ids(rest) == [f"listed-{i:02d}" for i in range(16, -1, -1)] and "--page-token" not in rest.stderr
    every = cli("workflow", "list", "-q", "nobody-polls", "-o", "json", "--all", address=listed)
    assert _ids(every) == [f"listed-{i:02d}" for i in range(66, -1, -1)]
    one_line_error(cli("workflow", "list", "--limit", "0", address=listed, check=2), "--limit must be 1..1000")


def test_result_prints_json_and_exits_by_outcome(listed: str) -> None:
    client = Client.connect(listed)
    done = client.start_workflow(Shouter, "hey", id="result-ok", task_queue=QUEUE)
    done.result(timeout=30)
    assert json.loads(cli("workflow", "result", "result-ok", address=listed).stdout) == "HEY"
    client.start_workflow(Listener, id="result-stopped", task_queue=QUEUE).terminate(reason="enough")
    stopped = cli("workflow", "result", "result-stopped", address=listed, check=1)
    assert "terminated" in stopped.stdout.lower(), stopped.stdout
    waiting = cli("workflow", "result", "listed-00", "--timeout", "0.3", address=listed, check=EXIT_TIMEOUT)
    one_line_error(waiting, "did not finish within 0.3 s")
    executed = cli("workflow", "execute", "Nobody", "-q", "nobody-polls", "--timeout", "0.3", address=listed, check=EXIT_TIMEOUT)
    one_line_error(executed, "did not finish within 0.3 s")


def test_a_closed_pipe_ends_the_command_quietly(listed: str) -> None:
    proc = subprocess.Popen(
        [*command(), "workflow", "list", "--all", "--address", listed], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith("ID")
    proc.stdout.close()  # as `| head -1` does
    assert proc.wait(timeout=30) == 0
    assert "Traceback" not in proc.stderr.read()
