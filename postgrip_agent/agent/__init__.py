"""The Agent: runs workflows and activities for a task queue."""

from .agent import Agent, Worker

__all__ = ["Agent", "Worker"]
