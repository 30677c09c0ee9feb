"""When a schedule fires: intervals, cron expressions and calendars, in a time zone.

Cron and calendar times are walked in local wall-clock time and then placed on the UTC
line: a local time that does not exist (the spring-forward gap) is skipped, and one that
occurs twice (the autumn fold) fires once, at its first occurrence.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any, Dict, Iterator, Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from ..errors import BadRequest
from .limits import MAX_DURATION_SECONDS, check_int
from ...types import parse_timestamp

DEFAULT_CATCH_UP_WINDOW = 60


def zone(spec: Dict[str, Any]) -> ZoneInfo:
    """The spec's time zone (UTC by default); a 400 naming an unknown one."""
    name = spec.get("timezone") or "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadRequest(f"spec.timezone: unknown time zone {name!r}; use an IANA name such as 'Europe/Berlin'") from None


def _calendar_cron(calendar: Dict[str, Any]) -> str:
    fields = []
    for key, default, low, high in (
        ("minute", "0", 0, 59),
        ("hour", "0", 0, 23),
        ("day_of_month", "*", 1, 31),
        ("month", "*", 1, 12),
        ("day_of_week", "*", 0, 6),
    ):
        values = calendar.get(key)
        if values is None or values == []:
            fields.append(default)
            continue
        bad = [v for v in values if not isinstance(v, int) or isinstance(v, bool) or not low <= v <= high]
        if bad:
            raise BadRequest(f"spec.calendar.{key}: values must be integers from {low} to {high}, got {bad}")
        fields.append(",".join(str(v) for v in sorted(set(values))))
    return " ".join(fields)


def cron_expression(spec: Dict[str, Any]) -> Optional[str]:
    """The spec's cron expression, from ``cron`` or from ``calendar``; None for an interval spec."""
    if spec.get("cron") is not None:
        return str(spec["cron"]).strip()
    if spec.get("calendar") is not None:
        return _calendar_cron(spec["calendar"])
    return None


def validate(spec: Dict[str, Any]) -> None:
    """Raise BadRequest naming the field for a spec that cannot fire."""
    kinds = [k for k in ("interval_seconds", "cron", "calendar") if spec.get(k) is not None]
    if not kinds:
        raise BadRequest("spec: give one of interval_seconds, cron or calendar")
    if len(kinds) > 1:
        raise BadRequest(f"spec: give only one of interval_seconds, cron or calendar (got {', '.join(kinds)})")
    if spec.get("interval_seconds") is not None:
        check_int("spec.interval_seconds", spec["interval_seconds"], 1, MAX_DURATION_SECONDS)
    expression = cron_expression(spec)
    if expression is not None and (not expression or not croniter.is_valid(expression)):
        raise BadRequest(
            f"spec.cron: {expression!r} is not a valid 5-field cron expression or macro (e.g. '0 2 * * *', '@daily')"
        )
    for key in ("jitter_seconds", "catch_up_window_seconds"):
        check_int(f"spec.{key}", spec.get(key), 0, MAX_DURATION_SECONDS)
    zone(spec)


def _anchor(spec: Dict[str, Any], created_at: float) -> float:
    start = spec.get("start_at")
    if start:
        return parse_timestamp(start).timestamp()
    return created_at


def next_nominal(spec: Dict[str, Any], after: float, created_at: float) -> float:
    """The first nominal fire time strictly after ``after`` (epoch seconds)."""
    anchor = _anchor(spec, created_at)
    interval = spec.get("interval_seconds")
    if interval:
        if after < anchor:
            return anchor
        steps = int((after - anchor) // interval) + 1
        return float(anchor + steps * interval)
    tz = zone(spec)
    expression = cron_expression(spec)
    assert expression is not None
    floor = max(after, anchor - 1e-6)
    local = datetime.fromtimestamp(floor, tz).replace(tzinfo=None, fold=0)
    walker = croniter(expression, local)
    for _ in range(10_000):
        candidate: datetime = walker.get_next(datetime)
        instant = _place(candidate, tz)
        if instant is not None and instant > floor:
            return instant
    raise BadRequest(f"spec.cron: {expression!r} never fires")


def _place(local: datetime, tz: ZoneInfo) -> Optional[float]:
    """UTC instant of a wall-clock time: None in a DST gap, the first occurrence in a fold."""
    aware = local.replace(tzinfo=tz, fold=0)
    back = aware.astimezone(timezone.utc).astimezone(tz).replace(tzinfo=None)
    if back != local:
        return None
    return aware.timestamp()


def nominal_times(spec: Dict[str, Any], start: float, end: float, created_at: float) -> Iterator[float]:
    """Nominal fire times in [start, end]."""
    at = next_nominal(spec, start - 1e-6, created_at)
    while at <= end:
        yield at
        at = next_nominal(spec, at, created_at)


def jitter(schedule_id: str, nominal: float, spec: Dict[str, Any]) -> float:
    """A deterministic offset in [0, jitter_seconds) for this fire: the same after a restart."""
    spread = spec.get("jitter_seconds") or 0
    if not spread:
        return 0.0
    digest = hashlib.sha256(f"{schedule_id}:{nominal}".encode()).digest()
    return (int.from_bytes(digest[:8], "big") / 2**64) * spread


def catch_up_window(spec: Dict[str, Any]) -> float:
    """Seconds a missed start may still run late (the spec's, or the default)."""
    window = spec.get("catch_up_window_seconds")
    return float(DEFAULT_CATCH_UP_WINDOW if window is None else window)


def nominal_label(nominal: float) -> str:
    """A start's nominal time as text for ids: ``YYYYMMDDTHHMMSSZ``."""
    return datetime.fromtimestamp(nominal, timezone.utc).strftime("%Y%m%dT%H%M%SZ")
