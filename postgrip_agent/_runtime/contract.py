"""What the user-facing workflow API (``workflow.py``, ``_scopes.py``) may use of the run whose code
is running: the contract between them and the runtime, declared once (the runtime's
``WorkflowInstance`` satisfies it; mypy checks both sides against it)."""

from __future__ import annotations

import random
import uuid
from datetime import datetime
from typing import Any, Callable, Dict, List, Optional, Protocol, Tuple

from ..converter import DataConverter
from .bodies import Body, Scope
from .intercept import Interception
from .futures import WorkflowFuture
from .history import History
from .records import WorkflowInfo


class RunningWorkflow(Protocol):
    """The run a ``workflow.*`` call acts on."""

    #: ids, type, queue and attempt of the run; the history it replays; its deterministic clock
    info: WorkflowInfo
    history: History
    now: datetime
    #: how its arguments and results cross the wire (typed values, codecs); its interceptors' chains
    converter: DataConverter
    interception: Interception
    #: a query or update answered from a replay: nothing may be changed
    query_mode: bool
    #: the seq of the event being applied, and of the last one an earlier activation applied
    current_seq: int
    live_after_seq: int
    #: the run was asked to cancel
    cancel_requested: bool
    #: the start-to-close timeout of activities that name none (the Agent's; None: no deadline)
    default_start_to_close_ms: Optional[int]
    #: (child workflow id, reason) of children this activation asks to cancel
    child_cancels: List[Tuple[str, str]]
    #: a dropped instance is being torn down
    tearing_down: bool
    #: patch id -> whether this run takes the patched branch; the service records markers
    patches: Dict[str, bool]
    markers: bool

    @property
    def issued(self) -> int:
        """How many commands the workflow has issued so far."""

    @property
    def current_body(self) -> Optional[Body]:
        """The body whose code is running now."""

    def is_replaying(self) -> bool:
        """Re-running what an earlier activation did."""

    def shielded(self) -> bool:
        """The running body is inside a non-cancellable scope."""

    def cancelled_here(self) -> Optional[str]:
        """A cancellation the running body has not seen yet."""

    def issue(
        self,
        kind: str,
        name: Any,
        description: str,
        request: Dict[str, Any],
        on_cancel: Optional[Callable[[WorkflowFuture[Any], BaseException], None]] = None,
    ) -> WorkflowFuture[Any]:
        """Issue a command (an activity, a child, ...); its future resolves from history."""

    def base_payload(self) -> Dict[str, Any]:
        """The ids every command's payload carries."""

    def emit_milestone(self, event: Dict[str, Any]) -> None:
        """Record a milestone event (not while replaying)."""

    def condition(self, predicate: Callable[[], bool], timeout_ms: Optional[int]) -> WorkflowFuture[bool]:
        """A future that resolves when ``predicate`` holds (False after the timeout)."""

    def timer(self, duration_ms: int) -> WorkflowFuture[None]:
        """A durable timer."""

    def set_handler(
        self, kind: str, name: str, handler: Optional[Callable[..., Any]], validator: Optional[Callable[..., Any]]
    ) -> None:
        """Register (or remove) a signal, query or update handler."""

    def random(self) -> random.Random:
        """The run's deterministic random source."""

    def uuid4(self) -> uuid.UUID:
        """A deterministic UUID."""

    def start_body(self, body: Any, name: str) -> WorkflowFuture[Any]:
        """Drive a coroutine or generator alongside the run's others."""

    def cancel_scope(self, scope: Scope, reason: str) -> None:
        """Cancel the work started in ``scope``."""

    def left_scope(self, body: Body) -> None:
        """A body left a scope."""
