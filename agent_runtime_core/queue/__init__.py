"""Run queues: the `RunQueue` protocol, its in-memory backend, and `RedisQueue` (extra `[redis]`).

`RedisQueue` is imported on first use, so this package imports without redis installed; building
one without the extra raises an `ImportError` that names it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .base import Lease, QueuedRun, RunQueue
from .memory import InMemoryQueue

if TYPE_CHECKING:
    from .redis import RedisLease, RedisQueue

__all__ = ["InMemoryQueue", "Lease", "QueuedRun", "RedisLease", "RedisQueue", "RunQueue"]

_LAZY_EXPORTS = {"RedisQueue": ".redis", "RedisLease": ".redis"}


def __getattr__(name: str) -> Any:
    module = _LAZY_EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
