"""The workflow runtime: the deterministic scheduler, its futures and records, replay of history."""
