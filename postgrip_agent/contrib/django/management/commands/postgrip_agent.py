"""``python manage.py postgrip_agent``: an Agent for the installed apps' workflows and activities."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from .....agent import Agent
from .....errors import TransportError
from .....agent.process import leave_stuck_work
from ... import autodiscover, get_client, settings


class Command(BaseCommand):  # type: ignore[misc]
    help = (
        "Run a PostGrip Agent for the workflows and activities in the installed apps' workflows.py and "
        "activities.py; on SIGTERM/SIGINT it drains (in-flight work finishes within the grace period, the "
        "rest is handed back)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--task-queue", "-q", help="the queue to poll (default: POSTGRIP['TASK_QUEUE'])")
        parser.add_argument("--grace", type=float, help="seconds in-flight work may take at stop (default: POSTGRIP['GRACE'])")
        parser.add_argument("--identity", help="the agent's id")

    def handle(self, *args: Any, **options: Any) -> None:
        config = settings()
        workflows, activities = autodiscover()
        if not workflows and not activities:
            raise CommandError("no workflows.py or activities.py in the installed apps defines a workflow or activity")
        queue = options.get("task_queue") or config["TASK_QUEUE"]
        grace = options["grace"] if options.get("grace") is not None else float(config["GRACE"])
        client = get_client()
        try:
            client.health()
        except TransportError as err:
            raise CommandError(f"{err} (set POSTGRIP['ADDRESS'] in the settings)") from err
        try:
            agent = Agent(client, task_queue=queue, workflows=workflows, activities=activities, identity=options.get("identity"))
        except (TypeError, ValueError) as err:
            raise CommandError(f"cannot register the agent's workflows and activities: {err}") from err
        self.stdout.write(
            f"agent {agent.identity} on queue {queue!r}: {len(workflows)} workflow(s), {len(activities)} activity(ies)"
        )
        self.stdout.flush()
        agent.run(grace=grace)
        self.stdout.write(f"agent {agent.identity} stopped")
        self.stdout.flush()
        leave_stuck_work(agent)
