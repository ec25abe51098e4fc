"""Ready-made trace sinks: one JSON object per line in a file, or a line per event on a stream."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

from .base import TraceSink

__all__ = ["ConsoleTraceSink", "JSONLinesTraceSink"]


class JSONLinesTraceSink(TraceSink):
    """Appends every event to `path` as one JSON line (the file and its folder are created)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: TextIO | None = None

    def __repr__(self) -> str:
        return f"JSONLinesTraceSink(path={str(self.path)!r})"

    async def trace(self, event: dict[str, Any]) -> None:
        if self._file is None:
            self._file = self.path.open("a", encoding="utf-8")
        # One short write per event goes to the OS page cache; flushed at close.
        self._file.write(json.dumps(event, ensure_ascii=False, default=str) + "\n")

    async def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    async def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class ConsoleTraceSink(TraceSink):
    """Writes one compact line per event to `stream` (stderr by default)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    async def trace(self, event: dict[str, Any]) -> None:
        stream = self._stream or sys.stderr
        payload = json.dumps(event.get("payload", {}), ensure_ascii=False, default=str)
        stream.write(f"[{event['run_id']} #{event['seq']}] {event['type']} {payload}\n")
