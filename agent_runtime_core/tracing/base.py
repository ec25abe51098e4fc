"""`TraceSink`: the simple hook that receives every event of every run, for custom platforms."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

__all__ = ["TraceSink"]


class TraceSink(ABC):
    """Receives each run event as a JSON-ready dict (`Event.to_dict()`), as it happens.

    The runner calls `trace` for every event of every run it executes. A sink that raises never
    fails the run: the error is logged and the run goes on.
    """

    @abstractmethod
    async def trace(self, event: dict[str, Any]) -> None:
        """Handle one event."""

    async def flush(self) -> None:
        """Push out anything buffered (called at shutdown; optional)."""
        return None

    async def close(self) -> None:
        """Flush and release resources (optional)."""
        await self.flush()
