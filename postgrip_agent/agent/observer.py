"""What an Agent tells an observer of its work (metrics): each poll and each task it ran.

``postgrip_agent.contrib.prometheus.AgentMetrics`` is one; anything with these methods will do."""

from __future__ import annotations

from typing import Any, Protocol


class AgentObserver(Protocol):
    def attach(self, agent: Any) -> None:
        """Called once, when the Agent is built: read its ``stats()`` from then on."""

    def polled(self, lane: str, seconds: float, got_task: bool) -> None:
        """A poll of ``lane`` ("workflow" or "activity") returned after ``seconds``, with a task or not."""

    def ran(self, lane: str, task_type: str, seconds: float, failed: bool) -> None:
        """A task of ``task_type`` ran for ``seconds`` (``failed``: the activity failed, or the agent could not run it)."""
