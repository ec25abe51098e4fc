"""Events: the grammar (`EventType`, `Event`), the `EventBus` protocol and its backends."""

from __future__ import annotations

from .base import TERMINAL_EVENT_TYPES, Event, EventBus, EventType
from .memory import InMemoryEventBus

__all__ = ["TERMINAL_EVENT_TYPES", "Event", "EventBus", "EventType", "InMemoryEventBus"]
