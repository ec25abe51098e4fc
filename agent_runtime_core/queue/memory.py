"""An in-process run queue with the same lease semantics as the Redis queue."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
import uuid
from dataclasses import dataclass

from .base import Lease, QueuedRun

__all__ = ["InMemoryQueue"]


@dataclass
class _Held:
    run: QueuedRun
    token: str
    worker_id: str
    expires_at: float


class InMemoryQueue:
    """Runs waiting in this process's memory, for development, tests and single-process workers.

    Leases work as on Redis: a run whose lease expires (its worker stalled or its task died) is
    delivered again. Ready runs are taken by priority (higher first), then in submission order.
    """

    def __init__(self, *, lease_seconds: float = 30.0) -> None:
        if lease_seconds <= 0:
            raise ValueError(f"`lease_seconds` must be > 0; got {lease_seconds}.")
        self.lease_seconds = lease_seconds
        # Runs wait in `_delayed` (by ready time) until due, then in `_ready` (by priority, then
        # order). Heap entries of runs no longer waiting are skipped when popped.
        self._delayed: list[tuple[float, int, str]] = []
        self._ready: list[tuple[int, int, str]] = []
        self._waiting: dict[str, tuple[QueuedRun, int]] = {}
        self._held: dict[str, _Held] = {}
        self._order = itertools.count()
        self._changed: asyncio.Event | None = None

    def __repr__(self) -> str:
        return f"InMemoryQueue(waiting={len(self._waiting)}, leased={len(self._held)})"

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()

    def _push(self, run: QueuedRun, delay_seconds: float) -> None:
        order = next(self._order)
        self._waiting[run.run_id] = (run, order)
        if delay_seconds > 0:
            heapq.heappush(self._delayed, (time.monotonic() + delay_seconds, order, run.run_id))
        else:
            heapq.heappush(self._ready, (-run.priority, order, run.run_id))
        self._notify()

    def _reclaim_expired(self, now: float) -> None:
        for run_id in [r for r, h in self._held.items() if h.expires_at <= now]:
            held = self._held.pop(run_id)
            self._push(held.run, 0.0)

    async def enqueue(self, run: QueuedRun, *, delay_seconds: float = 0.0) -> bool:
        if run.run_id in self._waiting or run.run_id in self._held:
            return False
        self._push(run, delay_seconds)
        return True

    def _current(self, run_id: str, order: int) -> QueuedRun | None:
        entry = self._waiting.get(run_id)
        return entry[0] if entry is not None and entry[1] == order else None

    def _take(self, worker_id: str, now: float) -> Lease | None:
        self._reclaim_expired(now)
        while self._delayed and self._delayed[0][0] <= now:
            _, order, run_id = heapq.heappop(self._delayed)
            run = self._current(run_id, order)
            if run is not None:
                heapq.heappush(self._ready, (-run.priority, order, run_id))
        while self._ready:
            _, order, run_id = heapq.heappop(self._ready)
            run = self._current(run_id, order)
            if run is None:
                continue  # stale entry
            del self._waiting[run_id]
            run.deliveries += 1
            held = _Held(run, uuid.uuid4().hex, worker_id, now + self.lease_seconds)
            self._held[run_id] = held
            return Lease(run, worker_id, held.token, held.expires_at)
        return None

    def _next_wakeup(self, now: float) -> float | None:
        times = [h.expires_at for h in self._held.values()]
        if self._delayed:
            times.append(self._delayed[0][0])
        return min(times) - now if times else None

    async def dequeue(self, worker_id: str, *, timeout: float | None = None) -> Lease | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._changed is None:
            self._changed = asyncio.Event()
        while True:
            now = time.monotonic()
            lease = self._take(worker_id, now)
            if lease is not None:
                return lease
            if deadline is not None and now >= deadline:
                return None
            waits = [w for w in (self._next_wakeup(now), None if deadline is None else deadline - now) if w is not None]
            self._changed.clear()
            try:
                async with asyncio.timeout(max(min(waits), 0.0) if waits else None):
                    await self._changed.wait()
            except TimeoutError:
                pass

    def _valid(self, lease: Lease) -> bool:
        held = self._held.get(lease.run.run_id)
        return held is not None and held.token == lease.token and held.expires_at > time.monotonic()

    async def ack(self, lease: Lease) -> bool:
        if not self._valid(lease):
            return False
        del self._held[lease.run.run_id]
        return True

    async def nack(self, lease: Lease, *, delay_seconds: float = 0.0) -> bool:
        if not self._valid(lease):
            return False
        held = self._held.pop(lease.run.run_id)
        self._push(held.run, delay_seconds)
        return True

    async def extend(self, lease: Lease) -> bool:
        if not self._valid(lease):
            return False
        held = self._held[lease.run.run_id]
        held.expires_at = lease.expires_at = time.monotonic() + self.lease_seconds
        return True

    async def size(self) -> int:
        return len(self._waiting) + len(self._held)
