"""``GET /metrics``: the service's counters and gauges in Prometheus's text format, rendered by
``prometheus_client`` (the optional ``[metrics]`` extra; without it the route says how to get it).

Counters are this replica's since it started (scrape each replica; sum them); gauges read from
the database (backlog) are the same on every replica of one database (take their max)."""

from __future__ import annotations

from typing import Any, Callable, Iterator, List, Tuple

from ..engine import Engine
from ..engine.metrics import LATENCY_BUCKETS, Histogram
from ..errors import NotImplementedService
from .request import Request, Response

Route = Tuple[str, str, str, Callable[[Request], Response]]


def _histogram(family: Any, histogram: Histogram) -> Any:
    for labels, (buckets, total, count) in sorted(histogram.series.items()):
        cumulative, running = [], 0
        for bound, n in zip(LATENCY_BUCKETS, buckets):
            running += n
            cumulative.append((repr(bound), running))
        cumulative.append(("+Inf", count))
        family.add_metric(list(labels), cumulative, total)
    return family


def _collector(engine: Engine) -> Any:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

    class Collector:
        def collect(self) -> Iterator[Any]:
            seen = engine.state.metrics.snapshot()
            counters: List[Tuple[str, str, List[str], Any]] = [
                ("postgrip_workflows_started", "Workflow runs started", ["namespace", "workflow_type"], seen.started),
                (
                    "postgrip_workflows_closed",
                    "Workflow runs closed, by status",
                    ["namespace", "workflow_type", "status"],
                    seen.closed,
                ),
                (
                    "postgrip_lease_expiries",
                    "Task leases that lapsed (an agent stopped renewing)",
                    ["namespace", "queue"],
                    seen.lease_expiries,
                ),
                (
                    "postgrip_timeouts",
                    "Timeouts, by kind (an activity's START_TO_CLOSE... or WORKFLOW_RUN)",
                    ["kind"],
                    seen.timeouts,
                ),
                (
                    "postgrip_http_requests",
                    "HTTP requests answered, by route, method and status",
                    ["route", "method", "status"],
                    seen.http,
                ),
            ]
            for name, text, labels, values in counters:
                family = CounterMetricFamily(name, text, labels=labels)
                for key, value in sorted(values.items()):
                    family.add_metric(list(key), value)
                yield family
            yield _histogram(
                HistogramMetricFamily(
                    "postgrip_schedule_to_start_seconds",
                    "How long a task waited for an agent, from queued to leased",
                    labels=["namespace", "queue"],
                ),
                seen.schedule_to_start,
            )
            yield _histogram(
                HistogramMetricFamily(
                    "postgrip_http_request_seconds",
                    "Time to answer an HTTP request (long-polls include their wait)",
                    labels=["route"],
                ),
                seen.http_latency,
            )
            backlog = GaugeMetricFamily(
                "postgrip_task_backlog", "Tasks queued, waiting for an agent", labels=["namespace", "queue"]
            )
            with engine.state.serial:
                queued = engine.store.backlog()
            for (namespace, queue), count in sorted(queued.items()):
                backlog.add_metric([namespace, queue], count)
            yield backlog
            with engine.state.lock:
                waiting = sum(len(polls) for polls in engine.state.pollers.values())
            yield GaugeMetricFamily("postgrip_polls_waiting", "Agent long-polls this replica holds now", value=waiting)
            yield GaugeMetricFamily("postgrip_ticker_lag_seconds", "How late the ticker's last tick was", value=engine.tick_lag())
            store = engine.store
            yield CounterMetricFamily("postgrip_store_commits", "Write transactions this replica committed", value=store.commits)
            commit = HistogramMetricFamily("postgrip_store_commit_seconds", "Time a write transaction's commit took")
            commit.add_metric(
                [],
                [
                    *[(repr(b), n) for b, n in zip(LATENCY_BUCKETS, _cumulative(store.commit_buckets))],
                    ("+Inf", store.commit_count),
                ],
                store.commit_seconds,
            )
            yield commit

    return Collector()


def _cumulative(buckets: List[int]) -> List[int]:
    out, running = [], 0
    for n in buckets:
        running += n
        out.append(running)
    return out


def metrics_routes(engine: Engine, lane: str) -> List[Route]:
    """``GET /metrics`` (needs the token when the service has one, as Prometheus's bearer_token sends)."""
    registry: List[Any] = []

    def metrics(_: Request) -> Response:
        try:
            from prometheus_client import CollectorRegistry, generate_latest
            from prometheus_client.exposition import CONTENT_TYPE_LATEST
        except ImportError:
            raise NotImplementedService("/metrics needs prometheus_client: pip install 'postgrip-agent-sync[metrics]'") from None
        if not registry:
            own = CollectorRegistry(auto_describe=False)
            own.register(_collector(engine))
            registry.append(own)
        return 200, generate_latest(registry[0]), {"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"}

    return [("GET", "/metrics", lane, metrics)]
