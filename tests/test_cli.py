"""The ``postgrip-agent`` console script, run as a subprocess against a LocalServer over HTTP.

An Agent in this process runs the workflows the command starts. JSON output is parsed; errors
must be one line on stderr with the documented exit code and no traceback.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path
from typing import Iterator, List, Optional

import pytest

from postgrip_agent import Agent, Client, activity, workflow
from postgrip_agent.server import LocalServer

from .conftest import wait_for

SCRIPT = Path(sys.executable).parent / "postgrip-agent"
QUEUE = "cli"


def command() -> List[str]:
    """How to run the console script here."""
    return [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "postgrip_agent.cli"]


def cli(
    *args: str, address: Optional[str] = None, check: Optional[int] = 0, timeout: float = 60, cwd: Optional[Path] = None
) -> subprocess.CompletedProcess:
    extra = ["--address", address] if address else []
    done = subprocess.run(
        [*command(), *args, *extra],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    if check is not None:
        assert done.returncode == check, f"exit {done.returncode}\nstdout: {done.stdout}\nstderr: {done.stderr}"
    return done


def one_line_error(done: subprocess.CompletedProcess, *phrases: str) -> None:
    lines = done.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("postgrip-agent: error: "), done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    for phrase in phrases:
        assert phrase in lines[-1], lines[-1]


@activity.defn
def shout(word: str) -> str:
    activity.milestone("shouting", index=1, total=2)
    activity.stdout(f"about to shout {word}\n")
    return word.upper()


@workflow.defn
class Shouter:
    @workflow.run
    def run(self, word: str):  # type: ignore[no-untyped-def]
        workflow.milestone("started", index=0, total=2)
        loud = yield workflow.execute_activity(shout, word, start_to_close_timeout=timedelta(seconds=10))
        workflow.milestone("shouted", index=2, total=2)
        return loud


@workflow.defn
class Listener:
    def __init__(self) -> None:
        self.heard: List[str] = []

    @workflow.run
    def run(self):  # type: ignore[no-untyped-def]
        yield workflow.condition(lambda: "stop" in self.heard)
        return self.heard

    @workflow.signal
    def hear(self, word: str) -> None:
        self.heard.append(word)

    @workflow.query
    def heard_so_far(self) -> List[str]:
        return self.heard

    @workflow.update
    def hear_now(self, word: str) -> int:
        self.heard.append(word)
        return len(self.heard)


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    with LocalServer(db=":memory:", port=0) as server:
        client = Client.connect(server.address)
        with Agent(client, task_queue=QUEUE, workflows=[Shouter, Listener], activities=[shout]):
            yield server.address


def test_version_and_usage_errors() -> None:
    assert cli("--version").stdout.startswith("postgrip-agent ")
    assert "usage" in cli("workflow", "frobnicate", check=2).stderr
    assert "unrecognized arguments" in cli("workflow", "list", "--colour", "red", check=2).stderr


def test_execute_shows_progress_and_prints_the_result(served: str) -> None:
    done = cli("workflow", "execute", "Shouter", "--arg", '"hello"', "-q", QUEUE, address=served)
    lines = done.stdout.splitlines()
    assert "[------------------------] 0/2 started" in lines
    assert "[############------------] 1/2 shouting" in lines
    assert "[########################] 2/2 shouted" in lines
    assert "stdout: about to shout hello" in lines
    assert lines[-1] == "HELLO"
    parsed = cli("workflow", "execute", "Shouter", "--args", '["json"]', "-q", QUEUE, "--output", "json", address=served)
    assert json.loads(parsed.stdout) == "JSON"  # progress went to stderr: stdout is one document
    assert "2/2 shouted" in parsed.stderr


def test_start_list_describe_show_signal_query_update_terminate(served: str) -> None:
    started = json.loads(
        cli("workflow", "start", "Listener", "--id", "cli-listener", "-q", QUEUE, "-o", "json", address=served).stdout
    )
    assert started["workflow_id"] == "cli-listener" and started["run_id"]
    listed = json.loads(cli("workflow", "list", "--type", "Listener", "-o", "json", address=served).stdout)
    assert [row["id"] for row in listed] == ["cli-listener"] and listed[0]["state"] == "running"
    assert json.loads(cli("workflow", "count", "--type", "Listener", "-o", "json", address=served).stdout) == 1
    cli("workflow", "signal", "cli-listener", "hear", "--arg", '"one"', address=served)
    wait_for(
        lambda: (
            json.loads(cli("workflow", "query", "cli-listener", "heard_so_far", "-o", "json", address=served).stdout) == ["one"]
        )
    )
    assert cli("workflow", "update", "cli-listener", "hear_now", "--arg", '"two"', address=served).stdout.strip() == "2"
    described = json.loads(cli("workflow", "describe", "cli-listener", "-o", "json", address=served).stdout)
    assert described["state"] == "running" and described["type"] == "Listener"
    history = cli("workflow", "show", "cli-listener", address=served).stdout
    assert "WorkflowExecutionStarted" in history and "WorkflowSignaled" in history
    cli("workflow", "terminate", "cli-listener", "--reason", "test over", address=served)
    ended = json.loads(cli("workflow", "describe", "cli-listener", "-o", "json", address=served).stdout)
    assert ended["state"] == "failed" and ended["error"] == "terminated: test over"
    table = cli("workflow", "list", "--type", "Listener", address=served).stdout.splitlines()
    assert table[0].split()[:3] == ["ID", "TYPE", "STATUS"] and table[1].split()[:3] == ["cli-listener", "Listener", "TERMINATED"]


def test_show_follow_streams_until_the_run_ends_and_cancel(served: str) -> None:
    cli("workflow", "start", "Listener", "--id", "cli-follow", "-q", QUEUE, address=served)
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "postgrip_agent.cli"]
    follower = subprocess.Popen(
        [*command, "workflow", "show", "cli-follow", "--follow", "--address", served],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        cli("workflow", "signal", "cli-follow", "hear", "--arg", '"stop"', address=served)
        out, err = follower.communicate(timeout=30)
    finally:
        follower.kill()
    assert follower.returncode == 0, err
    assert out.index("WorkflowSignaled") < out.index("WorkflowExecutionCompleted")
    cli("workflow", "start", "Listener", "--id", "cli-cancel", "-q", QUEUE, address=served)
    cli("workflow", "cancel", "cli-cancel", "--reason", "no longer needed", address=served)
    watched = cli("workflow", "watch", "cli-cancel", address=served, check=1)
    assert "cancelled" in watched.stdout


def test_schedules_from_the_command_line(served: str) -> None:
    created = json.loads(
        cli(
            "schedule",
            "create",
            "cli-nightly",
            "--workflow",
            "Shouter",
            "--cron",
            "0 6 * * *",
            "--arg",
            '"dawn"',
            "-q",
            QUEUE,
            "-o",
            "json",
            address=served,
        ).stdout
    )
    assert created["id"] == "cli-nightly" and created["spec"] == "0 6 * * *"
    cli("schedule", "trigger", "cli-nightly", address=served)
    wait_for(
        lambda: any(
            r["type"] == "Shouter" and r["state"] == "succeeded"
            for r in json.loads(cli("workflow", "list", "--type", "Shouter", "-o", "json", address=served).stdout)
        )
    )
    cli("schedule", "pause", "cli-nightly", "--reason", "holiday", address=served)
    listed = json.loads(cli("schedule", "list", "-o", "json", address=served).stdout)
    assert [(s["id"], s["state"]) for s in listed] == [("cli-nightly", "paused")]
    cli("schedule", "delete", "cli-nightly", address=served)
    assert json.loads(cli("schedule", "list", "-o", "json", address=served).stdout) == []
    tasks = json.loads(cli("task", "list", "--type", "activity:shout", "-o", "json", address=served).stdout)
    assert tasks and all(t["state"] == "succeeded" for t in tasks)
    assert json.loads(cli("task", "describe", tasks[0]["id"], "-o", "json", address=served).stdout)["type"] == "activity:shout"


def test_bad_input_is_one_line_with_its_exit_code(served: str, tmp_path: Path) -> None:
    one_line_error(cli("workflow", "start", "Shouter", "--arg", "{oops", address=served, check=2), "--arg", "not JSON")
    one_line_error(cli("workflow", "describe", "no-such-workflow", address=served, check=1), "not found")
    one_line_error(cli("workflow", "list", address="http://127.0.0.1:1", check=3), "127.0.0.1:1", "--address")
    one_line_error(cli("agent", "no_such_module_here", "-q", QUEUE, address=served, check=2, cwd=tmp_path), "does not import")
    unknown = cli("workflow", "execute", "NoSuchWorkflow", "-q", QUEUE, "--timeout", "3", address=served, check=4)
    assert "no agent has taken this NoSuchWorkflow run" in unknown.stderr and "-q cli" in unknown.stderr
    one_line_error(unknown, "did not finish within 3")
    debug = cli("workflow", "start", "Shouter", "--arg", "{oops", "--debug", address=served, check=2)
    assert "Traceback" in debug.stderr


def test_server_refuses_a_taken_port_a_bad_db_and_a_bad_level_and_creates_nothing(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        db = tmp_path / "new.db"
        one_line_error(cli("server", "--port", port, "--db", str(db), check=2), f"port {port}", "already in use")
        assert not db.exists() and not list(tmp_path.iterdir())
    one_line_error(cli("server", "--db", str(tmp_path / "missing" / "x.db"), check=2), "does not exist")
    one_line_error(cli("server", "--log-level", "LOUD", check=2), "unknown log level", "DEBUG")


def test_server_refuses_a_public_address_without_a_token_unless_told_insecure(tmp_path: Path) -> None:
    db = tmp_path / "open.db"
    one_line_error(
        cli("server", "--host", "0.0.0.0", "--port", "0", "--db", str(db), check=2),
        "refusing to listen on 0.0.0.0 without an auth token",
        "--auth-token",
        "--insecure",
    )
    assert not db.exists()
    from postgrip_agent.server import LocalServer

    with (
        LocalServer(host="0.0.0.0", port=0, insecure=True) as opened,
        LocalServer(host="0.0.0.0", port=0, auth_token="t") as closed,
    ):
        assert opened.address and closed.address


AGENT_MODULE = """
import time
from datetime import timedelta
from pathlib import Path
from postgrip_agent import activity, workflow

