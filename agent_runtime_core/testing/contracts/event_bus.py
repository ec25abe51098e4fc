"""The `EventBus` contract: what every event bus backend does, as pytest tests."""

from __future__ import annotations

import asyncio
import time

import pytest

from ...events.base import Event, EventBus, EventType
from ._harness import Backends, contract_test

__all__ = ["EventBusContract"]

Make = Backends[EventBus]


def _ev(run_id: str, seq: int, type_: EventType = EventType.PROGRESS_UPDATE) -> Event:
    return Event(run_id, seq, type_, time.time(), {"n": seq})


class EventBusContract:
    """The `EventBus` contract, run against the backends of the `make_event_bus` fixture.

    `make_event_bus` is a plain fixture returning a factory: called with no argument (in the
    test's event loop), it returns a new, empty bus, or an awaitable of one. Each test makes one
    bus and closes it at the end (`close()`, if the bus has one).

    Collected where a conftest.py defines `make_event_bus` (the pytest plugin of
    `agent_runtime_core.testing.contracts`), or in a test module by subclassing:
    `class TestMyBus(EventBusContract): ...`.
    """

    contract_timeout: float = 60.0
    """Seconds each test may take."""

    @contract_test("make_event_bus")
    async def test_is_an_event_bus(self, make: Make) -> None:
        assert isinstance(await make(), EventBus)

    @contract_test("make_event_bus")
    async def test_get_events_after_seq_and_last_seq(self, make: Make) -> None:
        bus = await make()
        for seq in range(1, 6):
            await bus.publish(_ev("r", seq))
        assert [e.seq for e in await bus.get_events("r")] == [1, 2, 3, 4, 5]
        assert [e.seq for e in await bus.get_events("r", after_seq=3)] == [4, 5]
        assert await bus.last_seq("r") == 5
        assert await bus.last_seq("other") == 0
        assert await bus.get_events("other") == []

    @contract_test("make_event_bus")
    async def test_events_round_trip_whole(self, make: Make) -> None:
        bus = await make()
        event = Event(
            "r", 1, EventType.TOOL_CALL, 12.5, {"name": "x", "ü": [1, None]}, step="s", span_id="sp"
        )
        await bus.publish(event)
        assert await bus.get_events("r") == [event]

    @contract_test("make_event_bus")
    async def test_duplicate_seq_is_ignored_and_gap_is_refused(self, make: Make) -> None:
        bus = await make()
        await bus.publish(_ev("r", 1))
        await bus.publish(Event("r", 1, EventType.RUN_FAILED, 0.0, {}))  # redelivery: ignored
        assert (await bus.get_events("r"))[0].type is EventType.PROGRESS_UPDATE
        with pytest.raises(ValueError, match="gap"):
            await bus.publish(_ev("r", 3))
        assert await bus.last_seq("r") == 1

    @contract_test("make_event_bus")
    async def test_subscriber_gets_past_and_live_events_then_ends_at_terminal(self, make: Make) -> None:
        bus = await make()
        await bus.publish(_ev("r", 1))
        received: list[int] = []

        async def consume() -> None:
            async for event in bus.subscribe("r"):
                received.append(event.seq)

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.05)
        await bus.publish(_ev("r", 2))
        await bus.publish(_ev("r", 3, EventType.RUN_SUCCEEDED))
        await asyncio.wait_for(task, 5)
        assert received == [1, 2, 3]

    @contract_test("make_event_bus")
    async def test_subscribing_after_the_end_returns_at_once(self, make: Make) -> None:
        bus = await make()
        await bus.publish(_ev("r", 1, EventType.RUN_SUCCEEDED))

        async def drain(after: int) -> list[int]:
            return [e.seq async for e in bus.subscribe("r", after_seq=after)]

        assert await asyncio.wait_for(drain(0), 2) == [1]
        assert await asyncio.wait_for(drain(1), 2) == []

    @contract_test("make_event_bus")
    async def test_subscriber_waits_for_a_run_not_started_yet(self, make: Make) -> None:
        bus = await make()

        async def drain() -> list[int]:
            return [e.seq async for e in bus.subscribe("later")]

        task = asyncio.create_task(drain())
        await asyncio.sleep(0.1)
        assert not task.done()
        await bus.publish(_ev("later", 1, EventType.RUN_FAILED))
        assert await asyncio.wait_for(task, 5) == [1]

    @contract_test("make_event_bus")
    async def test_reconnect_with_last_seq_sees_each_event_once_in_order(self, make: Make) -> None:
        bus = await make()
        seen: list[int] = []

        async def first_connection() -> None:
            async for event in bus.subscribe("r"):
                seen.append(event.seq)
                if event.seq == 3:
                    return  # drop the connection mid-run

        async def producer() -> None:
            for seq in range(1, 11):
                last = seq == 10
                await bus.publish(_ev("r", seq, EventType.RUN_SUCCEEDED if last else EventType.PROGRESS_UPDATE))
                await asyncio.sleep(0.005)

        consumer = asyncio.create_task(first_connection())
        await producer()
        await consumer
        async for event in bus.subscribe("r", after_seq=seen[-1]):
            seen.append(event.seq)
        assert seen == list(range(1, 11))

    @contract_test("make_event_bus")
    async def test_resumed_run_continues_after_its_terminal_event(self, make: Make) -> None:
        bus = await make()
        await bus.publish(_ev("r", 1, EventType.RUN_INTERRUPTED))
        await bus.publish(_ev("r", 2, EventType.RUN_STARTED))
        await bus.publish(_ev("r", 3, EventType.RUN_SUCCEEDED))
        assert [e.seq async for e in bus.subscribe("r")] == [1, 2, 3]

    @contract_test("make_event_bus")
    async def test_runs_do_not_mix(self, make: Make) -> None:
        bus = await make()
        await asyncio.gather(*(bus.publish(_ev(f"run-{i}", 1)) for i in range(20)))
        for i in range(20):
            events = await bus.get_events(f"run-{i}")
            assert [e.run_id for e in events] == [f"run-{i}"]

    @contract_test("make_event_bus")
    async def test_concurrent_publishers_of_one_seq_store_it_once(self, make: Make) -> None:
        bus = await make()
        await asyncio.gather(*(bus.publish(_ev("r", 1)) for _ in range(10)))
        assert await bus.last_seq("r") == 1
