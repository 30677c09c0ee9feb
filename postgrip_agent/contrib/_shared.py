"""What the framework integrations share: a client made on first use, again after a fork."""

from __future__ import annotations

import os
import threading
from typing import Any, Optional

from ..client import Client
from ..connection import RetryOptions

#: how long a framework's client retries a call the service did not answer (a web request
#: should fail soon rather than hang for the SDK's default 30 s)
DEFAULT_RETRY_SECONDS = 5.0


class LazyClient:
    """A Client created on first use, not at import or app start-up: the app starts while the
    service is down, and the first call that needs it raises a clear TransportError naming the
    address. A process forked after that (a pre-fork server) makes its own on first use instead
    of sharing the parent's connections."""

    def __init__(
        self,
        address: Optional[str] = None,
        *,
        token: Optional[str] = None,
        namespace: str = "default",
        task_queue: str = "default",
        retry_seconds: float = DEFAULT_RETRY_SECONDS,
        **connection_options: Any,
    ) -> None:
        self.address = address or os.environ.get("POSTGRIP_AGENTORCHESTRATOR_URL")
        self._options = dict(
            token=token,
            namespace=namespace,
            default_task_queue=task_queue,
            retry=RetryOptions(max_elapsed=float(retry_seconds)),
            **connection_options,
        )
        self._client: Optional[Client] = None
        self._pid = 0
        self._lock = threading.Lock()

    def get(self) -> Client:
        pid = os.getpid()
        client = self._client
        if client is not None and self._pid == pid:
            return client
        with self._lock:
            if self._client is None or self._pid != pid:
                self._client = Client.connect(self.address, check_health=False, **self._options)
                self._pid = pid
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None and self._pid == os.getpid():
                self._client.close()
            self._client = None
