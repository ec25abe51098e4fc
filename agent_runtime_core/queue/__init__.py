"""Run queues: the `RunQueue` protocol, its in-memory backend, and `RedisQueue` (extra `[redis]`).

`RedisQueue` is imported on first use, so this package imports without redis installed; building
one without the extra raises an `ImportError` that names it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports
from .base import Lease, QueuedRun, RunQueue
from .memory import InMemoryQueue

if TYPE_CHECKING:
    from .redis import RedisLease, RedisQueue

__all__ = ["InMemoryQueue", "Lease", "QueuedRun", "RedisLease", "RedisQueue", "RunQueue"]

__getattr__, __dir__ = lazy_exports(__name__, {"RedisQueue": ".redis", "RedisLease": ".redis"})
