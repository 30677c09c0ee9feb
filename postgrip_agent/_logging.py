"""A logger adapter that adds the context of the code logging (a workflow run, an activity)."""

from __future__ import annotations

import logging
from typing import Any, Callable, Dict, Optional, Tuple

#: (fields added to each record, a short label appended to the message), or None outside any context
Context = Callable[[], Optional[Tuple[Dict[str, Any], str]]]


class ContextLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    def __init__(self, logger: logging.Logger, context: Context, silent: Callable[[], bool] = lambda: False) -> None:
        super().__init__(logger, {})
        self._context = context
        self._silent = silent

    def isEnabledFor(self, level: int) -> bool:
        return not self._silent() and bool(self.logger.isEnabledFor(level))

    def process(self, msg: Any, kwargs: Any) -> Any:
        context = self._context()
        if context is not None:
            fields, label = context
            kwargs["extra"] = {**fields, **(kwargs.get("extra") or {})}
            msg = f"{msg} ({label})"
        return msg, kwargs
