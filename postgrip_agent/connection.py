"""The HTTP transport: one ``requests.Session``, retries with tenacity, auth and signing."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import logging
import os
import random
import threading
import time
import uuid
from typing import Any, Callable, Dict, FrozenSet, Mapping, Optional, Protocol, Sequence, Tuple, Union
from urllib.parse import quote, urlencode, urlsplit

import requests
import tenacity
from requests.adapters import BaseAdapter, HTTPAdapter
from requests.structures import CaseInsensitiveDict

from ._version import __version__
from ._transport import LeanHTTPAdapter
from ._http_errors import (
    NOT_APPLIED_STATUSES,
    RETRYABLE_STATUSES,
    _LowerCaseHeaders,
    _never_sent,
    _origin,
    _outcome_unknown,
    _rpc_error,
    _transport_error,
)
from .converter import DEFAULT as DEFAULT_CONVERTER, DataConverter
from .interceptor import Interceptor
from .errors import DecodeError, PostGripAgentError, TransportError, UnavailableError
from ._compat import either
from .types import parse_timestamp

log = logging.getLogger("postgrip_agent.connection")

DEFAULT_ADDRESS = "http://127.0.0.1:4100"
DEFAULT_TIMEOUT = 30.0
USER_AGENT = f"postgrip-agent-python-sync/{__version__}"
#: the service lists its optional extensions in this response header
EXTENSIONS_HEADER = "X-PostGrip-Extensions"
IDEMPOTENCY_EXTENSION = "idempotency-key"


class RetryOptions:
    """How transient failures are retried: exponential backoff with jitter, bounded twice."""

    def __init__(
        self,
        *,
        max_attempts: Optional[int] = None,
        max_elapsed: float = 30.0,
        initial_backoff: float = 0.1,
        max_backoff: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``max_attempts`` None (the default) bounds retries by ``max_elapsed`` alone, so a
        service restart of several seconds is ridden out; a long-poll's budget starts after its wait."""
        if max_attempts is not None and max_attempts < 1:
            raise ValueError("max_attempts must be >= 1 (1 disables retries) or None (bounded by max_elapsed)")
        if max_elapsed < 0 or initial_backoff < 0 or max_backoff < 0:
            raise ValueError("retry durations must not be negative")
        self.max_attempts = max_attempts
        self.max_elapsed = max_elapsed
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.sleep = sleep

    @classmethod
    def disabled(cls) -> "RetryOptions":
        """Options that make one attempt only (no retry)."""
        return cls(max_attempts=1)


class _Signer:
    """Ed25519 request signing of agent-lane writes (the ``agent-task-v1`` canonical request)."""

    def __init__(self, private_key_b64: str) -> None:
        try:
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
            from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
        except ImportError as err:  # pragma: no cover - depends on the optional extra
            raise PostGripAgentError(
                "request signing needs the 'cryptography' package: pip install 'postgrip-agent-sync[signing]'"
            ) from err
        raw = base64.b64decode(private_key_b64)
        if len(raw) == 64:
            raw = raw[:32]
        if len(raw) != 32:
            raise ValueError(f"Ed25519 private key has {len(raw)} bytes; expected 32 (or 64) base64-encoded bytes")
        self._key = Ed25519PrivateKey.from_private_bytes(raw)
        public = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = hashlib.sha256(public).hexdigest()[:16]

    def headers(self, method: str, url: str, body: bytes) -> Dict[str, str]:
        split = urlsplit(url)
        stamp = int(time.time())
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        canonical = "\n".join(["agent-task-v1", method.upper(), split.path, split.query, str(stamp), digest, ""])
        signature = base64.b64encode(self._key.sign(canonical.encode())).decode()
        return {
            "X-Agent-Signature": signature,
            "X-Agent-Signature-Key-Id": self.key_id,
            "X-Agent-Signature-Timestamp": str(stamp),
        }


class InProcessService(Protocol):
    """A service running in this process that can answer calls without a socket
    ([`postgrip_agent.server.LocalServer`][postgrip_agent.server.LocalServer] is one)."""

    @property
    def address(self) -> str:
        """Its HTTP address, for messages and for other processes."""

    def transport_adapter(self) -> BaseAdapter:
        """A requests adapter that answers this process's calls directly."""


