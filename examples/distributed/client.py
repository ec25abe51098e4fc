"""The client side of the distributed example: submit runs, follow one's events, wait for all.

Needs workers running (see app.py). The client does not need the agents' code: runs name their
agent by key, and only the workers execute them.

    REDIS_URL=redis://127.0.0.1:6379/0 python client.py
"""

from __future__ import annotations

import asyncio
import os

from agent_runtime_core import AgentRunner
from agent_runtime_core.events import RedisEventBus
from agent_runtime_core.queue import RedisQueue
from agent_runtime_core.state import RedisStateStore

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

TEXTS = [
    "Runs survive worker crashes: a run held by a dead worker goes to another one when its lease expires.",
    "Events are stored per run, so a client that reconnects with its last seq misses nothing.",
    "Submitting the same run id twice queues it once; a finished run is never run again.",
]


async def main() -> None:
    runner = AgentRunner(
        event_bus=RedisEventBus(REDIS_URL), state_store=RedisStateStore(REDIS_URL), queue=RedisQueue(REDIS_URL)
    )
    run_ids = [await runner.submit("summarize", text) for text in TEXTS]
    print("submitted:", *run_ids, sep="\n  ")

    print(f"\nevents of {run_ids[0]}:")
    async for event in runner.events(run_ids[0]):  # follows until the run's terminal event
        print(f"  {event.seq:>3} {event.type.value:<16} {event.payload}")

    for run_id in run_ids:
        result = await runner.wait(run_id, timeout=60)
        print(f"\n{run_id}: {result.status} -> {result.final_output.get('response')}")

    for part in (runner.queue, runner.event_bus, runner.state_store):
        await part.close()  # type: ignore[attr-defined]


if __name__ == "__main__":
    asyncio.run(main())
