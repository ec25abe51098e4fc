"""Cancellation between a client and workers that share one process and an in-process queue
(a queue without `request_cancel`): the workers serving there, and cancellations waiting for a
worker to take their run."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .worker import Worker

__all__ = ["local_cancels", "local_workers", "pop_local_cancel"]

local_workers: weakref.WeakSet[Worker] = weakref.WeakSet()
"""Workers serving in this process."""

local_cancels: weakref.WeakKeyDictionary[Any, dict[str, str]] = weakref.WeakKeyDictionary()
"""Per queue, the runs cancelled before a worker took them, with the reason."""


def pop_local_cancel(queue: Any, run_id: str) -> str | None:
    """The reason `run_id` was cancelled while queued on `queue`, if it was (once)."""
    try:
        pending = local_cancels.get(queue)
    except TypeError:  # a queue that cannot be weakly referenced
        return None
    return pending.pop(run_id, None) if pending else None
