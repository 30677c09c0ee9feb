"""``postgrip-agent agent MODULE ... --task-queue Q``: Celery's ``worker`` for this SDK.

Imports the modules, finds the ``@workflow.defn`` classes and ``@activity.defn`` functions
defined in them, and runs an Agent until SIGTERM or SIGINT. Then it stops polling, lets
in-flight work finish for ``--grace`` seconds, and hands the leases still held back to the
service, so another agent retries those tasks at once.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from typing import Any, List, Tuple

from ..agent import Agent
from ..agent.process import discover, leave_stuck_work
from ..client import Client
from ..converter import DataConverter
from ._parser import UsageError
from ._output import Output

log = logging.getLogger("postgrip_agent.cli")


def load(names: List[str]) -> Tuple[List[Any], List[Any]]:
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` would: modules of the current directory import
    workflows: List[Any] = []
    activities: List[Any] = []
    for name in names:
        try:
            module = importlib.import_module(name)
        except Exception as err:
            raise UsageError(
                f"module {name!r} does not import: {type(err).__name__}: {err} "
                "(give a module path such as 'myapp.workflows', importable from here)"
            ) from err
        found = discover(module)
        if not found[0] and not found[1]:
            raise UsageError(f"module {name!r} defines no @workflow.defn class and no @activity.defn function")
        workflows += found[0]
        activities += found[1]
    return workflows, activities


def load_converter(spec: str) -> DataConverter:
    """The DataConverter ``MODULE:NAME`` names (a function named so is called for it)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise UsageError(f"--data-converter {spec!r}: give MODULE:NAME, e.g. myapp.payloads:converter")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except Exception as err:
        raise UsageError(f"--data-converter {spec!r} does not import: {type(err).__name__}: {err}") from err
    converter = found() if callable(found) and not isinstance(found, DataConverter) else found
    if not isinstance(converter, DataConverter):
        raise UsageError(
            f"--data-converter {spec!r} is a {type(converter).__name__}, not a postgrip_agent.converter.DataConverter"
        )
    return converter


def run(client: Client, args: argparse.Namespace, out: Output) -> int:
    workflows, activities = load(args.modules)
    try:
        agent = Agent(
            client,
            task_queue=args.task_queue,
            workflows=workflows,
            activities=activities,
            identity=args.identity,
            max_concurrent_activities=args.max_concurrent_activities,
        )
    except (TypeError, ValueError) as err:  # a registration the Agent refuses (duplicate names, sandbox, ...)
        raise UsageError(f"cannot register the agent's workflows and activities: {err}") from err
    out.line(
        f"agent {agent.identity} on queue {args.task_queue!r}: {len(workflows)} workflow(s) "
        f"[{', '.join(w._postgrip_workflow_name for w in workflows)}], {len(activities)} activity(ies) "
        f"[{', '.join(a._postgrip_activity_name for a in activities)}]"
    )
    agent.run(grace=args.grace)  # until SIGTERM/SIGINT, then the drain
    out.line(f"agent {agent.identity} stopped")
    leave_stuck_work(agent)
    return 0


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "agent",
        help="run an agent for the workflows and activities of MODULEs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("modules", nargs="+", metavar="MODULE", help="module path, e.g. myapp.workflows")
    parser.add_argument("--task-queue", "-q", required=True, help="the queue to poll")
    parser.add_argument("--identity", help="the agent's id (default: host-pid-random)")
    parser.add_argument(
        "--grace", type=float, default=30.0, help="seconds in-flight work may take to finish on SIGTERM/SIGINT (default 30)"
    )
    parser.add_argument("--max-concurrent-activities", type=int, default=None, help="activity threads (default 100)")
    parser.set_defaults(run=run)
