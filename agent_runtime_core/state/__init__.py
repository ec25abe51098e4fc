"""State stores: the `StateStore` protocol and its in-memory and SQLite backends."""

from __future__ import annotations

from .base import StateStore
from .memory import InMemoryStateStore
from .sqlite import SQLiteStateStore

__all__ = ["InMemoryStateStore", "SQLiteStateStore", "StateStore"]
