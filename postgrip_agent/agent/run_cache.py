"""The agent's cache of live workflow runs (sticky execution).

A run's instance stays in memory between activations, so the next activation applies only
the events that came since, instead of replaying the run from the top: the cost of a step
does not grow with the run's length. Each entry has a lock: one activation (or query) at a
time touches an instance. Eviction (least recently used beyond ``size``) tears the instance
down without side effects; an entry in use when evicted is torn down by its user once done.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Optional

from .._runtime.instance import WorkflowInstance


class LiveRun:
    """One cached run: its instance, and the lock its activations take."""

    def __init__(self, instance: Optional[WorkflowInstance] = None) -> None:
        self.instance = instance
        self.lock = threading.Lock()
        #: evicted while in use: whoever holds the lock tears the instance down when done
        self.dropped = False

    def discard(self) -> None:
        """Tear the instance down (call with the lock held)."""
        instance, self.instance = self.instance, None
        if instance is not None:
            instance.teardown()


class LiveRunCache:
    def __init__(self, size: int) -> None:
        if size < 0:
            raise ValueError("max_cached_workflows must be >= 0 (0 replays every activation)")
        self.size = size
        self._runs: "OrderedDict[str, LiveRun]" = OrderedDict()
        self._lock = threading.Lock()
        #: activations that continued a live instance, and those that replayed from history
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._runs)

    def entry(self, run_id: str) -> LiveRun:
        """The run's entry (a new, empty one on a miss), marked most recently used."""
        with self._lock:
            entry = self._runs.get(run_id)
            if entry is None:
                entry = LiveRun()
                if self.size:
                    self._runs[run_id] = entry
            if self.size:
                self._runs.move_to_end(run_id)
            evicted = self._over_size()
        for old in evicted:
            self._release(old)
        return entry

    def peek(self, run_id: str) -> Optional[LiveRun]:
        with self._lock:
            return self._runs.get(run_id)

    def forget(self, run_id: str, entry: LiveRun) -> None:
        """Drop the run's entry, if it is still ``entry`` (a newer one stays)."""
        with self._lock:
            if self._runs.get(run_id) is entry:
                del self._runs[run_id]

    def clear(self) -> None:
        with self._lock:
            entries = list(self._runs.values())
            self._runs.clear()
        for entry in entries:
            self._release(entry)

    def _over_size(self) -> "list[LiveRun]":
        evicted = []
        while len(self._runs) > self.size:
            _, entry = self._runs.popitem(last=False)
            evicted.append(entry)
        return evicted

    @staticmethod
    def _release(entry: LiveRun) -> None:
        # never wait for another run's lock here (two evictions could wait on each other)
        if entry.lock.acquire(blocking=False):
            try:
                entry.discard()
            finally:
                entry.lock.release()
        else:
            entry.dropped = True
