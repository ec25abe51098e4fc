"""Events: the grammar (`EventType`, `Event`), the `EventBus` protocol and its backends, and
`format_timeline` to print a run's events.

`RedisEventBus` (extra `[redis]`) is imported on first use, so this package imports without redis
installed; building one without the extra raises an `ImportError` that names it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports
from .base import TERMINAL_EVENT_TYPES, Event, EventBus, EventType, tool_arguments
from .memory import InMemoryEventBus
from .timeline import format_event, format_timeline

if TYPE_CHECKING:
    from .redis import RedisEventBus

__all__ = [
    "TERMINAL_EVENT_TYPES",
    "Event",
    "EventBus",
    "EventType",
    "InMemoryEventBus",
    "RedisEventBus",
    "format_event",
    "format_timeline",
    "tool_arguments",
]

__getattr__, __dir__ = lazy_exports(__name__, {"RedisEventBus": ".redis"})