HERE = Path(__file__).parent

@activity.defn
def slow_step(seconds: float) -> str:
    (HERE / "started").write_text("yes")
    time.sleep(seconds)
    return f"slept {seconds}"

@workflow.defn
class Slow:
    @workflow.run
    def run(self, seconds: float):
        return (yield workflow.execute_activity(slow_step, seconds, start_to_close_timeout=timedelta(seconds=120)))
"""


@pytest.mark.parametrize("seconds, grace", [(1.0, 20.0), (60.0, 0.5)], ids=["finishes-in-grace", "handed-back"])
def test_the_agent_runner_drains_on_sigterm(tmp_path: Path, seconds: float, grace: float) -> None:
    (tmp_path / "slow_jobs.py").write_text(textwrap.dedent(AGENT_MODULE))
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "postgrip_agent.cli"]
    with LocalServer(db=":memory:", port=0) as server:
        client = Client.connect(server.address)
        runner = subprocess.Popen(
            [*command, "agent", "slow_jobs", "-q", "jobs", "--grace", str(grace), "--address", server.address],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            handle = client.start_workflow("Slow", seconds, task_queue="jobs")
            wait_for(lambda: (tmp_path / "started").exists(), timeout=20)
            runner.send_signal(signal.SIGTERM)
            stopped_at = time.monotonic()
            out, err = runner.communicate(timeout=60)
        finally:
            runner.kill()
        assert runner.returncode == 0, err
        assert "1 workflow(s) [Slow], 1 activity(ies) [slow_step]" in out
        activity_task = next(e.task_id for e in handle.fetch_history().events if e.type == "ActivityTaskScheduled")
        if seconds < grace:  # the activity in flight finished and its result is recorded
            events = handle.fetch_history().events
            assert any(e.type == "ActivityTaskCompleted" and e.attributes["result"] == "slept 1.0" for e in events)
        else:  # handed back at once: queued again for another agent, well before its lease would lapse
            assert time.monotonic() - stopped_at < 10
            task = client.task.get(activity_task)
            assert task.state == "queued" and task.attempt == 1 and task.agent_id is None
            assert "handed back" in err
