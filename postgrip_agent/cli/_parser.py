"""The ``postgrip-agent`` command line: its parser, argument helpers and usage errors.

Nothing here imports more than the standard library: ``--version`` and ``--help`` answer
without loading the client, the agent or the service; a command's code is imported when it runs.
"""

from __future__ import annotations

import argparse
import importlib
import json
from typing import Any, List

from .._version import __version__

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
AGENT_DESCRIPTION = """``postgrip-agent agent MODULE ... --task-queue Q``: Celery's ``worker`` for this SDK.

Imports the modules, finds the ``@workflow.defn`` classes and ``@activity.defn`` functions
defined in them, and runs an Agent until SIGTERM or SIGINT. Then it stops polling, lets
in-flight work finish for ``--grace`` seconds, and hands the leases still held back to the
service, so another agent retries those tasks at once.
"""


class Run:
    """A command's function, by module and name: imported when the command runs, not when it is parsed."""

    def __init__(self, module: str, name: str, *options: str) -> None:
        self.module, self.name, self.options = module, name, options

    def __call__(self, client: Any, args: argparse.Namespace, out: Any) -> int:
        function = getattr(importlib.import_module(f"{__package__}.{self.module}"), self.name)
        if self.options:  # a factory: schedule_action("pause") returns the command
            function = function(*self.options)
        return int(function(client, args, out))


class UsageError(Exception):
    """Bad input on the command line: exit code 2, one line naming the problem and the fix."""


