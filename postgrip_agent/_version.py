"""The package's version (one place: setup.cfg reads it, the User-Agent and the CLI print it)."""

__version__ = "0.1.0"
