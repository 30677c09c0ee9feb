"""The one place a request's exception becomes an answer, for the HTTP server and the in-process transport."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any, Callable, Dict, Tuple

from ..errors import ServiceError

log = logging.getLogger("postgrip_agent.server.http")

#: how the HTTP layer (and the in-process transport) calls the API: method, target, lower-case
#: headers, body, and a check that the caller is still there; answers status, payload, headers
Dispatch = Callable[[str, str, Dict[str, str], bytes, Callable[[], bool]], Tuple[int, Any, Dict[str, str]]]


def answer(
    dispatch: Dispatch, method: str, target: str, headers: Dict[str, str], body: bytes, caller_alive: Callable[[], bool]
) -> Tuple[int, Any, Dict[str, str]]:
    """Run one request through ``dispatch`` and turn whatever it raised into an ErrorResponse.

    The one place a request's exception becomes an answer, for the HTTP server and the
    in-process transport alike: a ServiceError answers its own status and code; a store that
    closed under the request means the service is stopping (503); anything else is logged with
    its traceback and answers a 500 that names no internals."""
    try:
        return dispatch(method, target, headers, body, caller_alive)
    except ServiceError as err:
        extra = {"WWW-Authenticate": 'Bearer realm="postgrip-agent"'} if err.status == 401 else {}
        if err.status == 503:
            extra["Retry-After"] = "1"
        return err.status, {"error": err.message, "code": err.code}, extra
    except sqlite3.ProgrammingError:  # the store closed under a request: the service is stopping
        return 503, {"error": "the service is stopping", "code": "unavailable"}, {"Retry-After": "1"}
    except Exception:
        log.exception("internal error handling %s %s", method, target[:200])
        return 500, {"error": "internal server error; see the service log", "code": "internal"}, {}
