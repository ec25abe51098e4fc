"""An in-process event bus: events kept in memory, subscribers woken as events arrive."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator

from .base import TERMINAL_EVENT_TYPES, Event

__all__ = ["InMemoryEventBus"]


class _RunLog:
    __slots__ = ("events", "waiters", "finished")

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.waiters: list[asyncio.Future[None]] = []
        self.finished = False


class InMemoryEventBus:
    """Keeps every run's events in memory, for development, tests and single-process use.

    Memory stays bounded: once more than `max_runs` runs are held, the oldest finished runs are
    dropped (runs still in progress are never dropped).
    """

    def __init__(self, *, max_runs: int = 10_000) -> None:
        if max_runs < 1:
            raise ValueError(f"`max_runs` must be >= 1; got {max_runs}.")
        self._max_runs = max_runs
        self._runs: dict[str, _RunLog] = {}
        self._finished: OrderedDict[str, None] = OrderedDict()  # eviction candidates, oldest first

    def __repr__(self) -> str:
        return f"InMemoryEventBus(runs={len(self._runs)}, max_runs={self._max_runs})"

    def _log(self, run_id: str) -> _RunLog:
        log = self._runs.get(run_id)
        if log is None:
            log = self._runs[run_id] = _RunLog()
            if len(self._runs) > self._max_runs:
                self._evict()
        return log

    def _evict(self) -> None:
        kept: list[str] = []
        while len(self._runs) > self._max_runs and self._finished:
            run_id, _ = self._finished.popitem(last=False)
            log = self._runs.get(run_id)
            if log is not None and log.waiters:
                kept.append(run_id)  # someone is still reading it
            elif log is not None:
                del self._runs[run_id]
        for run_id in kept:
            self._finished[run_id] = None

    async def publish(self, event: Event) -> None:
        log = self._log(event.run_id)
        last = len(log.events)
        if event.seq <= last:
            return  # already stored: redelivery is harmless
        if event.seq != last + 1:
            raise ValueError(
                f"Event seq {event.seq} for run {event.run_id!r} would leave a gap after {last}."
            )
        log.events.append(event)
        finished = event.type in TERMINAL_EVENT_TYPES
        if finished:
            self._finished[event.run_id] = None
        elif log.finished:
            self._finished.pop(event.run_id, None)  # resumed after RUN_INTERRUPTED
        log.finished = finished
        if log.waiters:
            waiters, log.waiters = log.waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def get_events(self, run_id: str, after_seq: int = 0) -> list[Event]:
        log = self._runs.get(run_id)
        return [] if log is None else log.events[max(after_seq, 0) :]

    async def last_seq(self, run_id: str) -> int:
        log = self._runs.get(run_id)
        return 0 if log is None else len(log.events)

    async def subscribe(self, run_id: str, after_seq: int = 0) -> AsyncIterator[Event]:
        position = max(after_seq, 0)
        while True:
            log = self._log(run_id)
            while position < len(log.events):
                event = log.events[position]
                position += 1
                yield event
            if log.finished:
                return
            waiter = asyncio.get_running_loop().create_future()
            log.waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in log.waiters:
                    log.waiters.remove(waiter)
