"""Agent metrics for Prometheus (``pip install 'postgrip-agent-sync[metrics]'``)::

    from prometheus_client import start_http_server
    from postgrip_agent.contrib.prometheus import AgentMetrics

    metrics = AgentMetrics()                    # registers in prometheus_client's default registry
    agent = Agent(client, task_queue="orders", workflows=[...], activities=[...], metrics=metrics)
    start_http_server(9464)                     # or expose the registry from your web app

One AgentMetrics serves any number of Agents (each is labelled by its identity); give it a
``registry`` of your own to keep it out of the default one.
"""

from __future__ import annotations

import threading
from typing import Any, Iterator, List, Optional

try:
    from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
except ImportError as err:  # pragma: no cover - the optional extra
    raise ImportError(
        "postgrip_agent.contrib.prometheus needs prometheus_client: pip install 'postgrip-agent-sync[metrics]'"
    ) from err

__all__ = ["AgentMetrics"]

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class AgentMetrics:
    """Poll latency, task execution latency and failures (histograms and counters), and each
    attached Agent's slots in use, cached runs and cache hits/misses (read when scraped)."""

    def __init__(self, registry: Optional[CollectorRegistry] = None) -> None:
        registry = registry if registry is not None else REGISTRY
        self._agents: List[Any] = []
        self._lock = threading.Lock()
        self.poll_seconds = Histogram(
            "postgrip_agent_poll_seconds",
            "Time an agent's poll took (long-polls wait for work)",
            ["lane", "outcome"],
            buckets=_BUCKETS,
            registry=registry,
        )
        self.task_seconds = Histogram(
            "postgrip_agent_task_seconds",
            "Time an agent spent running a task",
            ["lane", "task_type"],
            buckets=_BUCKETS,
            registry=registry,
        )
        self.task_failures = Counter(
            "postgrip_agent_task_failures",
            "Tasks that failed (an activity raised, or the agent could not run the task)",
            ["lane", "task_type"],
            registry=registry,
        )
        registry.register(self)

    def attach(self, agent: Any) -> None:
        with self._lock:
            self._agents.append(agent)

    def polled(self, lane: str, seconds: float, got_task: bool) -> None:
        self.poll_seconds.labels(lane, "task" if got_task else "empty").observe(seconds)

    def ran(self, lane: str, task_type: str, seconds: float, failed: bool) -> None:
        self.task_seconds.labels(lane, task_type).observe(seconds)
        if failed:
            self.task_failures.labels(lane, task_type).inc()

    def collect(self) -> Iterator[Any]:
        """The attached agents' state, as gauges and counters (prometheus_client calls this)."""
        in_flight = GaugeMetricFamily("postgrip_agent_slots_in_use", "Tasks an agent runs now", labels=["agent", "lane"])
        slots = GaugeMetricFamily("postgrip_agent_slots", "Tasks an agent may run at once", labels=["agent", "lane"])
        cached = GaugeMetricFamily("postgrip_agent_cached_runs", "Workflow runs kept live in memory", labels=["agent"])
        hits = CounterMetricFamily("postgrip_agent_cache_hits", "Activations served by a live run", labels=["agent"])
        misses = CounterMetricFamily("postgrip_agent_cache_misses", "Activations that replayed the run", labels=["agent"])
        with self._lock:
            agents = list(self._agents)
        for agent in agents:
            stats = agent.stats()
            for lane in ("workflow", "activity"):
                if f"{lane}_in_flight" in stats:
                    in_flight.add_metric([agent.identity, lane], stats[f"{lane}_in_flight"])
                    slots.add_metric([agent.identity, lane], stats[f"{lane}_slots"])
            cached.add_metric([agent.identity], stats["cached_runs"])
            hits.add_metric([agent.identity], stats["cache_hits"])
            misses.add_metric([agent.identity], stats["cache_misses"])
        yield from (in_flight, slots, cached, hits, misses)

    def describe(self) -> Iterator[Any]:
        return iter(())  # the metrics' names are known only when collected
