"""State stores: the `StateStore` protocol and its in-memory, SQLite and Redis backends.

`RedisStateStore` (extra `[redis]`) is imported on first use, so this package imports without
redis installed; building one without the extra raises an `ImportError` that names it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .base import StateStore
from .memory import InMemoryStateStore
from .sqlite import SQLiteStateStore

if TYPE_CHECKING:
    from .redis import RedisStateStore

__all__ = ["InMemoryStateStore", "RedisStateStore", "SQLiteStateStore", "StateStore"]

_LAZY_EXPORTS = {"RedisStateStore": ".redis"}


def __getattr__(name: str) -> Any:
    module = _LAZY_EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
