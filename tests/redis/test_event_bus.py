"""The EventBus contract (tests/events/test_memory.py), run against InMemoryEventBus and
RedisEventBus, plus what the Redis bus adds: retention, sharing across clients, reconnection."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agent_runtime_core.events import Event, EventBus, EventType, InMemoryEventBus, RedisEventBus

from .conftest import RedisServer


def ev(run_id: str, seq: int, type_: EventType = EventType.PROGRESS_UPDATE) -> Event:
    return Event(run_id, seq, type_, time.time(), {"n": seq})


@pytest.fixture(params=["memory", "redis"])
async def bus(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[EventBus]:
    if request.param == "memory":
        yield InMemoryEventBus()
        return
    b = RedisEventBus(redis_url, block_seconds=0.5)
    yield b
    await b.close()


async def test_is_an_event_bus(bus: EventBus) -> None:
    assert isinstance(bus, EventBus)


async def test_get_events_after_seq_and_last_seq(bus: EventBus) -> None:
    for seq in range(1, 6):
        await bus.publish(ev("r", seq))
    assert [e.seq for e in await bus.get_events("r")] == [1, 2, 3, 4, 5]
    assert [e.seq for e in await bus.get_events("r", after_seq=3)] == [4, 5]
    assert await bus.last_seq("r") == 5
    assert await bus.last_seq("other") == 0
    assert await bus.get_events("other") == []


async def test_events_round_trip_whole(bus: EventBus) -> None:
    event = Event("r", 1, EventType.TOOL_CALL, 12.5, {"name": "x", "ü": [1, None]}, step="s", span_id="sp")
    await bus.publish(event)
    assert await bus.get_events("r") == [event]


async def test_duplicate_seq_is_ignored_and_gap_is_refused(bus: EventBus) -> None:
    await bus.publish(ev("r", 1))
    await bus.publish(Event("r", 1, EventType.RUN_FAILED, 0.0, {}))  # redelivery: ignored
    assert (await bus.get_events("r"))[0].type is EventType.PROGRESS_UPDATE
    with pytest.raises(ValueError, match="gap"):
        await bus.publish(ev("r", 3))
    assert await bus.last_seq("r") == 1


async def test_subscriber_gets_past_and_live_events_then_ends_at_terminal(bus: EventBus) -> None:
    await bus.publish(ev("r", 1))
    received: list[int] = []

    async def consume() -> None:
        async for event in bus.subscribe("r"):
            received.append(event.seq)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.05)
    await bus.publish(ev("r", 2))
    await bus.publish(ev("r", 3, EventType.RUN_SUCCEEDED))
    await asyncio.wait_for(task, 5)
    assert received == [1, 2, 3]


async def test_subscribing_after_the_end_returns_at_once(bus: EventBus) -> None:
    await bus.publish(ev("r", 1, EventType.RUN_SUCCEEDED))

    async def drain(after: int) -> list[int]:
        return [e.seq async for e in bus.subscribe("r", after_seq=after)]

    assert await asyncio.wait_for(drain(0), 2) == [1]
    assert await asyncio.wait_for(drain(1), 2) == []


async def test_subscriber_waits_for_a_run_not_started_yet(bus: EventBus) -> None:
    async def drain() -> list[int]:
        return [e.seq async for e in bus.subscribe("later")]

    task = asyncio.create_task(drain())
    await asyncio.sleep(0.1)
    assert not task.done()
    await bus.publish(ev("later", 1, EventType.RUN_FAILED))
    assert await asyncio.wait_for(task, 5) == [1]


async def test_reconnect_with_last_seq_sees_each_event_once_in_order(bus: EventBus) -> None:
    seen: list[int] = []

    async def first_connection() -> None:
        async for event in bus.subscribe("r"):
            seen.append(event.seq)
            if event.seq == 3:
                return  # drop the connection mid-run

    async def producer() -> None:
        for seq in range(1, 11):
            await bus.publish(ev("r", seq, EventType.RUN_SUCCEEDED if seq == 10 else EventType.PROGRESS_UPDATE))
            await asyncio.sleep(0.005)

    consumer = asyncio.create_task(first_connection())
    await producer()
    await consumer
    async for event in bus.subscribe("r", after_seq=seen[-1]):
        seen.append(event.seq)
    assert seen == list(range(1, 11))


async def test_resumed_run_continues_after_its_terminal_event(bus: EventBus) -> None:
    await bus.publish(ev("r", 1, EventType.RUN_INTERRUPTED))
    await bus.publish(ev("r", 2, EventType.RUN_STARTED))
    await bus.publish(ev("r", 3, EventType.RUN_SUCCEEDED))
    assert [e.seq async for e in bus.subscribe("r")] == [1, 2, 3]


async def test_runs_do_not_mix(bus: EventBus) -> None:
    await asyncio.gather(*(bus.publish(ev(f"run-{i}", 1)) for i in range(20)))
    for i in range(20):
        events = await bus.get_events(f"run-{i}")
        assert [e.run_id for e in events] == [f"run-{i}"]


async def test_concurrent_publishers_of_one_seq_store_it_once(bus: EventBus) -> None:
    await asyncio.gather(*(bus.publish(ev("r", 1)) for _ in range(10)))
    assert await bus.last_seq("r") == 1


# -- Redis only ------------------------------------------------------------------------------


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
