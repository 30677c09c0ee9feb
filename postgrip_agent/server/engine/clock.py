"""Time for the local runtime service: the real clock, or one that tests move by hand."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import List, Optional, Tuple

from ...types import format_timestamp


class Clock:
    """Seconds since the epoch, and a way to wait for a moment on this clock."""

    def now(self) -> float:
        """Seconds since the epoch (wall time)."""
        return time.time()

    def wait_until(self, wake: threading.Event, deadline: Optional[float]) -> None:
        """Block until ``deadline`` (on this clock) passes or ``wake`` is set."""
        timeout = None if deadline is None else max(0.0, deadline - self.now())
        wake.wait(timeout)

    def subscribe(self, wake: threading.Event) -> None:
        """Register an event to set whenever this clock jumps (only manual clocks jump)."""


class ManualClock(Clock):
    """A clock that only moves when told to; the service's ticker wakes on every move."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = start
        self._lock = threading.Lock()
        self._listeners: List[threading.Event] = []

    def now(self) -> float:
        """The clock's current time, as last set."""
        with self._lock:
            return self._now

    def set(self, when: float, *, wake: bool = True) -> None:
        """Move the clock to ``when``; ``wake=False`` moves it without waking the ticker (nothing
        fell due: a time-skipping environment letting time run while an activity works)."""
        with self._lock:
            self._now = when
            listeners = list(self._listeners) if wake else []
        for event in listeners:
            event.set()

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` forward and wake what waits on it."""
        self.set(self.now() + seconds)

    def wait_until(self, wake: threading.Event, deadline: Optional[float]) -> None:
        if deadline is not None and deadline <= self.now():
            return
        # Real time never moves this clock; a jump (or new work) sets ``wake``.
        wake.wait(1.0)

    def subscribe(self, wake: threading.Event) -> None:
        with self._lock:
            self._listeners.append(wake)


def ts(value: float) -> str:
    """A stored instant (seconds since the epoch) as the contract writes it: RFC 3339, UTC,
    milliseconds; the same text as ``format_timestamp(datetime.fromtimestamp(value, utc))``."""
    if not 0 <= value < _MAX_FAST:
        return format_timestamp(datetime.fromtimestamp(value, tz=timezone.utc))
    seconds = int(value)
    micros = round((value - seconds) * 1e6)  # half-even, as datetime.fromtimestamp rounds
    if micros >= 1_000_000:
        seconds, micros = seconds + 1, micros - 1_000_000
    second, prefix = _last_second
    if second != seconds:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _remember_second(seconds, prefix)
    return f"{prefix}.{micros // 1000:03d}Z"


#: instants up to the year 9999 take the fast path
_MAX_FAST = 253402300799.0
#: the last whole second formatted, and its text (most instants in a burst share one)
_last_second: Tuple[int, str] = (-1, "")


def _remember_second(seconds: int, prefix: str) -> None:
    global _last_second
    _last_second = (seconds, prefix)
