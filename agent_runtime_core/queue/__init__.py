"""Run queues: the `RunQueue` protocol and its in-memory backend."""

from __future__ import annotations

from .base import Lease, QueuedRun, RunQueue
from .memory import InMemoryQueue

__all__ = ["InMemoryQueue", "Lease", "QueuedRun", "RunQueue"]
