"""The ``postgrip-agent`` command: the local service, an agent runner, workflows, schedules, tasks.

Exit codes: 0 done; 1 the workflow (or what the command acted on) failed or was not found;
2 usage (unknown flags, malformed JSON, a module that does not import, a port in use);
3 the service cannot be reached. Errors are one line on stderr; ``--debug`` adds the traceback.
The service's address comes from ``--address`` or ``POSTGRIP_AGENTORCHESTRATOR_URL`` (default
http://127.0.0.1:4100), its token from ``--token`` or ``POSTGRIP_TOKEN``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from typing import Any, List, Optional

from .._version import __version__
from ..errors import InvalidArgumentError, NotFoundError, PostGripAgentError, TimeoutFailure, TransportError, UnauthorizedError
from . import _agent, _commands as c, _server
from ._agent import load_converter
from ._commands import UsageError
from ._output import Output

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_TIMEOUT = 0, 1, 2, 3, 4
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _common() -> argparse.ArgumentParser:
    """Options every command takes, before or after its name."""
    common = argparse.ArgumentParser(add_help=False)
    s = argparse.SUPPRESS
    common.add_argument("--address", default=s, help="the service's URL (env POSTGRIP_AGENTORCHESTRATOR_URL; "
                                                     "default http://127.0.0.1:4100)")
    common.add_argument("--token", default=s, help="bearer token for the service (env POSTGRIP_TOKEN)")
    common.add_argument("--namespace", default=s, help="namespace (default 'default')")
    common.add_argument("--output", "-o", choices=("table", "json"), default=s, help="table (default) or json")
    common.add_argument("--log-level", default=s, help=f"logging level: {', '.join(LEVELS)} (default WARNING; "
                                                       "INFO for server and agent)")
    common.add_argument("--data-converter", default=s, metavar="MODULE:NAME",
                        help="a postgrip_agent.converter.DataConverter (or a function returning one) whose codecs "
                             "open encrypted payloads, e.g. myapp.payloads:converter (env POSTGRIP_DATA_CONVERTER); "
                             "without it, encoded values are shown as stored")
    common.add_argument("--debug", action="store_true", default=s, help="show the traceback of an error")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(prog="postgrip-agent", parents=[common],
                                     description="PostGrip Agent workflows, synchronously: the local service, "
                                                 "agents, workflows, schedules and tasks.")
    parser.add_argument("--version", action="version", version=f"postgrip-agent {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _server.add_parser(_Sub(commands, common))
    _agent.add_parser(_Sub(commands, common))

    workflow = commands.add_parser("workflow", help="start, inspect and steer workflows").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    sub = _Sub(workflow, common)
    for name, run, help_text in (("start", c.start, "start a workflow and print its id"),
                                 ("execute", c.execute, "start a workflow, show its progress, print its result")):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("workflow_type", metavar="TYPE", help="the workflow's registered name")
        p.add_argument("--id", help="workflow id (default: a new UUID)")
        p.add_argument("--task-queue", "-q", default="default", help="queue its agents poll (default 'default')")
        p.add_argument("--id-reuse-policy", choices=("allow_duplicate", "allow_duplicate_failed_only", "reject_duplicate"))
        p.add_argument("--run-timeout", type=float, metavar="SECONDS", help="fail the run after this long")
        c.add_arguments(p)
        if name == "execute":
            p.add_argument("--timeout", type=float, metavar="SECONDS", help="stop waiting after this long")
        p.set_defaults(run=run)
    p = sub.add_parser("watch", help="show a running workflow's progress, then its result")
    p.add_argument("workflow_id", metavar="ID")
    p.add_argument("--timeout", type=float, metavar="SECONDS", help="stop waiting after this long")
    p.set_defaults(run=c.watch)
    for name, run in (("list", c.list_workflows), ("count", c.count)):
        p = sub.add_parser(name, help=f"{name} workflows (filters combine)")
        p.add_argument("--type", help="workflow type")
        p.add_argument("--state", choices=("running", "succeeded", "failed", "cancelled", "terminated", "timed_out",
                                           "continued_as_new"))
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
    p.set_defaults(run=c.result)
    p = sub.add_parser("describe", help="a workflow's state, result and pending activities")
    p.add_argument("workflow_id", metavar="ID")
    p.set_defaults(run=c.describe)
    p = sub.add_parser("show", help="a workflow's history")
    p.add_argument("workflow_id", metavar="ID")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new events until the run ends")
    p.set_defaults(run=c.show)
    for name, run in (("signal", c.signal), ("query", c.query), ("update", c.update)):
        p = sub.add_parser(name, help=f"{name} a workflow")
        p.add_argument("workflow_id", metavar="ID")
        p.add_argument("name", metavar="NAME", help=f"the {name}'s name")
        c.add_arguments(p)
        p.set_defaults(run=run)
    for name, run in (("cancel", c.cancel), ("terminate", c.terminate)):
        p = sub.add_parser(name, help=f"{name} a workflow")
        p.add_argument("workflow_id", metavar="ID")
        p.add_argument("--reason")
        p.set_defaults(run=run)

    schedule = commands.add_parser("schedule", help="manage schedules").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    sub = _Sub(schedule, common)
    p = sub.add_parser("create", help="create a schedule that starts a workflow")
    p.add_argument("schedule_id", metavar="ID")
    p.add_argument("--workflow", required=True, metavar="TYPE", help="the workflow to start")
    p.add_argument("--task-queue", "-q", default="default")
    p.add_argument("--cron", metavar="EXPR", help="cron expression, e.g. '0 6 * * *'")
    p.add_argument("--interval", type=float, metavar="SECONDS", help="start one every SECONDS")
    p.add_argument("--timezone", help="IANA time zone for --cron (default UTC)")
    p.add_argument("--overlap-policy", choices=("skip", "allow_all"))
    c.add_arguments(p)
    p.set_defaults(run=c.schedule_create)
    p = sub.add_parser("list", help="list schedules")
    p.add_argument("--state", choices=("active", "paused"))
    p.set_defaults(run=c.schedule_list)
    p = sub.add_parser("describe", help="a schedule, whole")
    p.add_argument("schedule_id", metavar="ID")
    p.set_defaults(run=c.schedule_describe)
    for name in ("pause", "unpause", "trigger", "delete", "backfill"):
        p = sub.add_parser(name, help=f"{name} a schedule")
        p.add_argument("schedule_id", metavar="ID")
        if name == "backfill":
            p.add_argument("--start", required=True, metavar="TIME", help="ISO 8601, e.g. 2026-11-01T00:00:00Z")
            p.add_argument("--end", required=True, metavar="TIME")
        elif name != "delete":
            p.add_argument("--reason")
        p.set_defaults(run=c.schedule_action(name))

    task = commands.add_parser("task", help="inspect tasks").add_subparsers(dest="action", required=True, metavar="ACTION")
    sub = _Sub(task, common)
    p = sub.add_parser("list", help="list tasks")
    p.add_argument("--queue", "-q")
    p.add_argument("--type", help="task type, e.g. activity:greet")
    p.add_argument("--state", choices=("queued", "leased", "blocked", "succeeded", "failed"))
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(run=c.task_list)
    p = sub.add_parser("describe", help="a task, whole")
    p.add_argument("task_id", metavar="ID")
    p.set_defaults(run=c.task_describe)

    queues = commands.add_parser("task-queue", help="which agents poll which queues").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    sub = _Sub(queues, common)
    p = sub.add_parser("describe", help="the agents polling a queue (types, last seen) and its backlog")
    p.add_argument("queue", metavar="QUEUE")
    p.set_defaults(run=c.task_queue_describe)
    p = sub.add_parser("list", help="the namespace's queues with the agents polling them")
    p.set_defaults(run=c.task_queue_list)
    return parser


class _Sub:
    """Adds the common options to every command's own parser."""

    def __init__(self, commands: Any, common: argparse.ArgumentParser) -> None:
        self._commands, self._common = commands, common

    def add_parser(self, name: str, **options: Any) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = self._commands.add_parser(name, parents=[self._common], **options)
        return parser


