"""What the in-memory bus adds to the EventBus contract (run over every bus in tests/contracts),
and the Event type itself."""

from __future__ import annotations

import time

import pytest

from agent_runtime_core.events import Event, EventType, InMemoryEventBus


def ev(run_id: str, seq: int, type_: EventType = EventType.PROGRESS_UPDATE) -> Event:
    return Event(run_id, seq, type_, time.time(), {"n": seq})


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
