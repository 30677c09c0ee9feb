"""``workflow.unsafe``: the escape hatches Temporal users know, on the run whose code is running."""

from __future__ import annotations

import contextlib
from typing import Iterator

from .instance import running


class _Unsafe:
    """Escape hatches Temporal users know; use them only where the docs say."""

    @staticmethod
    def is_replaying() -> bool:
        """True while the code re-runs what an earlier activation did (or the instance is dropped)."""
        return running("unsafe.is_replaying").is_replaying()

    @staticmethod
    def is_replaying_history_events() -> bool:
        """True while the code re-runs history an earlier activation applied (not while a query
        is answered or a dropped instance is torn down)."""
        instance = running("unsafe.is_replaying_history_events")
        return not instance.query_mode and instance.current_seq <= instance.live_after_seq

    @staticmethod
    @contextlib.contextmanager
    def imports_passed_through() -> Iterator[None]:
        """Temporal's ``with workflow.unsafe.imports_passed_through(): import ...``. Workflow code
        here is checked statically, not re-imported in a sandbox, so imports need no passing
        through: the block just runs (ported modules keep working unchanged)."""
        yield


unsafe = _Unsafe()
"""Escape hatches Temporal users know (``workflow.unsafe.is_replaying()``); use them only where the docs say."""
