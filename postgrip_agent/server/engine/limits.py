"""What the service accepts: JSON shape limits and the ranges of numbers and times.

Everything here runs before a value touches the engine or the store, so a caller's
mistake is a 400 naming the field, never a 500 or a value that breaks a later read.
"""

from __future__ import annotations

import json
import math
from typing import Any, List, Optional, Tuple

from ... import types as wt
from ..errors import BadRequest

#: deepest nesting of arrays and objects a request body may have (well below Python's
#: recursion limit, so every later encode, decode and replay of the value is safe)
MAX_JSON_DEPTH = 64
INT64_MAX = wt.INT64_MAX
INT64_MIN = wt.INT64_MIN
#: timestamps a caller may give: 1970-01-01 up to (not including) 2200-01-01
EARLIEST_TIME = wt.EARLIEST_TIMESTAMP.timestamp()
LATEST_TIME = wt.LATEST_TIMESTAMP.timestamp()
DAY = 86_400
YEAR = 366 * DAY
#: the longest duration anything (a lease, a run timeout, an interval) may ask for
MAX_DURATION_SECONDS = 100 * YEAR
MAX_LEASE_SECONDS = 7 * DAY
#: the longest identifier (an id, a type, a queue, a namespace, a name; a path or query value) in
#: UTF-8 bytes: both stores index these, and PostgreSQL's index entries end near 2,700 bytes
MAX_IDENTIFIER_BYTES = 1024
#: identifier fields of a request body, at its top level and one object below it (a task's
#: payload, a schedule's action); arguments, results and details below them are free-form
TOP_IDENTIFIERS = frozenset(
    {
        "type",
        "queue",
        "namespace",
        "id",
        "name",
        "workflowId",
        "workflowType",
        "scheduleId",
        "tenant_id",
        "tenantId",
        "agent_id",
        "agentId",
        "taskQueue",
    }
)
NESTED_IDENTIFIERS = frozenset(
    {
        "workflowId",
        "workflowType",
        "activityType",
        "workflowRunId",
        "workflowTaskId",
        "runId",
        "continuedFromWorkflowId",
        "parentWorkflowId",
        "parentWorkflowRunId",
        "queue",
        "taskQueue",
        "namespace",
        "timerId",
        "markerName",
        "queryName",
        "updateName",
    }
)


def _reject_constant(name: str) -> Any:
    raise BadRequest(f"request body holds {name}, which JSON does not allow; send a finite number or null")


def parse_json(raw: bytes) -> Any:
    """Decode a request body: strict JSON (no NaN or Infinity), nesting at most MAX_JSON_DEPTH."""
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except RecursionError:
        raise BadRequest(f"request body is nested deeper than {MAX_JSON_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise BadRequest(f"request body is not valid JSON: {err}") from None
    # cheap pre-check: a body with few brackets cannot be deep
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH:
        path = too_deep(data)
        if path is not None:
            raise BadRequest(f"request body is nested deeper than {MAX_JSON_DEPTH} levels at {path}; flatten the value")
    if b"\\u0000" in raw:  # JSON can carry U+0000 only escaped: nothing to look for without the escape
        where = nul_path(data)
        if where is not None:
            raise BadRequest(
                f"{where} contains a NUL character (U+0000), which the service does not store; remove "
                "it (send binary data base64-encoded)"
            )
    return data


def check_text(where: str, value: str, *, identifier: bool = True) -> None:
    """A string the service keeps: no NUL (U+0000, which PostgreSQL cannot store, so neither store
    takes it), and an identifier at most MAX_IDENTIFIER_BYTES long."""
    if "\x00" in value:
        raise BadRequest(
            f"{where} contains a NUL character (U+0000), which the service does not store; remove it "
            "(send binary data base64-encoded)"
        )
    if (
        identifier
        and len(value) * 4 > MAX_IDENTIFIER_BYTES
        and len(value.encode("utf-8", "surrogatepass")) > MAX_IDENTIFIER_BYTES
    ):
        raise BadRequest(
            f"{where} is {len(value.encode('utf-8', 'surrogatepass'))} bytes long; identifiers are at most "
            f"{MAX_IDENTIFIER_BYTES} bytes (UTF-8)"
        )


def check_identifiers(body: Any) -> None:
    """The identifier fields of a decoded request body (see TOP_IDENTIFIERS), checked by check_text."""
    if not isinstance(body, dict):
        return
    for key, value in body.items():
        if key in TOP_IDENTIFIERS and isinstance(value, str):
            check_text(f"body.{key}", value)
        elif isinstance(value, dict):
            for inner, item in value.items():
                if inner in NESTED_IDENTIFIERS and isinstance(item, str):
                    check_text(f"body.{key}.{inner}", item)


def nul_path(value: Any) -> Optional[str]:
    """The path of the first string (key or value) holding U+0000, or None (iterative)."""
    stack: List[Tuple[Any, str]] = [(value, "body")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return path
        elif isinstance(item, dict):
            for k, v in item.items():
                if "\x00" in k:
                    return f"{path} (a key)"
                stack.append((v, f"{path}.{k}"))
        elif isinstance(item, list):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(item))
    return None


def too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> Optional[str]:
    """The path of the first place nested deeper than ``limit``, or None (iterative: no recursion)."""
    stack: List[Tuple[Any, int, str]] = [(value, 1, "body")]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, dict):
            children = [(v, f"{path}.{k}") for k, v in item.items()]
        elif isinstance(item, list):
            children = [(v, f"{path}[{i}]") for i, v in enumerate(item)]
        else:
            continue
        if depth > limit:
            return path
        stack.extend((child, depth + 1, child_path) for child, child_path in children)
    return None


def check_int(name: str, value: Optional[int], low: int = 0, high: int = INT64_MAX) -> None:
    """Raise BadRequest naming ``name`` unless ``value`` is None or within [low, high]."""
    if value is None:
        return
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}, got {value}")


def check_number(name: str, value: Optional[float], low: float, high: float) -> None:
    """A 400 unless ``value`` (when given) is a finite number within ``low``..``high``."""
    if value is None:
        return
    if not (math.isfinite(value) and low <= value <= high):
        raise BadRequest(f"{name} must be between {low:g} and {high:g}, got {value}")


def check_time(name: str, when: Optional[float]) -> None:
    """Timestamps stay within 1970..2199: far-future times are mistakes, not plans."""
    if when is None:
        return
    if not EARLIEST_TIME <= when < LATEST_TIME:
        raise BadRequest(f"{name} must be between 1970-01-01 and 2199-12-31 (UTC)")


def check_retry(name: str, policy: Any) -> None:
    """A RetryPolicy (the wire type) whose numbers the service can compute with."""
    if policy is None:
        return
    check_int(f"{name}.maximumAttempts", policy.maximum_attempts, 0, 2**31 - 1)
    check_number(f"{name}.backoffCoefficient", policy.backoff_coefficient, 0, 1000)
    for wire, attr in (
        ("initialIntervalMs", "initial_interval"),
        ("maximumIntervalMs", "maximum_interval"),
        ("expirationIntervalMs", "expiration_interval"),
    ):
        value = getattr(policy, attr)
        if value is not None:
            check_number(f"{name}.{wire}", value.total_seconds() * 1000, 0, MAX_DURATION_SECONDS * 1000)


def check_duration_ms(name: str, value: Optional[int]) -> None:
    """A 400 unless ``value`` (when given) is a whole number of milliseconds within the longest duration allowed."""
    check_int(name, value, 0, MAX_DURATION_SECONDS * 1000)
