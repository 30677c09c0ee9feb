"""A lean requests transport adapter for plain-HTTP services reached without a proxy.

requests' own adapter (urllib3 and its pool) costs several times a loopback round trip per
call. This adapter, mounted on requests' extension point, keeps one ``http.client``
connection per thread and host, checks a kept-alive connection is still open before reusing
it (the service closes idle ones), and returns ordinary ``requests.Response`` objects. Errors
are requests' exceptions; a refused connection says "Connection refused" so callers know the
request never left. HTTPS and proxies stay with requests' own adapter.
"""

from __future__ import annotations

import http.client
import socket
import threading
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from ._sockets import readable

Timeout = Union[None, float, Tuple[Optional[float], Optional[float]]]


class LeanHTTPAdapter(BaseAdapter):
    def __init__(self) -> None:
        super().__init__()
        self._local = threading.local()
        self._all: List[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def _connection(self, host: str, port: int, timeout: Optional[float]) -> Tuple[http.client.HTTPConnection, bool]:
        """A kept-alive connection for this thread (True when it was reused)."""
        pool: Dict[Tuple[str, int], http.client.HTTPConnection] = getattr(self._local, "pool", None) or {}
        self._local.pool = pool
        conn = pool.get((host, port))
        if conn is not None and conn.sock is not None and _dropped(conn.sock):
            conn.close()
        if conn is None:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
            pool[(host, port)] = conn
            with self._lock:
                self._all.append(conn)
        reused = conn.sock is not None
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn, reused

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Timeout = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Optional[Mapping[str, str]] = None,
    ) -> requests.Response:
        read_timeout = timeout[1] if isinstance(timeout, tuple) else timeout
        split = urlsplit(request.url or "")
        path = (split.path or "/") + (f"?{split.query}" if split.query else "")
        conn, reused = self._connection(split.hostname or "localhost", split.port or 80, read_timeout)
        try:
            if conn.sock is None:
                try:
                    conn.connect()
                except socket.timeout as err:
                    raise requests.exceptions.ConnectTimeout(f"connect to {split.netloc} timed out: {err}") from err
                except socket.gaierror as err:  # the name does not resolve: nothing was sent
                    raise requests.exceptions.ConnectionError(
                        f"NewConnectionError: cannot resolve host {split.hostname!r} (DNS): {err}"
                    ) from err
                except ConnectionRefusedError as err:
                    raise requests.exceptions.ConnectionError(f"NewConnectionError: Connection refused: {err}") from err
                except OSError as err:  # unreachable, no route: nothing was sent
                    raise requests.exceptions.ConnectionError(f"NewConnectionError: cannot connect: {err}") from err
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[attr-defined]
            body = request.body.encode() if isinstance(request.body, str) else request.body
            conn.request(request.method or "GET", path, body=body, headers=dict(request.headers))
            raw = conn.getresponse()
            content = raw.read()
        except requests.exceptions.RequestException:
            conn.close()
            raise
        except socket.timeout as err:
            conn.close()
            raise requests.exceptions.ReadTimeout(f"{request.method} {request.url} timed out: {err}") from err
        except (http.client.HTTPException, OSError) as err:
            conn.close()
            raise requests.exceptions.ConnectionError(f"connection to {split.netloc} broken: {err!r}") from err
        response = requests.Response()
        response.status_code = raw.status
        response.reason = raw.reason
        response.headers = CaseInsensitiveDict(raw.getheaders())
        response._content = content
        response.encoding = "utf-8"
        response.url = request.url or ""
        response.request = request
        response.connection = self  # type: ignore[assignment]
        if raw.will_close:
            conn.close()
        return response

    def close(self) -> None:
        with self._lock:
            connections, self._all = self._all, []
        for conn in connections:
            conn.close()


def _dropped(sock: socket.socket) -> bool:
    """True when the peer closed (or sent unasked bytes on) an idle kept-alive connection."""
    try:
        return readable(sock, 0)
    except (OSError, ValueError):
        return True
