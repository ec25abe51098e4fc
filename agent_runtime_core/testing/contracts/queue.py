"""The `RunQueue` contract: what every run queue backend does, as pytest tests."""

from __future__ import annotations

import asyncio

from ...queue.base import QueuedRun, RunQueue
from ._harness import Backends, contract_test

__all__ = ["RunQueueContract"]

Make = Backends[RunQueue]


def _run(run_id: str, priority: int = 0) -> QueuedRun:
    return QueuedRun(run_id=run_id, agent_key="agent", input_data={"messages": []}, priority=priority)


class RunQueueContract:
    """The `RunQueue` contract, run against the backends of the `make_run_queue` fixture.

    `make_run_queue` is a plain fixture returning a factory: called (in the test's event loop)
    with no argument or with `lease_seconds=<float>`, the lease period the test needs, it returns
    a new, empty queue, or an awaitable of one. Queues made are closed at the end of the test
    (`close()`, if they have one).

    Collected where a conftest.py defines `make_run_queue` (the pytest plugin of
    `agent_runtime_core.testing.contracts`), or in a test module by subclassing:
    `class TestMyQueue(RunQueueContract): ...`.
    """

    contract_timeout: float = 60.0
    """Seconds each test may take."""

    @contract_test("make_run_queue")
    async def test_protocol_and_fifo_within_priority(self, make: Make) -> None:
        q = await make()
        assert isinstance(q, RunQueue)
        for i in range(3):
            assert await q.enqueue(_run(f"r{i}"))
        assert await q.enqueue(_run("urgent", priority=5))
        assert await q.enqueue(_run("low", priority=-1))
        taken = [(await q.dequeue("w", timeout=0.1)) for _ in range(5)]
        assert [lease.run.run_id for lease in taken if lease] == ["urgent", "r0", "r1", "r2", "low"]
        assert await q.dequeue("w", timeout=0.01) is None

    @contract_test("make_run_queue")
    async def test_submit_is_idempotent_while_waiting_or_leased(self, make: Make) -> None:
        q = await make()
        assert await q.enqueue(_run("r"))
        assert not await q.enqueue(_run("r"))
        lease = await q.dequeue("w", timeout=0.1)
        assert lease is not None
        assert not await q.enqueue(_run("r"))
        assert await q.ack(lease)
        assert await q.size() == 0

    @contract_test("make_run_queue")
    async def test_expired_lease_is_redelivered_and_stale_lease_cannot_ack(self, make: Make) -> None:
        q = await make(lease_seconds=0.1)
        await q.enqueue(_run("r"))
        first = await q.dequeue("dead-worker", timeout=0.5)
        assert first is not None and first.run.deliveries == 1
        second = await q.dequeue("live-worker", timeout=3.0)  # waits for the lease to expire
        assert second is not None and second.run.run_id == "r" and second.run.deliveries == 2
        assert not await q.ack(first)  # the dead worker's lease is stale
        assert not await q.extend(first)
        assert not await q.nack(first)
        assert await q.ack(second)

    @contract_test("make_run_queue")
    async def test_extend_keeps_the_lease(self, make: Make) -> None:
        q = await make(lease_seconds=1.0)
        await q.enqueue(_run("r"))
        lease = await q.dequeue("w", timeout=0.5)
        assert lease is not None
        for _ in range(4):
            await asyncio.sleep(0.3)  # 1.2 s in all: past the first lease period
            assert await q.extend(lease)
        assert await q.dequeue("other", timeout=0.01) is None
        assert await q.ack(lease)

    @contract_test("make_run_queue")
    async def test_nack_with_delay_and_delayed_enqueue(self, make: Make) -> None:
        q = await make()
        await q.enqueue(_run("later"), delay_seconds=0.5)
        assert await q.dequeue("w", timeout=0.02) is None
        lease = await q.dequeue("w", timeout=5.0)
        assert lease is not None and lease.run.run_id == "later"
        assert await q.nack(lease, delay_seconds=0.5)
        assert await q.dequeue("w", timeout=0.01) is None
        again = await q.dequeue("w", timeout=5.0)
        assert again is not None and again.run.deliveries == 2
        assert await q.ack(again)

    @contract_test("make_run_queue")
    async def test_waiting_consumer_wakes_on_enqueue(self, make: Make) -> None:
        q = await make()
        consumer = asyncio.create_task(q.dequeue("w", timeout=5))
        await asyncio.sleep(0.05)
        await q.enqueue(_run("r"))
        lease = await asyncio.wait_for(consumer, 2)
        assert lease is not None and lease.run.run_id == "r"

    @contract_test("make_run_queue")
    async def test_round_trip_of_the_whole_run(self, make: Make) -> None:
        q = await make()
        item = QueuedRun(
            "r", "agent", {"messages": [{"role": "user", "content": "ü"}], "x": [1]}, {"m": 1}, priority=2
        )
        await q.enqueue(item)
        lease = await q.dequeue("w", timeout=0.5)
        assert lease is not None
        got = lease.run
        assert (got.run_id, got.agent_key, got.input_data, got.metadata, got.priority) == (
            "r", "agent", item.input_data, {"m": 1}, 2
        )
