"""What the Client's groups of operations share: their base, paging, and argument checks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Iterator, Mapping, Optional, Union

from . import types as wt
from .connection import Connection

if TYPE_CHECKING:
    from .client import Client


def _check_id(value: Optional[str], what: str) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ValueError(f"{what} must be a non-empty string")


def _check_policy(policy: Optional[str]) -> None:
    if policy is not None and policy not in wt.REUSE_POLICIES:
        raise ValueError(f"id_reuse_policy must be one of {', '.join(wt.REUSE_POLICIES)}, got {policy!r}")


def _pages(conn: Connection, path: str, params: Dict[str, Any], page_size: int, *, limit: Optional[int] = None,
           page_token: Optional[str] = None, offset: Optional[int] = None) -> Iterator[Any]:
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
        """Made by a Client (``client.workflow``, ...); the async SDK's ``WorkflowClient(connection=...)``
        works too, with a client of that connection's own."""
        if (client is None) == (connection is None):
            raise TypeError(f"{type(self).__name__} takes a Client or connection=, one of them")
        if client is None:
            from .client import Client  # the Client builds its groups: imported when one is made alone

            client = Client(connection)  # type: ignore[arg-type]
        self._client = client

    @property
    def _conn(self) -> Connection:
        return self._client.connection


def _reason_body(reason: Union[str, Mapping[str, Any], None], request: Optional[Mapping[str, Any]], cls: Any,
                 what: str) -> Dict[str, Any]:
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
