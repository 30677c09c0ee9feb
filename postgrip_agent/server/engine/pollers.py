"""Which agents poll which queues, for which task types: kept from their polls, so a queue can be
described (``GET /api/v1/task-queues/{queue}``) and a run no agent would take can be warned about.

Every poll updates memory; the store is written at most every ``NOTE_EVERY`` seconds per agent
and queue (and when its types change), so other replicas, and this one after a restart, know too.
"""

from __future__ import annotations

import logging
import threading
from typing import Dict, List, Optional, Sequence, Tuple

from ..store import PollerRecord
from .core import EngineState

log = logging.getLogger("postgrip_agent.server.engine")

#: a poller's row is rewritten at most this often (its types changing rewrites it at once)
NOTE_EVERY = 10.0
#: by default, starting a run of a type no agent polled for within this long gets a warning
UNPOLLED_WARNING_AFTER = 300.0

Key = Tuple[str, str, str]


def _takes(types: Sequence[str], task_type: str) -> bool:
    return not types or task_type.startswith(tuple(types))


class Pollers:
    """Which agents poll which queues for which task types, and the warning for starts no agent polls for."""

    def __init__(self, state: EngineState, window: float = UNPOLLED_WARNING_AFTER) -> None:
        self.state = state
        #: a run of a type no agent polled for within ``window`` seconds is warned about (0: never)
        self.window = window
        self.started_at = state.clock.now()
        self._lock = threading.Lock()
        self._seen: Dict[Key, Tuple[List[str], float]] = {}
        self._written: Dict[Key, Tuple[List[str], float]] = {}

    def note(self, namespace: str, queue: str, agent_id: str, types: Sequence[str]) -> None:
        """An agent is polling (called on every poll: cheap unless the row is due a rewrite). An
        agent's lanes poll for different types: its row holds them all (none: every type)."""
        key, now = (namespace, queue, agent_id), self.state.clock.now()
        with self._lock:
            before = self._seen.get(key)
            every = not types or (before is not None and not before[0])
            kinds = [] if every else sorted(set(types) | set(before[0] if before else ()))
            self._seen[key] = (kinds, now)
            written = self._written.get(key)
            if written is not None and written[0] == kinds and now - written[1] < NOTE_EVERY:
                return
            self._written[key] = (kinds, now)
        try:
            with self.state.operation():
                self.state.store.note_poller(PollerRecord(namespace, queue, agent_id, kinds, now))
                self.state.store.commit_lazily()  # lost in a crash, the next poll writes it again
        except Exception:  # what a queue looks like must never fail a poll
            log.warning("could not record that agent %s polls queue %s", agent_id, queue, exc_info=True)
            with self._lock:
                self._written.pop(key, None)

    def of_queue(self, namespace: str, queue: Optional[str] = None) -> List[PollerRecord]:
        """The agents that polled (the stored rows, with this replica's newer sightings)."""
        with self.state.serial:
            stored = {(p.namespace, p.queue, p.agent_id): p for p in self.state.store.queue_pollers(namespace, queue)}
        with self._lock:
            for (ns, q, agent), (kinds, seen) in self._seen.items():
                if ns == namespace and (queue is None or q == queue):
                    known = stored.get((ns, q, agent))
                    if known is None or known.last_seen < seen:
                        stored[(ns, q, agent)] = PollerRecord(ns, q, agent, list(kinds), seen)
        return sorted(stored.values(), key=lambda p: (p.queue, p.agent_id))

    def unpolled(self, namespace: str, queue: str, task_type: str) -> Optional[str]:
        """A warning when no agent polled the queue for ``task_type`` within the window (None when
        one did, when warnings are off, or while the service is younger than its window's grace)."""
        now = self.state.clock.now()
        if self.window <= 0 or now - self.started_at < min(self.window, 10.0):
            return None  # agents started with the service may not have polled yet
        fresh = now - self.window
        with self._lock:
            if any(
                ns == namespace and q == queue and seen >= fresh and _takes(kinds, task_type)
                for (ns, q, _), (kinds, seen) in self._seen.items()
            ):
                return None
        if any(p.last_seen >= fresh and _takes(p.types, task_type) for p in self.of_queue(namespace, queue)):
            return None
        return (
            f"no agent has polled queue {queue!r} for {task_type} in the last {self.window:g} s: the run waits "
            f"until one does (is an agent with it registered running on that queue? postgrip-agent task-queue "
            f"describe {queue})"
        )