def json_value(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as err:
        raise UsageError(f"{what} {text!r} is not JSON ({err}); quote strings as JSON too, e.g. '\"Ada\"'") from None


def arguments(args: argparse.Namespace) -> List[Any]:
    """The workflow's (or signal's, query's, update's) arguments: ``--arg JSON`` each, or ``--args JSON-array``."""
    given = [json_value(text, "--arg") for text in (args.arg or [])]
    if args.args is not None:
        if given:
            raise UsageError("pass the arguments as --arg JSON (repeated) or --args JSON-ARRAY, not both")
        value = json_value(args.args, "--args")
        if not isinstance(value, list):
            raise UsageError(f"--args takes a JSON array, e.g. --args '[1, \"two\"]', got {args.args!r}")
        return value
    return given


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arg", action="append", metavar="JSON", help="an argument, as JSON (repeat for more)")
    parser.add_argument("--args", metavar="JSON-ARRAY", help="all the arguments, as one JSON array")


def _common() -> argparse.ArgumentParser:
    """Options every command takes, before or after its name."""
    common = argparse.ArgumentParser(add_help=False)
    s = argparse.SUPPRESS
    common.add_argument(
        "--address", default=s, help="the service's URL (env POSTGRIP_AGENTORCHESTRATOR_URL; default http://127.0.0.1:4100)"
    )
    common.add_argument("--token", default=s, help="bearer token for the service (env POSTGRIP_TOKEN)")
    common.add_argument("--namespace", default=s, help="namespace (default 'default')")
    common.add_argument("--output", "-o", choices=("table", "json"), default=s, help="table (default) or json")
    common.add_argument(
        "--log-level", default=s, help=f"logging level: {', '.join(LEVELS)} (default WARNING; INFO for server and agent)"
    )
    common.add_argument(
        "--data-converter",
        default=s,
        metavar="MODULE:NAME",
        help="a postgrip_agent.converter.DataConverter (or a function returning one) whose codecs "
        "open encrypted payloads, e.g. myapp.payloads:converter (env POSTGRIP_DATA_CONVERTER); "
        "without it, encoded values are shown as stored",
    )
    common.add_argument("--debug", action="store_true", default=s, help="show the traceback of an error")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(
        prog="postgrip-agent",
        parents=[common],
        description="PostGrip Agent workflows, synchronously: the local service, agents, workflows, schedules and tasks.",
    )
    parser.add_argument("--version", action="version", version=f"postgrip-agent {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_server(_Sub(commands, common))
    _add_agent(_Sub(commands, common))

    workflow = commands.add_parser("workflow", help="start, inspect and steer workflows").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    sub = _Sub(workflow, common)
    for name, run, help_text in (
        ("start", Run("_commands", "start"), "start a workflow and print its id"),
        ("execute", Run("_commands", "execute"), "start a workflow, show its progress, print its result"),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("workflow_type", metavar="TYPE", help="the workflow's registered name")
        p.add_argument("--id", help="workflow id (default: a new UUID)")
        p.add_argument("--task-queue", "-q", default="default", help="queue its agents poll (default 'default')")
        p.add_argument("--id-reuse-policy", choices=("allow_duplicate", "allow_duplicate_failed_only", "reject_duplicate"))
        p.add_argument("--run-timeout", type=float, metavar="SECONDS", help="fail the run after this long")
        add_arguments(p)
        if name == "execute":
            p.add_argument("--timeout", type=float, metavar="SECONDS", help="stop waiting after this long")
        p.set_defaults(run=run)
    p = sub.add_parser("watch", help="show a running workflow's progress, then its result")
    p.add_argument("workflow_id", metavar="ID")
    p.add_argument("--timeout", type=float, metavar="SECONDS", help="stop waiting after this long")
    p.set_defaults(run=Run("_commands", "watch"))
    for name, run in (("list", Run("_commands", "list_workflows")), ("count", Run("_commands", "count"))):
        p = sub.add_parser(name, help=f"{name} workflows (filters combine)")
        p.add_argument("--type", help="workflow type")
        p.add_argument(
            "--state", choices=("running", "succeeded", "failed", "cancelled", "terminated", "timed_out", "continued_as_new")
        )
        p.add_argument("--task-queue", "-q")
        p.add_argument("--query", help="search attribute filter, e.g. 'customer=acme'")
        if name == "list":
            p.add_argument("--limit", type=int, default=50, help="at most this many, newest first (default 50)")
            p.add_argument("--page-token", metavar="TOKEN", help="start where a previous list stopped (it prints the token)")
            p.add_argument("--all", action="store_true", help="every matching run, page by page (ignores --limit)")
        p.set_defaults(run=run)
    p = sub.add_parser("result", help="a run's result as JSON, waiting for it to end (exit 1 if it failed)")
    p.add_argument("workflow_id", metavar="ID")
    p.add_argument("--timeout", type=float, metavar="SECONDS", help="stop waiting after this long (exit 4)")
    p.set_defaults(run=Run("_commands", "result"))
    p = sub.add_parser("describe", help="a workflow's state, result and pending activities")
    p.add_argument("workflow_id", metavar="ID")
    p.set_defaults(run=Run("_commands", "describe"))
    p = sub.add_parser("show", help="a workflow's history")
    p.add_argument("workflow_id", metavar="ID")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new events until the run ends")
    p.set_defaults(run=Run("_commands", "show"))
    for name, run in (
        ("signal", Run("_commands", "signal")),
        ("query", Run("_commands", "query")),
        ("update", Run("_commands", "update")),
    ):
        p = sub.add_parser(name, help=f"{name} a workflow")
        p.add_argument("workflow_id", metavar="ID")
        p.add_argument("name", metavar="NAME", help=f"the {name}'s name")
        add_arguments(p)
        p.set_defaults(run=run)
    for name, run in (("cancel", Run("_commands", "cancel")), ("terminate", Run("_commands", "terminate"))):
        p = sub.add_parser(name, help=f"{name} a workflow")
        p.add_argument("workflow_id", metavar="ID")
        p.add_argument("--reason")
        p.set_defaults(run=run)

    schedule = commands.add_parser("schedule", help="manage schedules").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    sub = _Sub(schedule, common)
    p = sub.add_parser("create", help="create a schedule that starts a workflow")
    p.add_argument("schedule_id", metavar="ID")
    p.add_argument("--workflow", required=True, metavar="TYPE", help="the workflow to start")
    p.add_argument("--task-queue", "-q", default="default")
    p.add_argument("--cron", metavar="EXPR", help="cron expression, e.g. '0 6 * * *'")
    p.add_argument("--interval", type=float, metavar="SECONDS", help="start one every SECONDS")
    p.add_argument("--timezone", help="IANA time zone for --cron (default UTC)")
    p.add_argument("--overlap-policy", choices=("skip", "allow_all"))
    add_arguments(p)
    p.set_defaults(run=Run("_commands", "schedule_create"))
    p = sub.add_parser("list", help="list schedules")
    p.add_argument("--state", choices=("active", "paused"))
    p.set_defaults(run=Run("_commands", "schedule_list"))
    p = sub.add_parser("describe", help="a schedule, whole")
    p.add_argument("schedule_id", metavar="ID")
    p.set_defaults(run=Run("_commands", "schedule_describe"))
    for name in ("pause", "unpause", "trigger", "delete", "backfill"):
        p = sub.add_parser(name, help=f"{name} a schedule")
        p.add_argument("schedule_id", metavar="ID")
        if name == "backfill":
            p.add_argument("--start", required=True, metavar="TIME", help="ISO 8601, e.g. 2026-11-01T00:00:00Z")
            p.add_argument("--end", required=True, metavar="TIME")
        elif name != "delete":
            p.add_argument("--reason")
        p.set_defaults(run=Run("_commands", "schedule_action", name))

    task = commands.add_parser("task", help="inspect tasks").add_subparsers(dest="action", required=True, metavar="ACTION")
    sub = _Sub(task, common)
    p = sub.add_parser("list", help="list tasks")
    p.add_argument("--queue", "-q")
    p.add_argument("--type", help="task type, e.g. activity:greet")
    p.add_argument("--state", choices=("queued", "leased", "blocked", "succeeded", "failed"))
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(run=Run("_commands", "task_list"))
    p = sub.add_parser("describe", help="a task, whole")
    p.add_argument("task_id", metavar="ID")
    p.set_defaults(run=Run("_commands", "task_describe"))

    queues = commands.add_parser("task-queue", help="which agents poll which queues").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    sub = _Sub(queues, common)
    p = sub.add_parser("describe", help="the agents polling a queue (types, last seen) and its backlog")
    p.add_argument("queue", metavar="QUEUE")
    p.set_defaults(run=Run("_commands", "task_queue_describe"))
    p = sub.add_parser("list", help="the namespace's queues with the agents polling them")
    p.set_defaults(run=Run("_commands", "task_queue_list"))
    return parser


class _Sub:
    """Adds the common options to every command's own parser."""

    def __init__(self, commands: Any, common: argparse.ArgumentParser) -> None:
        self._commands, self._common = commands, common

    def add_parser(self, name: str, **options: Any) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = self._commands.add_parser(name, parents=[self._common], **options)
        return parser


def _add_server(commands: Any) -> None:
    parser = commands.add_parser("server", help="run the local runtime service (PostGrip Agent API on SQLite or PostgreSQL)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=4100, help="port to listen on (default 4100; 0 picks one)")
    parser.add_argument(
        "--db",
        default="./postgrip.db",
        help="SQLite file, :memory:, or a PostgreSQL URL postgresql://user@host/db[?schema=S] "
        "(pip install 'postgrip-agent-sync[postgres]'); default ./postgrip.db",
    )
    parser.add_argument(
        "--sqlite-synchronous",
        choices=("full", "normal"),
        default="full",
        help="how a SQLite --db commits: full (default) syncs every commit to disk, so what the "
        "service acknowledged survives a power loss; normal syncs at checkpoints only, faster, "
        "and a power loss may undo the last commits (a process crash loses nothing either way)",
    )
    parser.add_argument(
        "--unpolled-warning-after",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="warn the caller who starts a run of a workflow type no agent has polled its queue for "
        "within this long (default 300; 0: never)",
    )
    parser.add_argument("--auth-token", default=None, help="require 'Authorization: Bearer TOKEN' on the API")
    parser.add_argument(
        "--insecure", action="store_true", help="allow a non-loopback --host without --auth-token (only on a network you trust)"
    )
    parser.set_defaults(run=Run("_server", "run"), needs_client=False)


def _add_agent(commands: Any) -> None:
    parser = commands.add_parser(
        "agent",
        help="run an agent for the workflows and activities of MODULEs",
        description=AGENT_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("modules", nargs="+", metavar="MODULE", help="module path, e.g. myapp.workflows")
    parser.add_argument("--task-queue", "-q", required=True, help="the queue to poll")
    parser.add_argument("--identity", help="the agent's id (default: host-pid-random)")
    parser.add_argument(
        "--grace", type=float, default=30.0, help="seconds in-flight work may take to finish on SIGTERM/SIGINT (default 30)"
    )
    parser.add_argument("--max-concurrent-activities", type=int, default=None, help="activity threads (default 100)")
    parser.set_defaults(run=Run("_agent", "run"))
