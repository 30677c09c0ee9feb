"""One thread that renews the lease of every task this agent is working on."""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Dict, Optional

import attrs

from .lane import AgentLane, TaskGone

log = logging.getLogger("postgrip_agent.agent")

#: the reason on_lost gets when the local deadline (not the service) ended the attempt
LOCAL_DEADLINE = "its start_to_close_timeout passed"
#: the reason on_lost gets when the agent stops and gives the task back (or leaves its lease to lapse)
HANDED_BACK = "the agent is shutting down; the task was handed back"


@attrs.define
class _Lease:
    task_id: str
    interval: float
    next_at: float
    #: called with the service's reason when the lease is gone (the attempt ended, or was cancelled)
    on_lost: Optional[Callable[[str], None]]
    #: monotonic moment at which on_lost fires anyway (an activity's start-to-close, enforced here too)
    deadline: Optional[float] = None
    #: the lease length each renewal asks for (None: the task's own)
    lease_seconds: Optional[float] = None


class LeaseKeeper:
    def __init__(self, lane: AgentLane) -> None:
        self._lane = lane
        self._leases: Dict[str, _Lease] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        #: when the keeper's loop next looks at the leases by itself (monotonic)
        self._next_look = float("inf")
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="postgrip-lease-keeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def track(
        self,
        task_id: str,
        lease_seconds: float,
        *,
        on_lost: Optional[Callable[[str], None]] = None,
        deadline_seconds: Optional[float] = None,
        renew_as: Optional[float] = None,
    ) -> None:
        """Renew the task's lease until released (the lease is liveness; timeouts are the service's).

        ``deadline_seconds``: call ``on_lost`` then even before the service says so, so a timed-out
        attempt stops here before its retry can start. ``renew_as``: the lease length the agent
        wants each renewal to set (the first renewal comes within a third of the shorter lease, so
        work that finishes sooner costs no renewal at all)."""
        interval = max(0.2, min(lease_seconds, renew_as or lease_seconds) / 3.0)
        now = time.monotonic()
        deadline = None if deadline_seconds is None else now + deadline_seconds
        with self._lock:
            self._leases[task_id] = _Lease(task_id, interval, now + interval, on_lost, deadline, renew_as)
            # wake the keeper only when this lease needs it sooner than it will look anyway: with
            # hundreds of activities in flight, a wake per start would rescan every lease each time
            needed_at = now + interval if deadline is None else min(now + interval, deadline)
            sooner = needed_at < self._next_look
        if sooner:
            self._wake.set()

    def renewed(self, task_id: str) -> None:
        """The task heartbeated by itself; push its next renewal back."""
        with self._lock:
            lease = self._leases.get(task_id)
            if lease is not None:
                lease.next_at = time.monotonic() + lease.interval

    def release(self, task_id: str) -> None:
        with self._lock:
            self._leases.pop(task_id, None)

    def hand_back(self, reason: str = HANDED_BACK) -> int:
        """Give every lease still held back to the service (where it can take them: else they
        lapse), then stop the work under them (an activity is interrupted as its lease were lost).
        Returns how many were held."""
        with self._lock:
            held = list(self._leases.values())
            self._leases.clear()
        for lease in held:
            try:
                given = self._lane.give_back(lease.task_id)
                log.info(
                    "task %s %s",
                    lease.task_id,
                    "handed back to the service" if given else "left to lapse (the service cannot take a lease back)",
                )
            except Exception as err:  # gone already, or the service is unreachable: it lapses anyway
                log.warning("handing back task %s failed: %s; its lease will lapse", lease.task_id, err)
            self._notify_lost(lease, reason)
        return len(held)

    @staticmethod
    def _notify_lost(lease: _Lease, reason: str) -> None:
        if lease.on_lost is None:
            return
        try:
            lease.on_lost(reason)
        except Exception:  # the keeper must outlive any callback
            log.exception("handling the lost lease of task %s failed", lease.task_id)

    def _loop(self) -> None:
        while not self._stopped.is_set():
            now = time.monotonic()
            with self._lock:
                due = [lease for lease in self._leases.values() if lease.next_at <= now]
                for lease in due:
                    lease.next_at = now + lease.interval
                expired = [lease for lease in self._leases.values() if lease.deadline is not None and lease.deadline <= now]
                for lease in expired:
                    lease.deadline = None
                upcoming = min(
                    [lease.next_at for lease in self._leases.values()]
                    + [lease.deadline for lease in self._leases.values() if lease.deadline is not None],
                    default=now + 60,
                )
                self._next_look = upcoming
                self._wake.clear()
            for lease in expired:
                self._notify_lost(lease, LOCAL_DEADLINE)
            for lease in due:
                try:
                    self._lane.heartbeat(lease.task_id, stage="lease", lease_seconds=lease.lease_seconds)
                except TaskGone as err:
                    log.info("task %s lost its lease: %s", lease.task_id, err)
                    self.release(lease.task_id)
                    self._notify_lost(lease, str(err))
                except Exception as err:  # transient: try again next interval
                    log.warning("renewing the lease of task %s failed: %s", lease.task_id, err)
            self._wake.wait(max(0.0, upcoming - time.monotonic()))
