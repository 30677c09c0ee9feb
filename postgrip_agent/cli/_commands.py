"""``postgrip-agent workflow|schedule|task ...``: what an operator does from a shell."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from datetime import datetime
from typing import Any, Callable, Dict, List, Optional

from .. import types as wt
from ..client import Client
from ..connection import quote_segment
from ..converter import PayloadConversionError
from ..errors import TimeoutFailure, WorkflowFailureError
from ._output import Output, progress_bar
from ._parser import UsageError, arguments

#: a command: (client, parsed arguments, output) -> exit code
Command = Callable[[Client, argparse.Namespace, Output], int]


def timestamp(text: str, what: str) -> datetime:
    try:
        return wt.parse_timestamp(text)
    except ValueError:
        raise UsageError(f"{what} {text!r} is not a timestamp; use ISO 8601, e.g. 2026-11-22T06:00:00Z") from None


# ------------------------------------------------------------------ workflows


def _start(client: Client, args: argparse.Namespace) -> Any:
    return client.start_workflow(
        args.workflow_type,
        *arguments(args),
        id=args.id,
        task_queue=args.task_queue,
        id_reuse_policy=args.id_reuse_policy,
        run_timeout=args.run_timeout,
    )


def start(client: Client, args: argparse.Namespace, out: Output) -> int:
    handle = _start(client, args)
    out.record({"workflow_id": handle.id, "run_id": handle.result_run_id, "type": args.workflow_type})
    return 0


#: after this long, a run no agent has picked up gets a hint on stderr
PICKUP_HINT_SECONDS = 2.0


def execute(client: Client, args: argparse.Namespace, out: Output) -> int:
    handle = _start(client, args)
    out.line(f"started {args.workflow_type} as {handle.id} (run {handle.result_run_id})")
    hint = threading.Timer(PICKUP_HINT_SECONDS, _hint_if_not_picked_up, (client, handle.task_id, args))
    hint.daemon = True
    hint.start()
    try:
        return _follow_to_result(client, handle, out, args.timeout)
    finally:
        hint.cancel()


def _hint_if_not_picked_up(client: Client, task_id: str, args: argparse.Namespace) -> None:
    """Agents poll only the types they registered: a type none of them has waits for ever."""
    try:
        task = client.task.get(task_id)
    except Exception:  # only a hint: say nothing rather than something wrong
        return
    if task.state == "queued" and task.agent_id is None:
        print(
            f"postgrip-agent: no agent has taken this {args.workflow_type} run after {PICKUP_HINT_SECONDS:g} s: "
            f"is an agent with workflow {args.workflow_type!r} polling queue {args.task_queue!r}? "
            f"(e.g. postgrip-agent agent MODULE -q {args.task_queue})",
            file=sys.stderr,
            flush=True,
        )


def watch(client: Client, args: argparse.Namespace, out: Output) -> int:
    return _follow_to_result(client, client.get_workflow_handle(args.workflow_id), out, args.timeout)


def _follow_to_result(client: Client, handle: Any, out: Output, timeout: Optional[float]) -> int:
    """Milestones as a progress bar, activity output as lines, then the result (exit 1 if it failed)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    for event in handle.watch_events(timeout=timeout):
        details = event.details or {}
        if event.kind == "milestone":
            out.line(progress_bar(details.get("index"), details.get("total"), str(details.get("name") or event.message)))
        elif event.kind in ("stdout", "stderr"):
            text = (event.data or event.message or "").rstrip("\n")
            for line in text.splitlines() or [""]:
                out.line(f"{event.kind}: {line}")
    try:
        value = handle.result(timeout=None if deadline is None else max(0.1, deadline - time.monotonic()))
    except TimeoutFailure:
        raise TimeoutFailure(
            f"workflow {handle.id} did not finish within {timeout:g} s; it goes on "
            f"(postgrip-agent workflow watch {handle.id}); exit 4"
        ) from None
    except PayloadConversionError as err:
        return _shown_as_stored(client, handle.id, out, err)
    except WorkflowFailureError as err:
        return _failed(handle.id, out, err)
    out.value(value)
    return 0


def _filters(args: argparse.Namespace) -> Dict[str, Any]:
    return {"workflow_type": args.type, "state": args.state, "query": args.query, "task_queue": args.task_queue}


