"""The in-process transport: a requests adapter that hands each call straight to the service's API.

When the Client, the Agent and the local service share one process (a script, a test, a
development server), every call over loopback HTTP pays for two HTTP stacks, a socket round
trip and a hand-off to a server thread. This adapter, mounted on the Connection's
``requests.Session`` (requests' extension point), runs the call on the caller's own thread
instead: the same routing, authentication, fencing, idempotency and JSON bodies as over HTTP,
the same status codes and ErrorResponses, without the socket. It is what
``Client.connect(server)`` uses when given a :class:`~postgrip_agent.server.LocalServer`.

Differences from HTTP, by design: the connection timeout does not apply (the call runs to its
end on the caller's thread; long-polls still end after their ``wait_seconds``), and once the
service has stopped every call fails as a refused connection would, so the caller knows it was
never applied.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, Mapping, Optional, Tuple, Union
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from .errors import Dispatch, answer
from .http_conn import MAX_BODY_BYTES, SERVER_NAME, reason_phrase

Timeout = Union[None, float, Tuple[Optional[float], Optional[float]]]


class InProcessAdapter(BaseAdapter):
    """Answers requests by calling the service's dispatch on the calling thread."""

    #: an answer comes back on the calling thread or not at all, never lost in transit: the
    #: Connection sends its writes without an Idempotency-Key (the service then records none)
    answers_cannot_be_lost = True

    def __init__(self, dispatch: Dispatch, extensions: str, serving: Callable[[], bool]) -> None:
        """``serving`` says whether the service is running (started, not yet stopped)."""
        super().__init__()
        self._dispatch = dispatch
        self._extensions = extensions
        self._serving = serving

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Timeout = None,
             verify: Any = True, cert: Any = None, proxies: Optional[Mapping[str, str]] = None) -> requests.Response:
        if not self._serving():
            raise requests.exceptions.ConnectionError(
                "NewConnectionError: Connection refused: the in-process PostGrip Agent service is not running "
                "(start the LocalServer first; it may have been stopped)")
        split = urlsplit(request.url or "")
        target = (split.path or "/") + (f"?{split.query}" if split.query else "")
        body = request.body.encode() if isinstance(request.body, str) else (request.body or b"")
        extra: Dict[str, str]
        if len(body) > MAX_BODY_BYTES:
            status, payload, extra = 413, {"error": f"request body of {len(body)} bytes exceeds the "
                                           f"{MAX_BODY_BYTES}-byte limit", "code": "payload_too_large"}, {}
        else:
            headers = {name.lower(): value for name, value in request.headers.items()}
            status, payload, extra = answer(self._dispatch, request.method or "GET", target, headers, body,
                                            lambda: True)
        response = requests.Response()
        response.status_code = status
        response.reason = reason_phrase(status)
        response.headers = CaseInsensitiveDict({"Server": SERVER_NAME, "Content-Type": "application/json",
                                                "X-PostGrip-Extensions": self._extensions, **extra})
        response._content = b"" if request.method == "HEAD" else json.dumps(
            payload, separators=(",", ":"), allow_nan=False).encode()
        response.encoding = "utf-8"
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        """Nothing to release: no sockets were opened."""


__all__ = ["InProcessAdapter"]
