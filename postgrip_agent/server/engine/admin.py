"""Namespaces, the readiness statistics and compaction: the engine's administration."""

from __future__ import annotations

from typing import Dict, List, Tuple

from ... import types as wt
from . import limits
from ..errors import AlreadyExists, BadRequest
from ..store import NamespaceRecord
from .core import EngineState
from .timekeeping import Timekeeping


class Admin:
    """What an operator asks of the engine: namespaces, statistics, compaction."""

    def __init__(self, state: EngineState, time: Timekeeping) -> None:
        self.state, self.time = state, time
        self.store, self.clock = state.store, state.clock

    def list_namespaces(self) -> List[NamespaceRecord]:
        """Every namespace."""
        with self.state.serial:
            return self.store.list_namespaces()

    def create_namespace(self, req: wt.CreateNamespaceRequest) -> NamespaceRecord:
        """Create a namespace (a 400 for a bad name, a 409 if it exists)."""
        name = req.name.strip()
        if not name or not all(c.isalnum() or c in "._-" for c in name):
            raise BadRequest("namespace name must be non-empty and use only letters, digits, '.', '_' or '-'")
        with self.state.operation():
            self.store.lock_name("namespace", name)  # two creating one name at once: the second is refused
            if self.store.get_namespace(name) is not None:
                raise AlreadyExists(f"namespace {name} already exists")
            now = self.clock.now()
            record = NamespaceRecord(name, now, now, tenant_id=req.tenant_id)
            self.store.insert_namespace(record)
            return record

    def ready_stats(self) -> Dict[str, int]:
        """Task and run counts by state, for ``/readyz``."""
        with self.state.serial:
            stats = {f"tasks_{state}": 0 for state in wt.TASK_STATES}
            stats.update({f"tasks_{k}": v for k, v in self.store.count_tasks_by_state().items()})
            stats.update({f"workflows_{state}": 0 for state in wt.WORKFLOW_STATES})
            stats.update({f"workflows_{k}": v for k, v in self.store.count_runs_by_state().items()})
            stats["namespaces"] = len(self.store.list_namespaces())
            stats["ticker_lag_ms"] = int(self.time.tick_lag() * 1000)
            stats["ticker_last_tick_unix_ms"] = int((self.time.last_tick_at or 0) * 1000)
            stats["time_items_retrying"] = len(self.time.item_failures)
            stats["time_items_quarantined"] = self.time.quarantined
            stats["store_commits"] = self.store.commits
            stats["store_round_trips"] = self.store.round_trips
            stats["store_statements"] = self.store.statements
            stats.update(self.store.durability())
        with self.state.lock:
            stats["agent_polls_waiting"] = sum(len(waiting) for waiting in self.state.pollers.values())
        return stats

    def long_polls_waiting(self) -> int:
        """Callers held in a long-poll on a run or a task right now (not agents' polls)."""
        return self.state.run_waiters.waiting + self.state.task_waiters.waiting

    def compact(self, retention_seconds: int) -> Tuple[int, int]:
        """Drop finished runs and tasks last updated ``retention_seconds`` ago or earlier; (tasks, runs) removed."""
        limits.check_int("retention_seconds", retention_seconds, 0, limits.MAX_DURATION_SECONDS)
        with self.state.operation():
            return self.store.compact(self.clock.now() - retention_seconds)
