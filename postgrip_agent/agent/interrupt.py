"""Interrupting an activity's thread when the service ends its attempt (timeout, cancellation).

A ``def`` activity that never calls ``activity.heartbeat()`` would otherwise run on after its
attempt was failed. As in Temporal's Python SDK, the exception is delivered into the thread
with ``PyThreadState_SetAsyncExc``: it is raised at the next Python bytecode the thread runs,
so code blocked inside a C call (a socket read without a timeout, ``time.sleep``) sees it
only when that call returns. Such code should use timeouts or heartbeat.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Optional, Type

from ..errors import CancelledFailure


class ActivityInterrupted(CancelledFailure):
    """Raised inside an activity's thread when the service ended its attempt."""

    def __init__(self, message: str = "the service ended this activity attempt (timed out or cancelled)") -> None:
        super().__init__(message)


def _set_async_exc(thread_id: int, exc_type: Optional[Type[BaseException]]) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exc_type) if exc_type else None)


class ThreadGuard:
    """Tracks the thread running one activity so it can be interrupted exactly once, and
    never after the activity has left it (pool threads go on to run other tasks)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread: Optional[int] = None
        self._fired = False

    def enter(self) -> None:
        with self._lock:
            self._thread = threading.get_ident()

    def leave(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is not None and self._fired:
                _set_async_exc(thread, None)  # an interrupt not yet raised must not hit the next task

    def interrupt(self) -> bool:
        """Raise ActivityInterrupted in the activity's thread; False when it already left."""
        with self._lock:
            if self._thread is None or self._fired:
                return False
            self._fired = True
            _set_async_exc(self._thread, ActivityInterrupted)
            return True
