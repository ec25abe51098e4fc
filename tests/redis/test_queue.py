"""What only the Redis queue does, beyond the RunQueue contract (run over every queue in
tests/contracts): many runs per round trip, release, malformed payloads, persistence across a
Redis restart, and several consumers never sharing a run."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from agent_runtime_core.errors import UserError
from agent_runtime_core.queue import QueuedRun, RedisLease, RedisQueue

from .conftest import RedisServer


def run(run_id: str, priority: int = 0) -> QueuedRun:
    return QueuedRun(run_id=run_id, agent_key="agent", input_data={"messages": []}, priority=priority)



@pytest.fixture
async def queue(redis_url: str) -> AsyncIterator[RedisQueue]:
    q = RedisQueue(redis_url, lease_seconds=5)
    yield q
    await q.close()


async def test_dequeue_many_takes_several_in_one_call(queue: RedisQueue) -> None:
    for i in range(10):
        await queue.enqueue(run(f"r{i}"))
    leases = await queue.dequeue_many("w", 4, timeout=0.5)
    assert [lease.run.run_id for lease in leases] == ["r0", "r1", "r2", "r3"]
    assert len({lease.token for lease in leases}) == 4
    assert await queue.extend_many(leases) == [True] * 4
    assert await queue.size() == 10


async def test_release_does_not_count_the_delivery(queue: RedisQueue) -> None:
    await queue.enqueue(run("r"))
    lease = await queue.dequeue("w", timeout=0.5)
    assert lease is not None and await queue.release(lease)
    again = await queue.dequeue("w", timeout=0.5)
    assert again is not None and again.run.deliveries == 1


async def test_malformed_payload_comes_out_flagged_not_lost(queue: RedisQueue) -> None:
    assert await queue.enqueue_raw("bad-json", "{not json")
    assert await queue.enqueue_raw("bad-shape", json.dumps({"run_id": "bad-shape", "agent_key": 5}))
    assert await queue.enqueue_raw("other-id", json.dumps({"run_id": "x", "agent_key": "a"}))
    leases = await queue.dequeue_many("w", 3, timeout=0.5)
    assert [lease.run.run_id for lease in leases] == ["bad-json", "bad-shape", "other-id"]
    for lease in leases:
        assert isinstance(lease, RedisLease) and lease.invalid and "malformed" in lease.invalid
        assert await queue.ack(lease)


async def test_unserializable_input_is_refused_at_enqueue(queue: RedisQueue) -> None:
    with pytest.raises(UserError, match="JSON"):
        await queue.enqueue(QueuedRun("r", "a", {"when": object()}))
    assert await queue.size() == 0


async def test_consumers_never_share_a_run(queue: RedisQueue) -> None:
    n = 300
    for i in range(n):
        await queue.enqueue(run(f"r{i}"))
    seen: list[str] = []

    async def consumer(name: str) -> None:
        while True:
            leases = await queue.dequeue_many(name, 7, timeout=0.2)
            if not leases:
                return
            for lease in leases:
                seen.append(lease.run.run_id)
                assert await queue.ack(lease)

    await asyncio.gather(*(consumer(f"w{i}") for i in range(5)))
    assert sorted(seen) == sorted(f"r{i}" for i in range(n))
    assert await queue.size() == 0


async def test_queues_with_different_names_are_separate(redis_url: str) -> None:
    a, b = RedisQueue(redis_url, name="a"), RedisQueue(redis_url, name="b")
    await a.enqueue(run("r"))
    assert await b.dequeue("w", timeout=0.05) is None
    assert await a.dequeue("w", timeout=0.5) is not None
    await a.close()
    await b.close()


async def test_repr_hides_the_password() -> None:
    q = RedisQueue("redis://:hunter2secret@127.0.0.1:1/0")
    assert "hunter2secret" not in repr(q)
    await q.close()


@pytest.mark.slow
async def test_queued_runs_survive_a_redis_restart(own_redis: RedisServer) -> None:
    q = RedisQueue(own_redis.url, lease_seconds=30)
    for i in range(5):
        await q.enqueue(run(f"r{i}"))
    lease = await q.dequeue("w", timeout=0.5)
    assert lease is not None
    own_redis.restart()
    assert await q.size() == 5  # the client reconnects on its own
    assert await q.ack(lease)  # the lease survived too
    rest = await q.dequeue_many("w", 10, timeout=0.5)
    assert [lease.run.run_id for lease in rest] == ["r1", "r2", "r3", "r4"]
    await q.close()


@pytest.mark.slow
async def test_calls_wait_for_redis_to_come_back(own_redis: RedisServer) -> None:
    q = RedisQueue(own_redis.url)
    await q.enqueue(run("before"))
    own_redis.stop()
    pending = asyncio.create_task(q.enqueue(run("during")))
    await asyncio.sleep(0.5)
    assert not pending.done()  # retrying with backoff, not failed
    await asyncio.to_thread(own_redis.start)
    assert await asyncio.wait_for(pending, 15)
    assert await q.size() == 2
    await q.close()
