"""Events: the grammar (`EventType`, `Event`), the `EventBus` protocol and its backends, and
`format_timeline` to print a run's events.

`RedisEventBus` (extra `[redis]`) is imported on first use, so this package imports without redis
installed; building one without the extra raises an `ImportError` that names it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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

_LAZY_EXPORTS = {"RedisEventBus": ".redis"}


def __getattr__(name: str) -> Any:
    module = _LAZY_EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
