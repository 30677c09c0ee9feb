"""What the Client's groups of operations share: their base, paging, and argument checks."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, Mapping, Optional, TypeVar, Union

from . import types as wt
from .connection import Connection

if TYPE_CHECKING:
    from .client import Client

T = TypeVar("T")


LONG_POLL = 30.0


def long_poll(
    fetch: Callable[[float], T], finished: Callable[[T], bool], deadline: Optional[float], on_timeout: Callable[[], BaseException]
) -> T:
    """Ask ``fetch(wait_seconds)`` until ``finished``; the service holds each ask open.

    A service without the long-poll extension answers at once; then we back off instead of spinning.
    """
    idle = 0.005
    while True:
        wait = LONG_POLL if deadline is None else max(0.0, min(LONG_POLL, deadline - time.monotonic()))
        asked = time.monotonic()
        value = fetch(round(wait, 3))
        if finished(value):
            return value
        if deadline is not None and time.monotonic() >= deadline:
            raise on_timeout()
        if time.monotonic() - asked < wait / 2:
            time.sleep(idle)
            idle = min(idle * 2, 0.5)


def _check_id(value: Optional[str], what: str) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ValueError(f"{what} must be a non-empty string")


def _check_policy(policy: Optional[str]) -> None:
    if policy is not None and policy not in wt.REUSE_POLICIES:
        raise ValueError(f"id_reuse_policy must be one of {', '.join(wt.REUSE_POLICIES)}, got {policy!r}")


def _pages(
    conn: Connection,
    path: str,
    params: Dict[str, Any],
    page_size: int,
    *,
    limit: Optional[int] = None,
    page_token: Optional[str] = None,
    offset: Optional[int] = None,
) -> Iterator[Any]:
    """Every item, page by page; ``limit`` items at most, from ``page_token`` (a page's
    ``X-Next-Page-Token``) or ``offset`` on."""
    if limit is not None and limit < 0:
        raise ValueError("limit must be >= 0 (None: no limit)")
    params = {**params, "limit": min(page_size, limit) if limit else page_size, "page_token": page_token, "offset": offset}
    left = limit
    while True:
        if left == 0:
            return
        items, headers = conn.request_full("GET", path, params=params)
        for item in items if left is None else items[:left]:
            yield item
        left = None if left is None else left - min(left, len(items))
        token = headers.get("X-Next-Page-Token")
        if not token or not items:
            return
        params = {**params, "page_token": token}


class _SubClient:
    """A group of operations of a Client, sharing its connection and defaults."""

    def __init__(self, client: Optional["Client"] = None, *, connection: Optional[Connection] = None) -> None:
        """Made by a Client (``client.workflow``, ...), whose namespace and task queue it uses; the async
        SDK's ``WorkflowClient(connection=...)`` works too, with the ``default`` namespace and queue."""
        if (client is None) == (connection is None):
            raise TypeError(f"{type(self).__name__} takes a Client or connection=, one of them")
        self._client = client
        self._conn: Connection = client.connection if client is not None else connection  # type: ignore[assignment]

    @property
    def _namespace(self) -> str:
        return self._client.namespace if self._client is not None else "default"

    @property
    def _default_task_queue(self) -> str:
        return self._client.default_task_queue if self._client is not None else "default"


def _reason_body(
    reason: Union[str, Mapping[str, Any], None], request: Optional[Mapping[str, Any]], cls: Any, what: str
) -> Dict[str, Any]:
    """The body of a schedule pause/unpause/trigger: a reason string, or the async SDK's request dict."""
    if reason is not None and request is not None:
        raise TypeError(f"{what}: pass reason= or a request dict, not both")
    given = request if request is not None else reason
    if isinstance(given, Mapping):
        return wt.to_json(wt.from_json(dict(given), cls))  # type: ignore[no-any-return]
    if given is not None and not isinstance(given, str):
        raise TypeError(f"{what}: reason must be a string, not {type(given).__name__}")
    return _drop_none({"reason": given})


def _drop_none(values: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}