def list_workflows(client: Client, args: argparse.Namespace, out: Output) -> int:
    """Newest first: ``--limit`` runs (a page), or ``--all``; the token to go on is printed on stderr."""
    if not args.all and not 1 <= args.limit <= 1000:
        raise UsageError(f"--limit must be 1..1000 (or --all for every run), got {args.limit}")
    runs: List[wt.WorkflowExecution] = []
    token = args.page_token
    while True:
        page, token = client.workflow.list_page(
            **_filters(args), page_size=500 if args.all else args.limit - len(runs), page_token=token
        )
        runs += page
        if token is None or (not args.all and len(runs) >= args.limit):
            break
    rows = [
        {
            "id": run.id,
            "type": run.type,
            "state": run.state,
            "status": run.status,
            "queue": run.queue,
            "run_id": run.run_id,
            "created": run.created_at,
        }
        for run in runs
    ]
    out.table(["id", "type", "status", "queue", "run_id", "created"], rows)
    if token is not None:
        print(f"postgrip-agent: more runs: --page-token {token}", file=sys.stderr, flush=True)
    return 0


def result(client: Client, args: argparse.Namespace, out: Output) -> int:
    """The run's result as JSON (exit 0), its failure (exit 1), or exit 4 when ``--timeout`` passes first."""
    handle = client.get_workflow_handle(args.workflow_id)
    try:
        value = handle.result(timeout=args.timeout)
    except TimeoutFailure:
        raise TimeoutFailure(f"workflow {args.workflow_id} did not finish within {args.timeout:g} s; it goes on") from None
    except PayloadConversionError as err:
        return _shown_as_stored(client, args.workflow_id, out, err)
    except WorkflowFailureError as err:
        return _failed(args.workflow_id, out, err)
    out.dump(value)
    return 0


def _failed(workflow_id: str, out: Output, err: WorkflowFailureError) -> int:
    """How a run ended, when not with a result: a line (or a JSON record), and exit 1."""
    out.line(f"workflow {workflow_id} {err.status}: {err.cause or err}")
    if out.json:
        out.record({"workflow_id": workflow_id, "status": err.status, "error": str(err.cause or err)})
    return 1


def _shown_as_stored(client: Client, workflow_id: str, out: Output, err: Exception) -> int:
    """A result encoded with codecs this command was not given: printed as stored, with a note."""
    stored = client.connection.request("GET", f"/api/v1/workflows/{quote_segment(workflow_id)}").get("result") or {}
    print(
        f"postgrip-agent: the result is shown as stored: {err}; pass --data-converter MODULE:NAME to open it",
        file=sys.stderr,
        flush=True,
    )
    out.value(stored.get("value"))
    return 0


def count(client: Client, args: argparse.Namespace, out: Output) -> int:
    out.value(client.workflow.count(**_filters(args)))
    return 0


def describe(client: Client, args: argparse.Namespace, out: Output) -> int:
    run = client.get_workflow_handle(args.workflow_id).describe()
    out.record(
        {
            "workflow_id": run.id,
            "type": run.type,
            "state": run.state,
            "status": run.status,
            "run_id": run.run_id,
            "task_queue": run.queue,
            "created": run.created_at,
            "updated": run.updated_at,
            "pending_activities": [f"{a.activity_type} (attempt {a.attempt}, {a.state})" for a in run.pending_activities],
            "result": run.result.value if run.result is not None else None,
            "error": run.error,
        }
    )
    return 0


def show(client: Client, args: argparse.Namespace, out: Output) -> int:
    events = client.get_workflow_handle(args.workflow_id).fetch_history_events(wait_new_event=args.follow)
    if out.json and not args.follow:
        out.table(
            ["id", "type", "task_id", "created_at", "attributes"],
            [
                {"id": e.id, "type": e.type, "task_id": e.task_id, "created_at": e.created_at, "attributes": e.attributes}
                for e in events
            ],
        )
        return 0
    for event in events:
        if out.json:  # one JSON object per line while following
            out.stream.write(json.dumps(wt.to_json(event), default=str) + "\n")
            out.stream.flush()
        else:
            shown = " ".join(f"{k}={json.dumps(v, default=str)}" for k, v in (event.attributes or {}).items())
            out.line(f"{event.id:>5}  {event.created_at:%H:%M:%S.%f}"[:-3] + f"  {event.type}  {shown}")
    return 0


def signal(client: Client, args: argparse.Namespace, out: Output) -> int:
    client.get_workflow_handle(args.workflow_id).signal(args.name, args=arguments(args))
    out.record({"workflow_id": args.workflow_id, "signalled": args.name})
    return 0


def query(client: Client, args: argparse.Namespace, out: Output) -> int:
    out.value(client.get_workflow_handle(args.workflow_id).query(args.name, args=arguments(args)))
    return 0


def update(client: Client, args: argparse.Namespace, out: Output) -> int:
    out.value(client.get_workflow_handle(args.workflow_id).execute_update(args.name, args=arguments(args)))
    return 0


def cancel(client: Client, args: argparse.Namespace, out: Output) -> int:
    client.get_workflow_handle(args.workflow_id).cancel(args.reason)
    out.record({"workflow_id": args.workflow_id, "cancellation": "requested"})
    return 0


def terminate(client: Client, args: argparse.Namespace, out: Output) -> int:
    client.get_workflow_handle(args.workflow_id).terminate(reason=args.reason)
    out.record({"workflow_id": args.workflow_id, "terminated": True})
    return 0


