"""State stores: the `StateStore` protocol and its in-memory, SQLite and Redis backends.

`RedisStateStore` (extra `[redis]`) is imported on first use, so this package imports without
redis installed; building one without the extra raises an `ImportError` that names it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports
from .base import StateStore
from .memory import InMemoryStateStore
from .sqlite import SQLiteStateStore

if TYPE_CHECKING:
    from .redis import RedisStateStore

__all__ = ["InMemoryStateStore", "RedisStateStore", "SQLiteStateStore", "StateStore"]

__getattr__, __dir__ = lazy_exports(__name__, {"RedisStateStore": ".redis"})
