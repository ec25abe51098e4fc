"""What the Redis bus adds to the EventBus contract (run over every bus in tests/contracts):
retention, sharing across clients, riding out a restart."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from agent_runtime_core.events import Event, EventType, RedisEventBus

from .conftest import RedisServer


def ev(run_id: str, seq: int, type_: EventType = EventType.PROGRESS_UPDATE) -> Event:
    return Event(run_id, seq, type_, time.time(), {"n": seq})



async def test_finished_runs_expire_after_the_retention(redis_url: str, redis_client: Any) -> None:
    bus = RedisEventBus(redis_url, retention_seconds=60)
    await bus.publish(ev("r", 1))
    key = bus.stream_key("r")
    assert await redis_client.ttl(key) == -1  # in progress: kept
    await bus.publish(ev("r", 2, EventType.RUN_SUCCEEDED))
    assert 0 < await redis_client.ttl(key) <= 60
    await bus.publish(ev("r", 3, EventType.RUN_STARTED))  # resumed: kept again
    assert await redis_client.ttl(key) == -1
    short = RedisEventBus(redis_url, retention_seconds=0.1)
    await short.publish(ev("s", 1, EventType.RUN_FAILED))
    await asyncio.sleep(0.3)
    assert await short.get_events("s") == []
    await bus.close()
    await short.close()


async def test_a_second_client_reads_what_the_first_published(redis_url: str) -> None:
    writer, reader = RedisEventBus(redis_url), RedisEventBus(redis_url, block_seconds=0.2)
    got: list[int] = []

    async def follow() -> None:
        async for event in reader.subscribe("shared"):
            got.append(event.seq)

    task = asyncio.create_task(follow())
    for seq in range(1, 51):
        await writer.publish(ev("shared", seq, EventType.RUN_SUCCEEDED if seq == 50 else EventType.ASSISTANT_DELTA))
    await asyncio.wait_for(task, 5)
    assert got == list(range(1, 51))
    await writer.close()
    await reader.close()


@pytest.mark.slow
async def test_subscriber_rides_out_a_redis_restart(own_redis: RedisServer) -> None:
    bus = RedisEventBus(own_redis.url, block_seconds=0.2)
    got: list[int] = []

    async def follow() -> None:
        async for event in bus.subscribe("r"):
            got.append(event.seq)

    task = asyncio.create_task(follow())
    for seq in range(1, 6):
        await bus.publish(ev("r", seq))
    await asyncio.sleep(0.3)
    await asyncio.to_thread(own_redis.restart, 0.5)
    for seq in range(6, 11):
        await bus.publish(ev("r", seq, EventType.RUN_SUCCEEDED if seq == 10 else EventType.PROGRESS_UPDATE))
    await asyncio.wait_for(task, 20)
    assert got == list(range(1, 11))
    await bus.close()


async def test_an_event_the_stream_could_not_give_back_is_refused_at_emit(redis_url: str) -> None:
    """NaN or a payload nested deeper than the reader's limit fails the emit, clearly, and the
    run's stream stays readable (stored, it would break every later read of the run)."""
    from agent_runtime_core.errors import InvalidInputError

    bus = RedisEventBus(redis_url)
    try:
        await bus.publish(Event("r", 1, EventType.RUN_STARTED, 1.0, {"attempt": 1}))
        deep: object = 1
        for _ in range(200):
            deep = [deep]
        for payload in ({"percent": float("nan")}, {"data": deep}):
            with pytest.raises(InvalidInputError, match="progress.update event's payload"):
                await bus.publish(Event("r", 2, EventType.PROGRESS_UPDATE, 2.0, payload))
        await bus.publish(Event("r", 2, EventType.PROGRESS_UPDATE, 2.0, {"percent": 50.0}))
        assert [e.seq for e in await bus.get_events("r")] == [1, 2]
    finally:
        await bus.close()
