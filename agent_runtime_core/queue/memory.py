"""An in-process run queue with the same lease semantics as the Redis queue."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import UserError
from ..state.base import check_key
from .base import MAX_PAYLOAD_BYTES, DeadLetter, Lease, QueuedRun, preview, read_payload

__all__ = ["InMemoryQueue"]


@dataclass
class _Held:
    run: QueuedRun
    token: str
    worker_id: str
    expires_at: float


@dataclass
class _Dead:
    run: QueuedRun
    raw: bytes | None
    reason: str
    dead_at: float


class InMemoryQueue:
    """Runs waiting in this process's memory, for development, tests and single-process workers.

    Leases work as on Redis: a run whose lease expires (its worker stalled or its task died) is
    delivered again. Ready runs are taken by priority (higher first), then in submission order.
    Payloads given as bytes (`enqueue_raw`) are read when delivered, as on Redis, and runs that
    workers refuse go to the dead letters (`list_dead_letters`, `requeue_dead_letters`).

    Args:
        lease_seconds: How long a worker holds a run without renewing its lease.
        max_payload_bytes: Largest raw payload parsed (larger ones are delivered as invalid).
        max_dead_letters: Most dead letters kept; the oldest go first.
    """

    process_local = True
    """Only this process sees the queue: workers elsewhere cannot take its runs."""

    def __init__(
        self,
        *,
        lease_seconds: float = 30.0,
        max_payload_bytes: int = MAX_PAYLOAD_BYTES,
        max_dead_letters: int = 10_000,
    ) -> None:
        if lease_seconds <= 0:
            raise ValueError(f"`lease_seconds` must be > 0; got {lease_seconds}.")
        self.lease_seconds = lease_seconds
        self.max_payload_bytes = max_payload_bytes
        self.max_dead_letters = max_dead_letters
        self._raw: dict[str, bytes] = {}  # payloads of runs enqueued as bytes, read at delivery
        self._dead: dict[str, _Dead] = {}
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

    def _known(self, run_id: str) -> bool:
        return run_id in self._waiting or run_id in self._held or run_id in self._dead

    async def enqueue(self, run: QueuedRun, *, delay_seconds: float = 0.0) -> bool:
        if self._known(run.run_id):
            return False
        self._push(run, delay_seconds)
        return True

    async def enqueue_raw(
        self, run_id: str, payload: bytes | str, *, priority: int = 0, delay_seconds: float = 0.0
    ) -> bool:
        """Enqueue a payload as it is (the JSON of a `QueuedRun` dict), read only when delivered:
        the same as `RedisQueue.enqueue_raw`. Returns False if the run id is already known."""
        check_key(run_id, "run_id")
        if not isinstance(priority, int) or isinstance(priority, bool):
            raise UserError(f"`priority` must be an integer; got {priority!r}.")
        if self._known(run_id):
            return False
        self._raw[run_id] = payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else bytes(payload)
        self._push(QueuedRun(run_id=run_id, agent_key="", priority=priority), delay_seconds)
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
            raw = self._raw.get(run_id)
            if raw is None:
                return Lease(run, worker_id, held.token, held.expires_at)
            parsed, invalid = read_payload(run_id, raw, max_bytes=self.max_payload_bytes)
            parsed.deliveries = run.deliveries
            return Lease(parsed, worker_id, held.token, held.expires_at, invalid=invalid, payload_bytes=len(raw))
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
        self._raw.pop(lease.run.run_id, None)
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

    # -- dead letters -------------------------------------------------------------------------

    async def dead_letter(self, lease: Lease, reason: str) -> bool:
        """Move a leased run to the dead letters (see `DeadLetterQueue`)."""
        if not self._valid(lease):
            return False
        run_id = lease.run.run_id
        held = self._held.pop(run_id)
        self._dead[run_id] = _Dead(held.run, self._raw.pop(run_id, None), str(reason), time.time())
        while len(self._dead) > self.max_dead_letters:
            del self._dead[next(iter(self._dead))]
        return True

    async def list_dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        out: list[DeadLetter] = []
        for run_id, dead in reversed(self._dead.items()):
            if len(out) >= limit:
                break
            if dead.raw is not None:
                payload = dead.raw
            else:
                try:
                    text = json.dumps(dead.run.to_dict(), ensure_ascii=False, default=str)
                except (ValueError, RecursionError):
                    text = f"(not JSON: a run of agent {dead.run.agent_key!r})"
                payload = text.encode("utf-8", "surrogateescape")
            out.append(
                DeadLetter(run_id, dead.reason, dead.dead_at, dead.run.deliveries, len(payload), preview(payload))
            )
        return out

    async def count_dead_letters(self) -> int:
        return len(self._dead)

    async def requeue_dead_letters(self, run_ids: Sequence[str] | None = None) -> list[str]:
        ids = list(self._dead) if run_ids is None else [r for r in run_ids if r in self._dead]
        for run_id in ids:
            dead = self._dead.pop(run_id)
            dead.run.deliveries = 0
            if dead.raw is not None:
                self._raw[run_id] = dead.raw
            self._push(dead.run, 0.0)
        return ids

    async def delete_dead_letters(self, run_ids: Sequence[str] | None = None) -> int:
        ids = list(self._dead) if run_ids is None else [r for r in run_ids if r in self._dead]
        for run_id in ids:
            del self._dead[run_id]
        return len(ids)
