"""The async reference SDK's spellings of our keywords: each is accepted beside ours, never both.

The reference SDK (``postgrip-agent`` 0.12.3) names some options differently (``workflow_id`` for
``id``, ``retry`` for ``retry_policy``, ``*_seconds``/``*_ms`` numbers for durations). Code
ported from it keeps working; ours stays the documented primary spelling.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Optional


def either(primary_name: str, primary: Any, alias_name: str, alias: Any) -> Any:
    """The one of two spellings of the same option that was given (None when neither was)."""
    if primary is not None and alias is not None:
        raise TypeError(f"pass {primary_name}= or {alias_name}= (the async SDK's spelling), not both")
    return primary if primary is not None else alias


def ms(value: Any, what: str) -> Optional[timedelta]:
    """A duration given as milliseconds (the reference's ``*_ms`` options; its bare numbers too)."""
    return _duration(value, what, "milliseconds")


def seconds(value: Any, what: str) -> Optional[timedelta]:
    """A duration given as seconds (the reference's ``*_seconds`` options)."""
    return _duration(value, what, "seconds")


def _duration(value: Any, what: str, unit: str) -> Optional[timedelta]:
    if value is None or isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number of {unit} or a timedelta, not {type(value).__name__}")
    return timedelta(**{unit: value})


def run_timeout(primary: Any, workflow_run_timeout: Any, workflow_run_timeout_ms: Any) -> Any:
    """``run_timeout`` (ours: a timedelta or seconds) or the reference's ``workflow_run_timeout``
    (a timedelta, or a number of milliseconds, as the reference reads it) or ``workflow_run_timeout_ms``."""
    theirs = either(
        "workflow_run_timeout",
        ms(workflow_run_timeout, "workflow_run_timeout"),
        "workflow_run_timeout_ms",
        ms(workflow_run_timeout_ms, "workflow_run_timeout_ms"),
    )
    alias = "workflow_run_timeout" if workflow_run_timeout is not None else "workflow_run_timeout_ms"
    return either("run_timeout", primary, alias, theirs)
