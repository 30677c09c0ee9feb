"""What the service counts for ``/metrics``: plain counters and histograms in memory, per
replica, updated once the change they count has committed. The HTTP wing renders them in
Prometheus's text format (with ``prometheus_client``, the optional ``[metrics]`` extra)."""

from __future__ import annotations

import bisect
import threading
from typing import Dict, List, Optional, Tuple

from ..store import RunRecord
from ..store.base import COMMIT_BUCKETS

#: upper bounds (seconds) of the latency histograms' buckets (the store counts commits in the same)
LATENCY_BUCKETS = COMMIT_BUCKETS

Labels = Tuple[str, ...]


class Histogram:
    """Observations in fixed buckets (``LATENCY_BUCKETS``), per label set: counts, sum, total."""

    def __init__(self) -> None:
        self.series: Dict[Labels, Tuple[List[int], float, int]] = {}

    def observe(self, labels: Labels, value: float) -> None:
        """Count one observation of ``value`` in the series ``labels``."""
        buckets, total, count = self.series.get(labels) or ([0] * len(LATENCY_BUCKETS), 0.0, 0)
        at = bisect.bisect_left(LATENCY_BUCKETS, value)
        if at < len(buckets):
            buckets[at] += 1
        self.series[labels] = (buckets, total + value, count + 1)


def run_status(run: RunRecord) -> str:
    """A closed run's status in Temporal's words (as the SDK's ``WorkflowExecution.status``)."""
    if run.state != "failed":
        return {"succeeded": "COMPLETED", "continued_as_new": "CONTINUED_AS_NEW", "running": "RUNNING"}.get(
            run.state, run.state.upper()
        )
    failure = (run.result or {}).get("failure") if isinstance(run.result, dict) else None
    kind = failure.get("type") if isinstance(failure, dict) else None
    if kind == "TerminatedFailure" or (run.error or "").startswith("terminated"):
        return "TERMINATED"
    details = (failure.get("details") if isinstance(failure, dict) else None) or []
    if kind == "TimeoutFailure" and not any(isinstance(d, dict) and d.get("timeout_type") for d in details):
        return "TIMED_OUT"
    return "CANCELED" if kind == "CancelledFailure" else "FAILED"


class Metrics:
    """The service's counters (thread-safe); each method is called once its change committed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started: Dict[Labels, int] = {}  # (namespace, type)
        self.closed: Dict[Labels, int] = {}  # (namespace, type, status)
        self.lease_expiries: Dict[Labels, int] = {}  # (namespace, queue)
        self.timeouts: Dict[Labels, int] = {}  # (kind,)
        self.http: Dict[Labels, int] = {}  # (route, method, status)
        self.schedule_to_start = Histogram()  # (namespace, queue)
        self.http_latency = Histogram()  # (route,)

    def _add(self, counter: Dict[Labels, int], labels: Labels) -> None:
        with self._lock:
            counter[labels] = counter.get(labels, 0) + 1

    def run_started(self, run: RunRecord) -> None:
        """Count a run started."""
        self._add(self.started, (run.namespace, run.type))

    def run_closed(self, run: RunRecord) -> None:
        """Count a run ended, by its status."""
        self._add(self.closed, (run.namespace, run.type, run_status(run)))

    def lease_expired(self, namespace: str, queue: str) -> None:
        """Count a lease that ran out on the queue."""
        self._add(self.lease_expiries, (namespace, queue))

    def timed_out(self, kind: str) -> None:
        """Count an activity timeout of this kind."""
        self._add(self.timeouts, (kind,))

    def leased(self, namespace: str, queue: str, waited: float) -> None:
        """Observe how long a task waited on the queue before an agent leased it."""
        with self._lock:
            self.schedule_to_start.observe((namespace, queue), max(0.0, waited))

    def request(self, route: Optional[str], method: str, status: int, seconds: float) -> None:
        """Count one HTTP request by route, method and status, and observe its duration."""
        labels = (route or "unmatched", method, str(status))
        with self._lock:
            self.http[labels] = self.http.get(labels, 0) + 1
            self.http_latency.observe((route or "unmatched",), seconds)

    def snapshot(self) -> "Metrics":
        """A consistent copy to render."""
        copy = Metrics()
        with self._lock:
            for name in ("started", "closed", "lease_expiries", "timeouts", "http"):
                setattr(copy, name, dict(getattr(self, name)))
            for name in ("schedule_to_start", "http_latency"):
                histogram = Histogram()
                histogram.series = {k: (list(b), s, c) for k, (b, s, c) in getattr(self, name).series.items()}
                setattr(copy, name, histogram)
        return copy