# ------------------------------------------------------------------ schedules and tasks


def _schedule_row(schedule: wt.Schedule) -> Dict[str, Any]:
    spec = schedule.spec
    every = spec.cron or (f"every {spec.interval_seconds}s" if spec.interval_seconds else "calendar")
    return {
        "id": schedule.id,
        "state": schedule.state,
        "workflow": schedule.action.workflow_type,
        "spec": every,
        "next_run": schedule.next_run_at,
        "last_run": schedule.last_run_at,
    }


def schedule_create(client: Client, args: argparse.Namespace, out: Output) -> int:
    if not args.cron and not args.interval:
        raise UsageError("a schedule needs --cron EXPR or --interval SECONDS")
    created = client.schedule.create_workflow_schedule(
        workflow=args.workflow,
        schedule_id=args.schedule_id,
        task_queue=args.task_queue,
        args=arguments(args),
        cron=args.cron,
        interval=args.interval,
        timezone=args.timezone,
        overlap_policy=args.overlap_policy,
    )
    out.record(_schedule_row(created))
    return 0


def schedule_list(client: Client, args: argparse.Namespace, out: Output) -> int:
    out.table(
        ["id", "state", "workflow", "spec", "next_run", "last_run"],
        [_schedule_row(s) for s in client.schedule.list(state=args.state)],
    )
    return 0


def schedule_describe(client: Client, args: argparse.Namespace, out: Output) -> int:
    out.record(wt.to_json(client.schedule.get(args.schedule_id)))
    return 0


def schedule_action(action: str) -> Command:
    def run(client: Client, args: argparse.Namespace, out: Output) -> int:
        schedules = client.schedule
        if action == "backfill":
            answer: Any = schedules.backfill(args.schedule_id, timestamp(args.start, "--start"), timestamp(args.end, "--end"))
        elif action == "delete":
            answer = schedules.delete(args.schedule_id)
        else:
            answer = getattr(schedules, action)(args.schedule_id, args.reason)
        out.record(wt.to_json(answer) if hasattr(answer, "__attrs_attrs__") else {"schedule_id": args.schedule_id})
        return 0

    return run


def task_list(client: Client, args: argparse.Namespace, out: Output) -> int:
    rows = []
    for task in client.task.list(queue=args.queue, type=args.type, state=args.state, page_size=min(args.limit, 500)):
        rows.append(
            {
                "id": task.id,
                "type": task.type,
                "state": task.state,
                "queue": task.queue,
                "attempt": task.attempt,
                "agent": task.agent_id,
                "updated": task.updated_at,
            }
        )
        if len(rows) >= args.limit:
            break
    out.table(["id", "type", "state", "queue", "attempt", "agent", "updated"], rows)
    return 0


def task_describe(client: Client, args: argparse.Namespace, out: Output) -> int:
    out.record(wt.to_json(client.task.get(args.task_id)))
    return 0


def task_queue_describe(client: Client, args: argparse.Namespace, out: Output) -> int:
    """The agents polling a queue and its backlog: who would take a run started there."""
    queue = client.describe_task_queue(args.queue)
    if out.json:
        out.record(_queue_json(queue))
        return 0
    out.table(
        ["agent_id", "task_types", "last_seen"],
        [
            {"agent_id": p.agent_id, "task_types": ", ".join(p.task_types) or "(every type)", "last_seen": p.last_seen}
            for p in queue.pollers
        ],
    )
    backlog = ", ".join(f"{kind} {count}" for kind, count in sorted(queue.backlog.items())) or "empty"
    out.line(f"backlog: {backlog}")
    if not queue.pollers:
        print(
            f"postgrip-agent: no agent has polled queue {args.queue!r}; start one with "
            f"postgrip-agent agent MODULE -q {args.queue}",
            file=sys.stderr,
            flush=True,
        )
    return 0


def task_queue_list(client: Client, args: argparse.Namespace, out: Output) -> int:
    raw = client.connection.request("GET", "/api/v1/task-queues", params={"namespace": client.namespace})
    out.table(
        ["queue", "agents", "task_types"],
        [
            {
                "queue": q["queue"],
                "agents": len(q["pollers"]),
                "task_types": ", ".join(sorted({t for p in q["pollers"] for t in p["task_types"]})) or "(every type)",
            }
            for q in raw
        ],
    )
    return 0


def _queue_json(queue: Any) -> Dict[str, Any]:
    return {
        "namespace": queue.namespace,
        "queue": queue.queue,
        "backlog": queue.backlog,
        "pollers": [
            {"agent_id": p.agent_id, "task_types": p.task_types, "last_seen": p.last_seen.isoformat() if p.last_seen else None}
            for p in queue.pollers
        ],
    }
