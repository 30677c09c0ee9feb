"""The schedule routes: parse the request, call the engine's schedules, answer their records as JSON."""

from __future__ import annotations

from typing import Callable, List, Tuple

from ... import types as wt
from ..engine.schedules import ScheduleService
from .api import MANAGEMENT
from .request import Request, Response, page_of, paged
from .wire import schedule_json, task_json

Route = Tuple[str, str, str, Callable[[Request], Response]]


def schedule_routes(schedules: ScheduleService) -> List[Route]:
    """The ``/api/v1/schedules`` routes, answered by ``schedules``."""

    def create(req: Request) -> Response:
        return 202, schedule_json(schedules.create(req.body(wt.CreateScheduleRequest))), {}

    def list_(req: Request) -> Response:
        page = page_of(req, ("created_at", "updated_at", "next_run_at", "id"))
        return paged(schedules.list(req.arg("namespace"), req.arg("state"), page), schedule_json, page, tiebreak="id")

    def get(req: Request) -> Response:
        return 200, schedule_json(schedules.get(req.params["scheduleId"])), {}

    def update(req: Request) -> Response:
        body: wt.UpdateScheduleRequest = req.body(wt.UpdateScheduleRequest, optional=True)
        return 200, schedule_json(schedules.update(req.params["scheduleId"], body)), {}

    def delete(req: Request) -> Response:
        return 200, schedule_json(schedules.set_state(req.params["scheduleId"], "deleted")), {}

    def pause(req: Request) -> Response:
        body: wt.PauseScheduleRequest = req.body(wt.PauseScheduleRequest, optional=True)
        return 200, schedule_json(schedules.set_state(req.params["scheduleId"], "paused", body.reason)), {}

    def unpause(req: Request) -> Response:
        req.body(wt.UnpauseScheduleRequest, optional=True)
        return 200, schedule_json(schedules.unpause(req.params["scheduleId"])), {}

    def trigger(req: Request) -> Response:
        req.body(wt.TriggerScheduleRequest, optional=True)
        record, task = schedules.trigger(req.params["scheduleId"])
        return 202, {"schedule": schedule_json(record), "task": task_json(task)}, {}

    def backfill(req: Request) -> Response:
        body: wt.BackfillScheduleRequest = req.body(wt.BackfillScheduleRequest)
        record, tasks = schedules.backfill(req.params["scheduleId"], body.start_at.timestamp(), body.end_at.timestamp())
        return 202, {"schedule": schedule_json(record), "tasks": [task_json(t) for t in tasks]}, {}

    base = "/api/v1/schedules"
    return [
        ("GET", base, MANAGEMENT, list_),
        ("POST", base, MANAGEMENT, create),
        ("GET", base + "/{scheduleId}", MANAGEMENT, get),
        ("PATCH", base + "/{scheduleId}", MANAGEMENT, update),
        ("DELETE", base + "/{scheduleId}", MANAGEMENT, delete),
        ("POST", base + "/{scheduleId}/pause", MANAGEMENT, pause),
        ("POST", base + "/{scheduleId}/unpause", MANAGEMENT, unpause),
        ("POST", base + "/{scheduleId}/trigger", MANAGEMENT, trigger),
        ("POST", base + "/{scheduleId}/backfill", MANAGEMENT, backfill),
    ]
