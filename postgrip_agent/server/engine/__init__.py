"""The engine wing of the service: the state machine (what each call does to tasks, runs and
history), time-driven work, sessions and schedules. It imports the store wing, never the HTTP wing.
"""

from .clock import Clock, ManualClock
from .schedules import ScheduleService
from .tasks import Engine

__all__ = ["Clock", "Engine", "ManualClock", "ScheduleService"]
