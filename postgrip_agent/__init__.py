"""PostGrip Agent workflows, synchronously: a blocking Client, a thread-based Agent,
and a local runtime service on SQLite."""

__version__ = "0.1.0"
