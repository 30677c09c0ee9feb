"""Errors the service answers with: each becomes an ErrorResponse with its status and code."""

from __future__ import annotations


class ServiceError(Exception):
    status = 500
    code = "internal"
    #: the error answers a request whose changes must still be committed (a revocation, say)
    keep_changes = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ServiceError):
    status = 400
    code = "invalid_argument"


class Unauthorized(ServiceError):
    status = 401
    code = "unauthorized"


class Forbidden(ServiceError):
    status = 403
    code = "forbidden"


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class Conflict(ServiceError):
    status = 409
    code = "conflict"


class StaleLease(Conflict):
    """A write named a lease that is no longer the task's current one: nothing was applied."""

    code = "stale_lease"


class AlreadyExists(Conflict):
    code = "already_exists"


class KeyReused(ServiceError):
    """An Idempotency-Key sent again with a different request: nothing was applied."""

    status = 422
    code = "idempotency_key_reused"


class PayloadTooLarge(ServiceError):
    status = 413
    code = "payload_too_large"


class Unavailable(ServiceError):
    status = 503
    code = "unavailable"


class NotImplementedService(ServiceError):
    status = 501
    code = "not_implemented"
