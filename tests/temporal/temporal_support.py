"""Helpers of the Temporal tests: serve in this process, read a run's event types."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from agent_runtime_core import AgentRunner, EventType

__all__ = ["serving", "types_of"]


@contextlib.asynccontextmanager
async def serving(runner: AgentRunner, concurrency: int = 5) -> AsyncIterator[None]:
    """`runner.serve()` in this process, stopped on exit."""
    stop = asyncio.Event()
    task = asyncio.create_task(runner.serve(concurrency, handle_signals=False, stop=stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def types_of(runner: AgentRunner, run_id: str) -> list[EventType]:
    return [e.type async for e in runner.events(run_id, follow=False)]