def _fail(message: str, code: int, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    print(f"postgrip-agent: error: {message}", file=sys.stderr)
    return code


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    level = str(getattr(args, "log_level", "INFO" if args.command in ("server", "agent") else "WARNING")).upper()
    if level not in LEVELS:
        return _fail(f"unknown log level {level!r}; use one of {', '.join(LEVELS)}", EXIT_USAGE, False)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not debug and getattr(args, "log_level", None) is None and args.command not in ("server", "agent"):
        # a one-shot command says what failed once, in its error line: not each retry on the way
        logging.getLogger("postgrip_agent.connection").setLevel(logging.ERROR)
    out = Output(getattr(args, "output", "table"))
    address = getattr(args, "address", None) or os.environ.get("POSTGRIP_AGENTORCHESTRATOR_URL")
    try:
        client = None
        if getattr(args, "needs_client", True):
            from ..client import Client

            spec = getattr(args, "data_converter", None) or os.environ.get("POSTGRIP_DATA_CONVERTER")
            client = Client.connect(address, token=getattr(args, "token", None),
                                    namespace=getattr(args, "namespace", None) or "default",
                                    data_converter=load_converter(spec) if spec else None)
        return int(args.run(client, args, out))
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as other tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush does not raise again
        return EXIT_OK
    except TimeoutFailure as err:
        return _fail(str(err), EXIT_TIMEOUT, debug)
    except UsageError as err:
        return _fail(str(err), EXIT_USAGE, debug)
    except TransportError as err:
        if err.reached_server:
            return _fail(f"the service did not answer in time: {err}", EXIT_FAILED, debug)
        text = str(err)
        hint = ("" if "--address" in text else " (or pass --address)") if "POSTGRIP_AGENTORCHESTRATOR_URL" in text else \
            " (set --address or POSTGRIP_AGENTORCHESTRATOR_URL)"
        return _fail(f"{err}{hint}", EXIT_UNREACHABLE, debug)
    except UnauthorizedError as err:
        return _fail(f"{err}: give the service's token with --token (or POSTGRIP_TOKEN)", EXIT_FAILED, debug)
    except (InvalidArgumentError, ValueError, TypeError) as err:
        return _fail(str(err), EXIT_USAGE, debug)
    except NotFoundError as err:
        return _fail(f"not found: {err}", EXIT_FAILED, debug)
    except PostGripAgentError as err:
        return _fail(str(err), EXIT_FAILED, debug)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
