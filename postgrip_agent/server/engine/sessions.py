"""Agent sessions (enrolment and refresh-token rotation) and idempotent writes."""

from __future__ import annotations

import logging
import secrets
from typing import Any, Callable, Dict, Optional, Tuple

from ..errors import Forbidden, KeyReused, ServiceError, Unauthorized
from ..store import IdempotentRecord, SessionRecord
from .core import EngineState
from .clock import ts

log = logging.getLogger("postgrip_agent.server.engine")

ACCESS_TOKEN_TTL = 900.0
REFRESH_TOKEN_TTL = 30 * 86400.0


class Sessions:
    """Agent sessions and the idempotency-key record of writes."""

    def __init__(self, state: EngineState) -> None:
        self.state = state
        self.store, self.clock = state.store, state.clock

    def refresh_session(self, refresh_token: str) -> Dict[str, Any]:
        """Rotate an agent session. A refresh token works once: presenting a rotated one again
        (a stolen copy, or a replay) revokes its whole family."""
        revoked: Optional[str] = None
        with self.state.operation():
            now = self.clock.now()
            family = self.state.new_id()
            agent_id, namespace = f"local-agent-{family[:8]}", None
            if self.state.auth_token is not None and not same_secret(refresh_token, self.state.auth_token):
                session = self.store.get_session(refresh_token)
                if session is not None and session.kind == "refresh-used":
                    count = self.store.delete_session_family(session.family_id)
                    log.warning(
                        "a rotated refresh token of family %s was presented again; revoked the family (%d tokens)",
                        session.family_id,
                        count,
                    )
                    revoked = session.family_id
                elif session is None or session.kind != "refresh" or session.expires_at <= now:
                    raise Unauthorized("refresh token is invalid or expired; enrol again with the service token")
                else:
                    session.kind = "refresh-used"  # kept until it expires, to recognise reuse
                    self.store.put_session(session)
                    agent_id, family, namespace = session.agent_id, session.family_id, session.namespace
            if revoked is None:
                access = SessionRecord(secrets.token_urlsafe(24), "access", agent_id, family, now + ACCESS_TOKEN_TTL, namespace)
                refresh = SessionRecord(
                    secrets.token_urlsafe(24), "refresh", agent_id, family, now + REFRESH_TOKEN_TTL, namespace
                )
                self.store.put_session(access)
                self.store.put_session(refresh)
        if revoked is not None:  # raised after the commit: the revocation must stick
            error = Unauthorized(
                "refresh token was already used, so its session family is revoked; enrol again with the service token"
            )
            error.keep_changes = True  # also when an enclosing (idempotent) transaction is still open
            raise error
        return {
            "agentId": agent_id,
            "tenantId": "local",
            "tokenFamilyId": family,
            "accessToken": access.token,
            "refreshToken": refresh.token,
            "accessExpiresAt": ts(access.expires_at),
            "refreshExpiresAt": ts(refresh.expires_at),
            "status": "active",
            "trustState": "trusted",
        }

    def idempotent(
        self,
        key: str,
        work: Callable[[], Tuple[int, Any, Dict[str, str]]],
        *,
        request_digest: Optional[str] = None,
        shown_key: Optional[str] = None,
    ) -> Tuple[int, Any, Dict[str, str]]:
        """Run a write once per key: a retry gets the first successful answer, with no second effect.
        The same key with another request (``request_digest`` differs) is refused with 422.

        The answer is recorded in the write's own transaction, so either both happened or neither.
        The write runs first and its answer is added last (one statement): when the key has an
        answer already (a retry of a write that was applied; with concurrent writers, the same
        request sent twice at once waits here for the first), the write is rolled back and the
        first answer replayed. A write that fails is replayed from the record too, when there is one
        (a retry of a completion finds its task finished, a retry of a start its workflow running)."""
        kept: Optional[ServiceError] = None
        try:
            with self.state.operation():
                try:
                    status, body, headers = work()
                except ServiceError as err:
                    if not err.keep_changes:
                        raise  # nothing happened: roll back, and let a retry run again
                    kept, status, body, headers = err, err.status, {"error": err.message, "code": err.code}, {}
                if 200 <= status < 300 or kept is not None:
                    if not self.store.add_idempotent(IdempotentRecord(key, self.clock.now(), status, body, request_digest)):
                        raise _Answered()  # undo this run of the write; the first answer stands
        except (ServiceError, _Answered) as err:
            with self.state.serial:
                saved = self.store.get_idempotent(key)
            if saved is None:
                if isinstance(err, _Answered):  # purged in between (it had expired): the write may run again
                    return self.idempotent(key, work, request_digest=request_digest, shown_key=shown_key)
                raise
            return _replay(saved, request_digest, shown_key or key)
        if kept is not None:
            raise kept
        return status, body, headers

    def session(self, token: str) -> Optional[SessionRecord]:
        """The agent session of a valid access token (None when it is not one)."""
        with self.state.serial:
            session = self.store.get_session(token)
            if session is None or session.kind != "access" or session.expires_at <= self.clock.now():
                return None
            return session

    def session_namespace(self, session: SessionRecord, namespace: str) -> None:
        """An agent session acts in one namespace: the first it names binds its family to it (the
        tokens it refreshes into inherit it); any other is refused (403)."""
        if session.namespace is None:
            with self.state.operation():
                current = self.store.get_session(session.token)
                if current is not None and current.namespace is None:
                    self.store.bind_session_family(session.family_id, namespace)
                    log.info(
                        "agent session family %s (agent %s) bound to namespace %s", session.family_id, session.agent_id, namespace
                    )
                    session.namespace = namespace
                    return
                session.namespace = current.namespace if current is not None else namespace
        if session.namespace != namespace:
            raise Forbidden(
                f"this agent session acts in namespace {session.namespace!r}, not {namespace!r}; "
                f"enrol another session for namespace {namespace!r}"
            )


class _Answered(Exception):
    """The idempotency key of a write already has an answer (raised to roll the write back)."""


def _replay(saved: IdempotentRecord, request_digest: Optional[str], shown_key: str) -> Tuple[int, Any, Dict[str, str]]:
    """The first answer to a key, for a retry of the same request; 422 for another request."""
    if request_digest and saved.request_digest and saved.request_digest != request_digest:
        raise KeyReused(
            f"Idempotency-Key {shown_key!r} was already used for a different request "
            "(another body or query); a retry must repeat the request exactly, and a new "
            "request needs a new key"
        )
    if saved.status >= 400:
        replayed = ServiceError(str((saved.body or {}).get("error")))
        replayed.status, replayed.code = saved.status, str((saved.body or {}).get("code"))
        raise replayed
    return saved.status, saved.body, {"Idempotency-Replayed": "true"}


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison of two secrets; never raises (non-ASCII input included)."""
    return secrets.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape"))
