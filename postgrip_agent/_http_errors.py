"""What a failed request means: the error it raises, whether it may have been applied, when to retry."""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Dict, Mapping, Optional
from urllib.parse import urlsplit

import requests

from .errors import (
    AlreadyExistsError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    PayloadTooLargeError,
    RPCError,
    TransportError,
    UnauthorizedError,
    UnavailableError,
)

RETRYABLE_STATUSES = (429, 502, 503, 504)
#: statuses after which the service provably did not apply the request
NOT_APPLIED_STATUSES = (429, 503)


def _transport_error(
    method: str, message: str, reached_server: bool, headers: Optional[Mapping[str, str]] = None
) -> TransportError:
    key = (headers or {}).get("Idempotency-Key") if reached_server else None
    if method == "GET":
        note = ""
    elif reached_server:
        note = " (the request may have reached the service: it may have been applied"
        note += f"; Idempotency-Key {key})" if key else ")"
    else:
        note = " (the request never reached the service: it was not applied)"
    return TransportError(message + note, reached_server=reached_server, idempotency_key=key)


def _outcome_unknown(err: BaseException) -> bool:
    """True when a failed attempt may have been applied: it reached the service and no answer
    said it was not (a cut connection, a timeout, a 500, 502 or 504)."""
    if isinstance(err, TransportError):
        return err.reached_server
    return isinstance(err, RPCError) and err.status >= 500 and err.status not in NOT_APPLIED_STATUSES


def _never_sent(err: requests.exceptions.ConnectionError) -> bool:
    """True when the connection was refused or could not be made: the request never left."""
    text = repr(err)
    return any(
        marker in text for marker in ("NewConnectionError", "Connection refused", "NameResolutionError", "Failed to resolve")
    )


def _retry_after(value: Optional[str]) -> Optional[float]:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


class _LowerCaseHeaders(Dict[str, str]):
    """Answer headers held under lower-case names, looked up by any case."""

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())


def _rpc_error(method: str, url: str, response: requests.Response) -> RPCError:
    status = response.status_code
    message, code = response.reason or "error", None
    try:
        body = response.json()
        if isinstance(body, dict):
            message = str(body.get("error") or message)
            code = body.get("code")
    except ValueError:
        if response.text:
            message = response.text[:500]
    cls: Any = RPCError
    if status == 400:
        cls = InvalidArgumentError
    elif status in (401, 403):
        cls = UnauthorizedError
    elif status == 404:
        cls = NotFoundError
    elif status == 409:
        cls = AlreadyExistsError if code == "already_exists" or "already" in message else ConflictError
    elif status == 413:
        cls = PayloadTooLargeError
    elif status in RETRYABLE_STATUSES or status >= 500:
        cls = UnavailableError
    error: RPCError = cls(message, status=status, code=code, method=method, url=url)
    error.retry_after = _retry_after(response.headers.get("Retry-After"))  # type: ignore[attr-defined]
    return error


def _origin(url: str) -> str:
    """scheme://host:port of a URL, for messages."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
