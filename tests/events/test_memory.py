from __future__ import annotations

import asyncio
import time

import pytest

from agent_runtime_core.events import Event, EventType, InMemoryEventBus


def ev(run_id: str, seq: int, type_: EventType = EventType.PROGRESS_UPDATE) -> Event:
    return Event(run_id, seq, type_, time.time(), {"n": seq})


async def test_get_events_after_seq_and_last_seq() -> None:
    bus = InMemoryEventBus()
    for seq in range(1, 6):
        await bus.publish(ev("r", seq))
    assert [e.seq for e in await bus.get_events("r")] == [1, 2, 3, 4, 5]
    assert [e.seq for e in await bus.get_events("r", after_seq=3)] == [4, 5]
    assert await bus.last_seq("r") == 5
    assert await bus.last_seq("other") == 0
    assert await bus.get_events("other") == []


async def test_duplicate_seq_is_ignored_and_gap_is_refused() -> None:
    bus = InMemoryEventBus()
    await bus.publish(ev("r", 1))
    await bus.publish(Event("r", 1, EventType.RUN_FAILED, 0.0, {}))  # redelivery: ignored
    assert (await bus.get_events("r"))[0].type is EventType.PROGRESS_UPDATE
    with pytest.raises(ValueError, match="gap"):
        await bus.publish(ev("r", 3))


async def test_subscriber_gets_past_and_live_events_then_ends_at_terminal() -> None:
    bus = InMemoryEventBus()
    await bus.publish(ev("r", 1))
    received: list[int] = []

    async def consume() -> None:
        async for event in bus.subscribe("r"):
            received.append(event.seq)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0)
    await bus.publish(ev("r", 2))
    await bus.publish(ev("r", 3, EventType.RUN_SUCCEEDED))
    await asyncio.wait_for(task, 2)
    assert received == [1, 2, 3]


async def test_reconnect_with_last_seq_sees_each_event_once_in_order() -> None:
    bus = InMemoryEventBus()
    seen: list[int] = []

    async def first_connection() -> None:
        async for event in bus.subscribe("r"):
            seen.append(event.seq)
            if event.seq == 3:
                return  # drop the connection mid-run

    async def producer() -> None:
        for seq in range(1, 11):
            await bus.publish(ev("r", seq, EventType.RUN_SUCCEEDED if seq == 10 else EventType.PROGRESS_UPDATE))
            await asyncio.sleep(0)

    consumer = asyncio.create_task(first_connection())
    await producer()
    await consumer
    async for event in bus.subscribe("r", after_seq=seen[-1]):
        seen.append(event.seq)
    assert seen == list(range(1, 11))


async def test_runs_do_not_mix() -> None:
    bus = InMemoryEventBus()
    await asyncio.gather(*(bus.publish(ev(f"run-{i}", 1)) for i in range(20)))
    for i in range(20):
        events = await bus.get_events(f"run-{i}")
        assert [e.run_id for e in events] == [f"run-{i}"]


async def test_memory_is_bounded_by_evicting_finished_runs() -> None:
    bus = InMemoryEventBus(max_runs=5)
    await bus.publish(ev("active", 1))
    for i in range(20):
        await bus.publish(ev(f"done-{i}", 1, EventType.RUN_SUCCEEDED))
    assert len(bus._runs) <= 6
    assert await bus.last_seq("active") == 1  # a run in progress is never dropped
    assert await bus.last_seq("done-19") == 1


def test_event_round_trip_and_validation() -> None:
    event = Event("r", 7, EventType.TOOL_CALL, 12.5, {"name": "x"}, step="s", span_id="sp")
    assert Event.from_dict(event.to_dict()) == event
    for bad in (
        {},
        {"run_id": "r", "seq": 0, "type": "tool.call", "timestamp": 1},
        {"run_id": "r", "seq": 1, "type": "nope", "timestamp": 1},
        {"run_id": "", "seq": 1, "type": "tool.call", "timestamp": 1},
        {"run_id": "r", "seq": 1, "type": "tool.call", "timestamp": 1, "payload": []},
    ):
        with pytest.raises(ValueError):
            Event.from_dict(bad)
