"""How the command prints: tables for people, JSON for scripts, progress as it happens."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any, Dict, List, Optional, Sequence, TextIO

from .. import types as wt


def plain(value: Any) -> Any:
    """A wire type (or anything) as JSON-ready data."""
    if hasattr(value, "__attrs_attrs__"):
        return wt.to_json(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


class Output:
    """``--output table`` (the default) or ``json``: one JSON document per command."""

    def __init__(self, mode: str, stream: TextIO = sys.stdout) -> None:
        self.json = mode == "json"
        self.stream = stream

    def value(self, value: Any) -> None:
        """A single result (a workflow's return value, a query's answer)."""
        if self.json:
            self._dump(plain(value))
        else:
            shown = plain(value)
            print(shown if isinstance(shown, str) else json.dumps(shown, default=str), file=self.stream)

    def dump(self, value: Any) -> None:
        """A value as JSON, whatever the output mode (``workflow result``: for scripts and people alike)."""
        self._dump(plain(value))

    def record(self, fields: Dict[str, Any]) -> None:
        """One object: ``key  value`` lines, or a JSON object."""
        if self.json:
            self._dump(plain(fields))
            return
        width = max((len(k) for k in fields), default=0)
        for key, value in fields.items():
            shown = plain(value)
            text = shown if isinstance(shown, str) else json.dumps(shown, default=str)
            print(f"{key.ljust(width)}  {text}", file=self.stream)

    def table(self, columns: Sequence[str], rows: List[Dict[str, Any]]) -> None:
        """Rows under a header, columns as wide as their widest cell; or a JSON array of the rows."""
        if self.json:
            self._dump(plain(rows))
            return
        cells = [[_cell(row.get(c)) for c in columns] for row in rows]
        widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
        print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)).rstrip(), file=self.stream)
        for r in cells:
            print("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip(), file=self.stream)

    def line(self, text: str) -> None:
        """Progress as it happens (not in JSON mode: stderr, so stdout stays one document)."""
        print(text, file=sys.stderr if self.json else self.stream, flush=True)

    def _dump(self, data: Any) -> None:
        json.dump(data, self.stream, default=str, indent=2)
        self.stream.write("\n")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    shown = plain(value)
    return shown if isinstance(shown, str) else json.dumps(shown, default=str)


def progress_bar(index: Optional[int], total: Optional[int], name: str, width: int = 24) -> str:
    """``[#########---------------] 3/8 name`` for a milestone with index and total, else ``- name``."""
    if index is None or not total:
        return f"- {name}"
    done = max(0, min(width, round(width * index / total)))
    return f"[{'#' * done}{'-' * (width - done)}] {index}/{total} {name}"
