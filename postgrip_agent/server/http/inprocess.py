"""The in-process transport: a requests adapter that hands each call straight to the service's API.

When the Client, the Agent and the local service share one process (a script, a test, a
development server), every call over loopback HTTP pays for two HTTP stacks, a socket round
trip and a hand-off to a server thread. This adapter, mounted on the Connection's
``requests.Session`` (requests' extension point), runs the call on the caller's own thread
instead: the same routing, authentication, fencing, idempotency and JSON bodies as over HTTP,
the same status codes and ErrorResponses, without the socket. It is what
``Client.connect(server)`` uses when given a [`LocalServer`][postgrip_agent.server.LocalServer].

Differences from HTTP, by design: the connection timeout does not apply (the call runs to its
end on the caller's thread; long-polls still end after their ``wait_seconds``), and once the
service has stopped every call fails as a refused connection would, so the caller knows it was
never applied.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union
from urllib.parse import parse_qs, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from .dispatch import answer
from .conn import MAX_BODY_BYTES, SERVER_NAME, reason_phrase

Timeout = Union[None, float, Tuple[Optional[float], Optional[float]]]
#: Api.route: method, path, decoded query, headers (lower case), body, caller_alive
Route = Callable[[str, str, Dict[str, List[str]], Dict[str, str], bytes, Callable[[], bool]], Tuple[int, Any, Dict[str, str]]]


class InProcessAdapter(BaseAdapter):
    """Answers requests by calling the service's dispatch on the calling thread."""

    #: an answer comes back on the calling thread or not at all, never lost in transit: the
    #: Connection sends its writes without an Idempotency-Key (the service then records none)
    answers_cannot_be_lost = True

    def __init__(self, route: Route, extensions: str, serving: Callable[[], bool]) -> None:
        """``serving`` says whether the service is running (started, not yet stopped)."""
        super().__init__()
        self._route = route
        self._extensions = extensions
        self._serving = serving

    def call(
        self, method: str, path: str, query: Dict[str, List[str]], headers: Dict[str, str], body: bytes
    ) -> Tuple[int, bytes, Dict[str, str]]:
        """One call without requests' objects (the Connection's own fast path): the path as sent,
        the query decoded, header names in lower case. Answers the status, the JSON body as
        bytes (a copy: nothing the service holds is shared) and the headers, names in lower case."""
        if not self._serving():
            raise requests.exceptions.ConnectionError(
                "NewConnectionError: Connection refused: the in-process PostGrip Agent service is not running "
                "(start the LocalServer first; it may have been stopped)"
            )
        extra: Dict[str, str]
        if len(body) > MAX_BODY_BYTES:
            status, payload, extra = (
                413,
                {
                    "error": f"request body of {len(body)} bytes exceeds the {MAX_BODY_BYTES}-byte limit",
                    "code": "payload_too_large",
                },
                {},
            )
        else:
            route = self._route
            status, payload, extra = answer(
                lambda m, t, h, b, alive: route(m, path, query, h, b, alive), method, path, headers, body, lambda: True
            )
        answered = {"server": SERVER_NAME, "content-type": "application/json", "x-postgrip-extensions": self._extensions}
        for name, value in extra.items():
            answered[name.lower()] = value
        if isinstance(payload, bytes):  # a page or asset of the web UI (its content-type came in extra)
            content = payload
        else:
            content = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
        return status, b"" if method == "HEAD" else content, answered

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Timeout = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Optional[Mapping[str, str]] = None,
    ) -> requests.Response:
        split = urlsplit(request.url or "")
        body = request.body.encode() if isinstance(request.body, str) else (request.body or b"")
        headers = {name.lower(): value for name, value in request.headers.items()}
        status, content, answered = self.call(
            request.method or "GET", split.path or "/", parse_qs(split.query, keep_blank_values=True), headers, body
        )
        response = requests.Response()
        response.status_code = status
        response.reason = reason_phrase(status)
        response.headers = CaseInsensitiveDict(answered)
        response._content = content
        response.encoding = "utf-8"
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        """Nothing to release: no sockets were opened."""


__all__ = ["InProcessAdapter"]
