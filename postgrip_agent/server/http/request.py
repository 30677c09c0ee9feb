"""A request as the handlers see it (its arguments, body and credentials), and the paging of listings."""

from __future__ import annotations

import base64
import json
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Type

from ... import types as wt
from ..engine import limits
from ..engine.core import MAX_WAIT_SECONDS, Fence
from ..errors import BadRequest
from ..store import Page, SessionRecord

MAX_PAGE = 1000
NEXT_PAGE_HEADER = "X-Next-Page-Token"

Response = Tuple[int, Any, Dict[str, str]]


class Request:
    """One API request as a handler sees it: method, path parameters, query, body, the caller's session and fence."""

    def __init__(
        self,
        method: str,
        path: str,
        query: Dict[str, List[str]],
        body: bytes,
        params: Dict[str, str],
        caller_alive: Callable[[], bool] = lambda: True,
        *,
        session: Optional[SessionRecord] = None,
        fence: Fence = None,
    ):
        self.caller_alive = caller_alive
        self.method = method
        self.path = path
        self.query = query
        self.raw_body = body
        self.params = params
        #: the lease the writer says it holds (our SDK's fencing extension), or None
        self.fence = fence
        #: the agent session the request came with (None: the management token, or no auth)
        self.session = session
        #: an agent session's id wins over the agent_id query parameter (which it would let anyone forge)
        self.agent_id = session.agent_id if session is not None else self.arg("agent_id")

    def arg(self, name: str) -> Optional[str]:
        """The query parameter's last value, or None."""
        values = self.query.get(name)
        return values[-1] if values else None

    def int_arg(self, name: str, default: int, *, low: int = 0, high: int = limits.INT64_MAX) -> int:
        """An integer query parameter within ``low``..``high`` (``default`` when absent); a 400 otherwise."""
        raw = self.arg(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw[:32])  # a longer string is no 64-bit integer: no need to parse all of it
        except ValueError:
            raise BadRequest(f"query parameter {name} must be an integer, got {raw[:40]!r}") from None
        if len(raw) > 32 or not low <= value <= high:
            raise BadRequest(f"query parameter {name} must be between {low} and {high}, got {raw[:40]}")
        return value

    def wait_arg(self) -> float:
        """``wait_seconds`` of the long-poll extensions: seconds, fractions allowed."""
        raw = self.arg("wait_seconds")
        if raw is None or raw == "":
            return 0.0
        try:
            value = float(raw)
        except ValueError:
            raise BadRequest(f"query parameter wait_seconds must be a number, got {raw!r}") from None
        if not 0 <= value <= MAX_WAIT_SECONDS:  # also false for NaN
            raise BadRequest(f"query parameter wait_seconds must be between 0 and {MAX_WAIT_SECONDS}, got {raw}")
        return value

    def json_object(self) -> Dict[str, Any]:
        """The body as a JSON object (an empty body is ``{}``)."""
        data = limits.parse_json(self.raw_body) if self.raw_body.strip() else {}
        if not isinstance(data, dict):
            raise BadRequest(f"request body must be a JSON object, got {type(data).__name__}")
        limits.check_identifiers(data)
        return data

    def body(self, cls: Type[Any], *, optional: bool = False) -> Any:
        """The body as the wire type ``cls``, strictly (unknown or mistyped fields are a 400); ``optional``: an empty body is ``cls()``."""
        if optional and not self.raw_body.strip():
            return cls()
        data = self.json_object()
        try:
            return wt.structure_strict(data, cls)
        except Exception as err:  # cattrs validation errors
            raise BadRequest(f"invalid {cls.__name__}: {wt.describe_structure_error(err)}") from None


def page_of(req: Request, orderable: Tuple[str, ...]) -> Page:
    """The page a listing asks for: ``limit``, ``order_by`` (``-`` or ``order=desc`` for descending),
    and where it starts: ``offset`` (the contract's), or ``page_token`` (a previous page's
    ``X-Next-Page-Token``: the position of its last item, so runs added or removed meanwhile never
    shift the pages: no duplicate, no gap). A page token asked for without an order continues in
    the order it was issued in."""
    limit = req.int_arg("limit", 100, high=MAX_PAGE) or 100
    offset = req.int_arg("offset", 0)
    order_by = req.arg("order_by") or "created_at"
    descending = order_by.startswith("-")
    order_by = order_by.lstrip("-")
    if order_by not in orderable:
        raise BadRequest(f"order_by must be one of {', '.join(orderable)} (prefix '-' for descending), got {order_by!r}")
    order = req.arg("order")
    if order not in (None, "asc", "desc"):
        raise BadRequest(f"order must be 'asc' or 'desc', got {order!r}")
    page = Page(limit=limit, offset=offset, order_by=order_by, descending=descending or order == "desc")
    token = req.arg("page_token")
    if token:
        named = req.arg("order_by") is not None or order is not None
        page.offset, page.after = _position(token, page, None if named else orderable)
    return page


def _position(token: str, page: Page, orderable: Optional[Tuple[str, ...]] = None) -> Tuple[int, Optional[Tuple[Any, Any]]]:
    """The offset or keyset position a page token holds (a token of an older service holds an
    offset). Given ``orderable`` (the request named no order), the page takes the token's order."""
    refused = BadRequest("page_token is not a token this service issued")
    try:
        held = json.loads(base64.urlsafe_b64decode(token.encode()).decode())
    except Exception:
        raise refused from None
    if not isinstance(held, dict):
        raise refused
    if "offset" in held:
        offset = held["offset"]
        if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= limits.INT64_MAX:
            raise refused
        return offset, None
    after, order = held.get("after"), held.get("order")
    if not isinstance(after, list) or len(after) != 2 or any(isinstance(v, (list, dict)) for v in after):
        raise refused
    if (
        orderable is not None
        and isinstance(order, list)
        and len(order) == 2
        and order[0] in orderable
        and isinstance(order[1], bool)
    ):
        page.order_by, page.descending = order[0], order[1]
    elif order != [page.order_by, page.descending]:
        raise BadRequest("page_token belongs to a listing in another order: ask with the order_by of the first page")
    return 0, (after[0], after[1])


def paged(records: Sequence[Any], render: Callable[[Any], Dict[str, Any]], page: Page, tiebreak: str = "seq") -> Response:
    """A page of records as JSON; a full page carries the token of the next (the position of its last record)."""
    headers: Dict[str, str] = {}
    if len(records) == page.limit:
        last = records[-1]
        position = {"after": [getattr(last, page.order_by), getattr(last, tiebreak)], "order": [page.order_by, page.descending]}
        headers[NEXT_PAGE_HEADER] = base64.urlsafe_b64encode(json.dumps(position).encode()).decode()
    return 200, [render(record) for record in records], headers