class Connection:
    """HTTP transport to a PostGrip Agent service; thread-safe, one pooled session.

    The address comes from the argument, else ``POSTGRIP_AGENTORCHESTRATOR_URL``, else
    ``http://127.0.0.1:4100``. Several addresses (a list, or one string with commas) name
    replicas of one service: calls go to one of them and move to the next when a connection
    to it fails, under the same rules as any retry (reads; writes that provably never
    arrived; writes with an idempotency key). Given a service running in this process instead of an address
    (a ``LocalServer``), calls go to it directly through its ``transport_adapter()``, without
    a socket; ``adapter`` mounts any other requests adapter for the address the same way.
    The management token from the argument or ``POSTGRIP_TOKEN``.
    Agent-session credentials come from the arguments or ``POSTGRIP_AGENT_ACCESS_TOKEN``,
    ``POSTGRIP_AGENT_REFRESH_TOKEN``, ``POSTGRIP_AGENT_ACCESS_EXPIRES_AT`` and are refreshed
    before they expire; ``POSTGRIP_AGENT_SIGNING_PRIVATE_KEY`` turns on signing.
    """

    def __init__(
        self,
        address: Union[str, Sequence[str], InProcessService, None] = None,
        *,
        token: Optional[str] = None,
        timeout: float = DEFAULT_TIMEOUT,
        headers: Optional[Mapping[str, str]] = None,
        retry: Optional[RetryOptions] = None,
        pool_size: int = 128,
        agent_access_token: Optional[str] = None,
        agent_refresh_token: Optional[str] = None,
        agent_access_expires_at: Optional[str] = None,
        signing_private_key: Optional[str] = None,
        adapter: Optional[BaseAdapter] = None,
        auth_token: Optional[str] = None,
        agent_signing_private_key: Optional[str] = None,
        agent_id: Optional[str] = None,
        worker_id: Optional[str] = None,
        agent_name: Optional[str] = None,
        agent_host: Optional[str] = None,
        agent_namespace: Optional[str] = None,
        agent_queue: Optional[str] = None,
        data_converter: Optional[DataConverter] = None,
        interceptors: Sequence[Interceptor] = (),
    ) -> None:
        """``data_converter`` turns values into the wire's JSON and back (typed values, codecs
        such as encryption: see ``postgrip_agent.converter``); every client and Agent on this
        connection uses it. ``interceptors`` (``postgrip_agent.interceptor``) run around the
        client's calls, and in every Agent built on this connection.

        The async SDK's keywords are accepted too: ``auth_token`` (for ``token``),
        ``agent_signing_private_key`` (for ``signing_private_key``), and the defaults of an Agent
        built on this connection: ``agent_id``/``worker_id`` (its identity), ``agent_name``,
        ``agent_host``, ``agent_namespace`` and ``agent_queue`` (its namespace and task queue)."""
        if isinstance(address, (list, tuple)):
            if not address or not all(isinstance(one, str) and one.strip() for one in address):
                raise TypeError("address: give one URL, or a non-empty list of URL strings (replicas of one service)")
            address = ",".join(address)
        elif address is not None and not isinstance(address, str):
            if not callable(getattr(address, "transport_adapter", None)):
                raise TypeError(
                    f"address must be a URL string, a list of them, or an in-process service such as "
                    f"LocalServer, not {type(address).__name__}"
                )
            adapter = adapter or address.transport_adapter()  # type: ignore[union-attr]
            address = address.address  # type: ignore[union-attr]
        given = str(address or os.environ.get("POSTGRIP_AGENTORCHESTRATOR_URL") or DEFAULT_ADDRESS)
        #: every replica's address; ``address`` is the one calls go to now
        self.addresses: Tuple[str, ...] = tuple(
            (one if "://" in one else "http://" + one).rstrip("/") for one in (p.strip() for p in given.split(",")) if one
        )
        if not self.addresses:
            raise ValueError(f"address {given!r} names no service")
        for one in self.addresses:
            _check_address(one)
        if adapter is not None and len(self.addresses) > 1:
            raise ValueError("an in-process service or a custom adapter takes one address")
        self.address = self.addresses[0]
        if not (timeout > 0):
            raise ValueError("timeout must be a positive number of seconds")
        self.timeout = float(timeout)
        self.retry = retry or RetryOptions()
        if data_converter is not None and not isinstance(data_converter, DataConverter):
            raise TypeError(
                f"data_converter must be a postgrip_agent.converter.DataConverter, not {type(data_converter).__name__}"
            )
        #: how values become the wire's JSON and come back (plain JSON forms, then codecs)
        self.data_converter: DataConverter = data_converter or DEFAULT_CONVERTER
        if not all(isinstance(i, Interceptor) for i in interceptors):
            raise TypeError("interceptors must be postgrip_agent.interceptor.Interceptor objects")
        #: run around the client's calls and in every Agent on this connection
        self.interceptors: Tuple[Interceptor, ...] = tuple(interceptors)
        token = either("token", token, "auth_token", auth_token)
        signing_private_key = either(
            "signing_private_key", signing_private_key, "agent_signing_private_key", agent_signing_private_key
        )
        #: what an Agent on this connection uses when it is not told: identity, name, host, namespace, queue
        self.agent_defaults: Dict[str, Optional[str]] = {
            "identity": either("agent_id", agent_id, "worker_id", worker_id) or os.environ.get("POSTGRIP_AGENT_ID"),
            "name": agent_name,
            "host": agent_host,
            "namespace": agent_namespace or os.environ.get("POSTGRIP_AGENT_NAMESPACE"),
            "task_queue": agent_queue or os.environ.get("POSTGRIP_AGENT_TASK_QUEUE"),
        }
        self.token = (token or os.environ.get("POSTGRIP_TOKEN") or "").strip() or None
        self._agent_lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._access_token = agent_access_token or os.environ.get("POSTGRIP_AGENT_ACCESS_TOKEN")
        self._refresh_token = agent_refresh_token or os.environ.get("POSTGRIP_AGENT_REFRESH_TOKEN")
        expires = agent_access_expires_at or os.environ.get("POSTGRIP_AGENT_ACCESS_EXPIRES_AT")
        self._access_expires = parse_timestamp(expires).timestamp() if expires else (float("inf") if self._access_token else 0.0)
        key = signing_private_key or os.environ.get("POSTGRIP_AGENT_SIGNING_PRIVATE_KEY")
        self._signer = _Signer(key) if key else None
        self.session = requests.Session()
        # Read proxy settings once: requests would rescan the environment on every call.
        self.session.proxies.update(requests.utils.get_environ_proxies(self.address))
        self.session.trust_env = False
        pooled = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", pooled)
        self.session.mount("https://", pooled)
        # a given adapter (the in-process transport), else for plain HTTP without a proxy (the local
        # service, a sidecar) the lean adapter: either is called directly, skipping Session.send
        self._direct: Optional[BaseAdapter] = adapter
        if adapter is None and self.address.startswith("http://") and not self.session.proxies.get("http"):
            self._direct = LeanHTTPAdapter()
        if self._direct is not None:
            for one in self.addresses:
                self.session.mount(one + "/", self._direct)
        # an adapter that answers on the calling thread (in-process) cannot lose an answer in
        # transit, so its writes need no Idempotency-Key (and the service records none)
        self._answers_kept = bool(getattr(self._direct, "answers_cannot_be_lost", False))
        #: the in-process adapter's own entry (no URL, no requests objects): the fast path
        self._direct_call: Optional[Callable[..., Tuple[int, bytes, Dict[str, str]]]] = getattr(self._direct, "call", None)
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        if headers:
            self.session.headers.update(dict(headers))
        self.requests_sent = 0  # for benchmarks and tests: HTTP requests actually sent
        #: the optional extensions the service listed in its first answer (None until it answered)
        self.extensions: Optional[FrozenSet[str]] = None

    # ------------------------------------------------------------------ public

    @property
    def idempotency_keys(self) -> bool:
        """The service replays writes carrying an Idempotency-Key (learnt from its first answer)."""
        return IDEMPOTENCY_EXTENSION in (self.extensions or ())

    def close(self) -> None:
        """Close the pooled sockets."""
        self.session.close()
        if self._direct is not None:
            self._direct.close()

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def request(self, method: str, path: str, **options: Any) -> Any:
        """Send one call and return its decoded JSON body (options as for [`request_full()`][postgrip_agent.connection.Connection.request_full])."""
        return self.request_full(method, path, **options)[0]

    def request_full(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Optional[Mapping[str, Any]] = None,
        idempotent: Optional[bool] = None,
        timeout: Optional[float] = None,
        agent_lane: bool = False,
        headers: Optional[Mapping[str, str]] = None,
        retry: Optional[RetryOptions] = None,
    ) -> Tuple[Any, Mapping[str, str]]:
        """Like [`request()`][postgrip_agent.connection.Connection.request], also returning the response headers.

        ``idempotent`` defaults to True for GET. Every other call carries an ``Idempotency-Key``
        (the same on each retry; not through an adapter whose answers cannot be lost, such as
        the in-process one); once the service has said it honours those keys, a write whose
        answer was lost is retried and gets the first answer. Otherwise a non-idempotent call is
        retried only when it provably never reached the service. A long-poll's retry budget
        (``wait_seconds`` in ``params``) starts after its own wait.
        """
        if timeout is not None and timeout <= 0:
            raise ValueError("timeout must be a positive number of seconds")
        method = method.upper()
        safe = (method == "GET") if idempotent is None else idempotent
        query = {k: v for k, v in (params or {}).items() if v is not None}
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        extra: Dict[str, str] = dict(headers or {})
        if method != "GET" and not self._answers_kept:
            extra["Idempotency-Key"] = uuid.uuid4().hex
        options = retry or self.retry
        started = time.monotonic()
        budget = options.max_elapsed + float(query.get("wait_seconds") or 0)

        def retryable(err: BaseException) -> bool:
            keyed = "Idempotency-Key" in extra and self.idempotency_keys
            if isinstance(err, TransportError):
                return safe or keyed or not err.reached_server
            if isinstance(err, UnavailableError) and err.status in RETRYABLE_STATUSES:
                return safe or keyed or err.status in NOT_APPLIED_STATUSES
            return False

        def delay_after(attempt: int, error: Optional[BaseException]) -> float:
            """Jittered exponential backoff after failed attempt ``attempt`` (Retry-After wins), within the budget."""
            backoff = min(options.max_backoff, options.initial_backoff * (2 ** (attempt - 1)))
            delay = random.uniform(backoff / 2, backoff)
            hint = getattr(error, "retry_after", None)
            if hint is not None:
                delay = max(delay, float(hint))
            return max(0.0, min(delay, budget - (time.monotonic() - started)))

        send_timeout = timeout or self.timeout
        attempt: Callable[[], Tuple[Any, Mapping[str, str]]]
        if self._direct_call is not None:
            attempt = functools.partial(self._call_direct, method, path, query, data, agent_lane, extra)
        elif len(self.addresses) == 1:
            url = self._url(path, query)
            attempt = functools.partial(self._send, method, url, data, send_timeout, agent_lane, extra)
        else:  # the address may change between attempts

            def attempt() -> Tuple[Any, Mapping[str, str]]:
                return self._send(method, self._url(path, query), data, send_timeout, agent_lane, extra)

        # The fast path: one attempt, no retry machinery. Most calls succeed at once.
        try:
            return attempt()
        except PostGripAgentError as first:
            if not retryable(first) or options.max_attempts == 1 or budget <= 0:
                raise
            log.warning("%s %s failed (attempt 1): %s; retrying", method, path, first)
            unknown: Optional[PostGripAgentError] = first if method != "GET" and _outcome_unknown(first) else None
            options.sleep(delay_after(1, first))
        once = attempt

        def again() -> Tuple[Any, Mapping[str, str]]:
            """An attempt after the first; remembers the first one whose outcome is unknown."""
            nonlocal unknown
            try:
                return once()
            except PostGripAgentError as err:
                if unknown is None and method != "GET" and _outcome_unknown(err):
                    unknown = err
                raise

        def wait(state: tenacity.RetryCallState) -> float:
            # tenacity counts from the second attempt: its attempt n is our attempt n + 1
            return delay_after(state.attempt_number + 1, state.outcome.exception() if state.outcome else None)

        def before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning("%s %s failed (attempt %d): %s; retrying", method, path, state.attempt_number + 1, exc)

        # the retries after the first attempt: bounded by what is left of the budget and of the attempts
        stop: tenacity.stop.stop_base = tenacity.stop_after_delay(max(0.0, budget - (time.monotonic() - started)))
        if options.max_attempts is not None:
            stop = stop | tenacity.stop_after_attempt(options.max_attempts - 1)
        retrying = tenacity.Retrying(
            stop=stop,
            wait=wait,
            retry=tenacity.retry_if_exception(retryable),
            before_sleep=before_sleep,
            sleep=options.sleep,
            reraise=True,
        )
        try:
            return retrying(again)
        except PostGripAgentError as last:
            if unknown is None or _outcome_unknown(last):
                raise
            # the last attempt was refused, but an earlier one may have been applied: say so
            key = extra.get("Idempotency-Key")
            error = TransportError(
                f"{method} {path} failed: the last attempt said {last}, but an earlier attempt's outcome is unknown "
                f"({unknown}): the request may have been applied"
                + (f"; retry with Idempotency-Key {key} to get its answer" if key else ""),
                reached_server=True,
                idempotency_key=key,
            )
            raise error from last

    # ------------------------------------------------------------------ internals

    def _move_on(self, url: str) -> None:
        """A connection to the address of ``url`` failed: later calls go to the next replica."""
        if len(self.addresses) > 1:
            with self._agent_lock:
                if url.startswith(self.address + "/") or url == self.address:
                    at = self.addresses.index(self.address)
                    self.address = self.addresses[(at + 1) % len(self.addresses)]
                    log.warning("cannot reach %s; moving to %s", self.addresses[at], self.address)

    def _url(self, path: str, query: Mapping[str, Any]) -> str:
        return self.address + path + (("?" + urlencode(query, doseq=True)) if query else "")

    def _call_direct(
        self, method: str, path: str, query: Mapping[str, Any], data: Optional[bytes], agent_lane: bool, extra: Dict[str, str]
    ) -> Tuple[Any, Mapping[str, str]]:
        """What ``_send()`` does, through the in-process adapter's own entry: the same headers
        and answers, without building a URL or requests' objects."""
        assert self._direct_call is not None
        headers = {name.lower(): value for name, value in self.session.headers.items()}
        for name, value in extra.items():
            headers[name.lower()] = value
        if data is not None:
            headers["content-type"] = "application/json"
        token = (self._agent_token() if agent_lane else None) or self.token
        if token and "authorization" not in headers:
            headers["authorization"] = f"Bearer {token}"
        if agent_lane and self._signer is not None and method == "POST":
            for name, value in self._signer.headers(method, self._url(path, query), data or b"").items():
                headers[name.lower()] = value
        # the query as the service would decode it from the URL (urlencode's str() of each value)
        decoded = {k: [str(x) for x in v] if isinstance(v, (list, tuple)) else [str(v)] for k, v in query.items()}
        self.requests_sent += 1
        try:
            status, content, answered = self._direct_call(method, path, decoded, headers, data or b"")
        except requests.exceptions.ConnectionError as err:
            raise _transport_error(method, f"cannot connect to {self.address}: {err}", False) from err
        if self.extensions is None:
            advertised = answered.get(EXTENSIONS_HEADER.lower())
            if advertised is not None:
                self.extensions = frozenset(name.strip() for name in advertised.split(",") if name.strip())
        if status >= 400:
            response = requests.Response()
            response.status_code, response._content, response.reason = status, content, str(status)
            response.headers = CaseInsensitiveDict(answered)
            raise _rpc_error(method, self._url(path, query), response)
        return (json.loads(content) if content else None), _LowerCaseHeaders(answered)

    def _send(
        self, method: str, url: str, data: Optional[bytes], timeout: float, agent_lane: bool, extra: Dict[str, str]
    ) -> Tuple[Any, Mapping[str, str]]:
        headers: Dict[str, str] = dict(extra)
        if data is not None:
            headers["Content-Type"] = "application/json"
        token = self._agent_token() if agent_lane else None
        token = token or self.token
        if token and "Authorization" not in self.session.headers:
            headers["Authorization"] = f"Bearer {token}"
        if agent_lane and self._signer is not None and method == "POST":
            headers.update(self._signer.headers(method, url, data or b""))
        try:
            self.requests_sent += 1
            prepared = self._prepare(method, url, data, headers)
            if self._direct is not None:  # no hooks, cookies or redirects to process: skip Session.send
                response = self._direct.send(prepared, timeout=timeout)
            else:
                response = self.session.send(prepared, timeout=timeout, allow_redirects=False, proxies=self.session.proxies)
        except requests.exceptions.ConnectTimeout as err:
            self._move_on(url)
            raise _transport_error(method, f"connect to {_origin(url)} timed out: {err}", False, extra) from err
        except requests.exceptions.ConnectionError as err:
            refused = _never_sent(err)
            what = "cannot connect to" if refused else "connection to"
            self._move_on(url)
            raise _transport_error(method, f"{what} {_origin(url)} failed: {err}", not refused, extra) from err
        except requests.exceptions.Timeout as err:
            raise _transport_error(method, f"{method} {url} timed out after {timeout}s", True, extra) from err
        except requests.exceptions.RequestException as err:
            raise _transport_error(method, f"{method} {url} failed: {err}", True, extra) from err
        if self.extensions is None:
            advertised = response.headers.get(EXTENSIONS_HEADER)
            if advertised is not None:
                self.extensions = frozenset(name.strip() for name in advertised.split(",") if name.strip())
        if response.status_code >= 400:
            raise _rpc_error(method, url, response)
        if not response.content:
            return None, response.headers
        try:
            return response.json(), response.headers
        except ValueError as err:
            raise DecodeError(f"{method} {url}: response is not JSON: {response.text[:200]!r}") from err

    def _prepare(self, method: str, url: str, data: Optional[bytes], headers: Dict[str, str]) -> requests.PreparedRequest:
        """A PreparedRequest built directly: our URLs are already encoded and we send no cookies,
        so Session.request's merging and re-parsing (most of its per-call cost) is skipped."""
        prepared = requests.PreparedRequest()
        prepared.method = method
        prepared.url = url
        merged: CaseInsensitiveDict[Any] = CaseInsensitiveDict(self.session.headers)
        merged.update(headers)
        if data is not None:
            merged["Content-Length"] = str(len(data))
        prepared.headers = merged
        prepared.body = data
        prepared.hooks = {"response": []}
        return prepared

    def _agent_token(self) -> Optional[str]:
        # Single flight: threads that find the token stale wait for one refresh. Two refreshes
        # with the same refresh token would present a rotated token, which revokes the session.
        with self._refresh_lock:
            with self._agent_lock:
                if self._access_token and self._access_expires > time.time() + 30:
                    return self._access_token
                if not self._refresh_token:
                    return self._access_token
                refresh = self._refresh_token
            session = self.request("POST", "/api/v1/agent/session/refresh", body={"refreshToken": refresh}, idempotent=False)
            with self._agent_lock:
                self._access_token = session["accessToken"]
                self._refresh_token = session["refreshToken"]
                self._access_expires = parse_timestamp(session["accessExpiresAt"]).timestamp()
                log.info("agent session refreshed; access token valid until %s", session["accessExpiresAt"])
                return self._access_token


def _check_address(address: str) -> None:
    """Refuse what is not an http(s)://host[:port][/path] URL, naming the form expected."""
    from urllib.parse import urlsplit

    try:
        split = urlsplit(address)
        port = split.port  # raises on a port that is not a number
    except ValueError:
        split, port = None, None
    if (
        split is None
        or split.scheme not in ("http", "https")
        or not split.hostname
        or split.netloc.endswith(":")
        or (port is not None and not 0 < port < 65536)
    ):
        raise ValueError(
            f"address {address!r} is not a service URL: give http://HOST:PORT (or https://), e.g. http://127.0.0.1:4100"
        )


def quote_segment(value: Any) -> str:
    """A path segment with everything but unreserved characters percent-encoded (ids may hold '/')."""
    return quote(str(value), safe="")
