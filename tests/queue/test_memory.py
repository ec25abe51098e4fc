from __future__ import annotations

import asyncio

import pytest

from agent_runtime_core.errors import InvalidInputError
from agent_runtime_core.queue import InMemoryQueue, QueuedRun, RunQueue


def run(run_id: str, priority: int = 0) -> QueuedRun:
    return QueuedRun(run_id=run_id, agent_key="agent", input_data={"messages": []}, priority=priority)


async def test_protocol_and_fifo_within_priority() -> None:
    q = InMemoryQueue()
    assert isinstance(q, RunQueue)
    for i in range(3):
        assert await q.enqueue(run(f"r{i}"))
    assert await q.enqueue(run("urgent", priority=5))
    taken = [(await q.dequeue("w", timeout=0.1)) for _ in range(4)]
    assert [lease.run.run_id for lease in taken if lease] == ["urgent", "r0", "r1", "r2"]
    assert await q.dequeue("w", timeout=0.01) is None


async def test_submit_is_idempotent_while_waiting_or_leased() -> None:
    q = InMemoryQueue()
    assert await q.enqueue(run("r"))
    assert not await q.enqueue(run("r"))
    lease = await q.dequeue("w", timeout=0.1)
    assert lease is not None
    assert not await q.enqueue(run("r"))
    assert await q.ack(lease)
    assert await q.size() == 0


async def test_expired_lease_is_redelivered_and_stale_lease_cannot_ack() -> None:
    q = InMemoryQueue(lease_seconds=0.05)
    await q.enqueue(run("r"))
    first = await q.dequeue("dead-worker", timeout=0.1)
    assert first is not None and first.run.deliveries == 1
    second = await q.dequeue("live-worker", timeout=1.0)  # waits for the lease to expire
    assert second is not None and second.run.run_id == "r" and second.run.deliveries == 2
    assert not await q.ack(first)  # the dead worker's lease is stale
    assert await q.ack(second)


async def test_extend_keeps_the_lease() -> None:
    q = InMemoryQueue(lease_seconds=0.1)
    await q.enqueue(run("r"))
    lease = await q.dequeue("w", timeout=0.1)
    assert lease is not None
    for _ in range(4):
        await asyncio.sleep(0.05)
        assert await q.extend(lease)
    assert await q.dequeue("other", timeout=0.01) is None
    assert await q.ack(lease)


async def test_nack_with_delay_and_delayed_enqueue() -> None:
    q = InMemoryQueue()
    await q.enqueue(run("later"), delay_seconds=0.1)
    assert await q.dequeue("w", timeout=0.02) is None
    lease = await q.dequeue("w", timeout=1.0)
    assert lease is not None and lease.run.run_id == "later"
    assert await q.nack(lease, delay_seconds=0.05)
    again = await q.dequeue("w", timeout=1.0)
    assert again is not None and again.run.deliveries == 2


async def test_waiting_consumer_wakes_on_enqueue() -> None:
    q = InMemoryQueue()
    consumer = asyncio.create_task(q.dequeue("w", timeout=5))
    await asyncio.sleep(0.01)
    await q.enqueue(run("r"))
    lease = await asyncio.wait_for(consumer, 1)
    assert lease is not None and lease.run.run_id == "r"


def test_queued_run_round_trip_and_validation() -> None:
    item = run("r", priority=3)
    assert QueuedRun.from_dict(item.to_dict()) == item
    for bad in (None, [], {"run_id": "", "agent_key": "a"}, {"run_id": "r"}, {"run_id": "r", "agent_key": "a", "input_data": "x"}, {"run_id": "r", "agent_key": "a", "priority": "high"}):
        with pytest.raises(InvalidInputError):
            QueuedRun.from_dict(bad)
