"""What only the Redis queue does, beyond the RunQueue contract (run over every queue in
tests/contracts): many runs per round trip, release, malformed payloads, persistence across a
Redis restart, and several consumers never sharing a run."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from agent_runtime_core._secrets import register_secret
from agent_runtime_core.errors import UserError
from agent_runtime_core.queue import InMemoryQueue, QueuedRun, RedisLease, RedisQueue, RunQueue
from agent_runtime_core.queue.base import DeadLetterQueue, Lease
from agent_runtime_core.testing.hostile import poison_payloads

from .conftest import RedisServer

MakeQueue = Callable[..., RunQueue]


@pytest.fixture(params=["memory", "redis"])
async def make_queue(request: pytest.FixtureRequest) -> AsyncIterator[MakeQueue]:
    """Queues of both kinds, for what the RunQueue contract does not cover (dead letters, raw
    payloads); the Redis server is asked for only by the Redis case."""
    made: list[Any] = []
    redis_url = request.getfixturevalue("redis_url") if request.param == "redis" else ""

    def make(**kwargs: Any) -> RunQueue:
        q: Any = InMemoryQueue(**kwargs) if request.param == "memory" else RedisQueue(redis_url, **kwargs)
        made.append(q)
        return q  # type: ignore[no-any-return]

    yield make
    for q in made:
        if isinstance(q, RedisQueue):
            await q.close()


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


# -- hostile payloads and dead letters ------------------------------------------------------------


async def test_dead_letters_list_requeue_delete(make_queue: MakeQueue) -> None:
    q: Any = make_queue(max_dead_letters=3)
    assert isinstance(q, DeadLetterQueue)
    for name in ("a", "b"):
        assert await q.enqueue(run(name, priority=2))
    assert await q.enqueue_raw("raw", b'{"run_id": "raw", "agent_key": "agent", "secret": "sk-zzz-123456"}')
    register_secret("sk-zzz-123456")
    leases = [await q.dequeue("w", timeout=0.5) for _ in range(3)]
    assert all(lease is not None for lease in leases)
    stale = Lease(leases[0].run, "w", "not-the-token", leases[0].expires_at)
    assert not await q.dead_letter(stale, "stale")
    for lease in leases:
        assert await q.dead_letter(lease, f"refused {lease.run.run_id}")
    assert not await q.ack(leases[0])  # settled: no longer leased
    assert await q.size() == 0 and await q.count_dead_letters() == 3
    assert not await q.enqueue(run("a"))  # a dead letter's run id is still known
    listed = await q.list_dead_letters()
    assert [d.run_id for d in listed] == ["raw", "b", "a"]  # most recent first
    raw = listed[0]
    assert raw.reason == "refused raw" and raw.deliveries == 1 and raw.payload_bytes > 40
    assert "sk-zzz-123456" not in raw.payload_preview and raw.payload_preview.startswith('{"run_id": "raw"')
    assert await q.requeue_dead_letters(["a", "missing"]) == ["a"]
    again = await q.dequeue("w", timeout=0.5)
    assert again is not None and again.run.run_id == "a" and again.run.deliveries == 1  # counted anew
    assert await q.dead_letter(again, "again")
    assert await q.count_dead_letters() == 3
    # Over the cap the oldest dead letter goes.
    assert await q.enqueue(run("c"))
    lease = await q.dequeue("w", timeout=0.5)
    assert lease is not None and await q.dead_letter(lease, "fourth")
    assert [d.run_id for d in await q.list_dead_letters()] == ["c", "a", "raw"]
    assert await q.delete_dead_letters(["raw"]) == 1
    assert await q.requeue_dead_letters() == ["a", "c"]
    assert await q.size() == 2 and await q.count_dead_letters() == 0
    assert await q.delete_dead_letters() == 0


async def test_raw_payloads_are_read_per_run(make_queue: MakeQueue) -> None:
    q: Any = make_queue()
    poison = poison_payloads("p", "agent")
    for i, (name, (payload, _)) in enumerate(poison.items()):
        assert await q.enqueue_raw(f"p{i}", payload.replace(b'"p"', f'"p{i}"'.encode()))
        assert await q.enqueue(run(f"good{i}")), name
    seen: dict[str, Lease] = {}
    while len(seen) < 2 * len(poison):
        lease = await q.dequeue("w", timeout=1)
        assert lease is not None
        seen[lease.run.run_id] = lease
    for i, (name, (_, fragment)) in enumerate(poison.items()):
        assert seen[f"good{i}"].invalid is None, name
        bad = seen[f"p{i}"]
        if name == "five-megabytes":  # readable: the worker refuses it for its size
            assert bad.invalid is None and bad.payload_bytes > 5_000_000
        else:
            assert bad.invalid is not None and fragment in bad.invalid, (name, bad.invalid)
            assert bad.run.run_id == f"p{i}" and bad.run.deliveries == 1


async def test_a_damaged_redis_job_fails_alone(queue: RedisQueue, redis_client: Any) -> None:
    """What another writer (or a damaged AOF) may leave: none of it stops the dequeue of the rest."""
    base = "agent-runtime:{q:default}"
    good = json.dumps(run("bad-fields").to_dict())
    # A ready entry whose job is gone; one whose job key is not a hash; a run id that is not UTF-8;
    # a job whose numbers are not numbers.
    await redis_client.zadd(f"{base}:ready", {"000000000000901gone": -9, "000000000000902string": -9, "x": -9})
    await redis_client.set(f"{base}:job:string", "not a hash")
    raw_client = redis_client.__class__.from_url(queue.url)  # bytes in, bytes out
    await raw_client.zadd(f"{base}:ready".encode(), {b"000000000000903bad\xff": -9})
    await raw_client.hset(f"{base}:job:".encode() + b"bad\xff", mapping={b"p": b"{}", b"m": b"000000000000903bad\xff"})
    await raw_client.aclose()
    await redis_client.hset(f"{base}:job:bad-fields", mapping={"p": good, "pr": "high", "d": "many", "m": "000000000000904bad-fields"})
    await redis_client.zadd(f"{base}:ready", {"000000000000904bad-fields": -9})
    await queue.enqueue(run("fine"))
    leases = await queue.dequeue_many("w", 10, timeout=1)
    by_id = {lease.run.run_id: lease for lease in leases}
    assert queue.missing_jobs == 3 and await queue.missing_count() == 3  # gone, string, "x"
    bad_id = b"bad\xff".decode("utf-8", "surrogateescape")
    assert set(by_id) == {bad_id, "bad-fields", "fine"}
    assert "not UTF-8" in (by_id[bad_id].invalid or "")
    assert by_id["bad-fields"].invalid is None and by_id["bad-fields"].run.deliveries == 1
    assert by_id["fine"].invalid is None
    # The one that is not UTF-8 can still be dead-lettered, listed, requeued, and deleted.
    assert await queue.dead_letter(by_id[bad_id], "not UTF-8")
    assert [d.run_id for d in await queue.list_dead_letters()] == [bad_id]
    assert await queue.requeue_dead_letters() == [bad_id]
    again = await queue.dequeue("w", timeout=1)
    assert again is not None and again.run.run_id == bad_id
    assert await queue.dead_letter(again, "still not UTF-8") and await queue.delete_dead_letters() == 1
    # A bad-fields job given back goes to the ready set with priority 0 instead of failing.
    assert await queue.nack(by_id["bad-fields"])
    back = await queue.dequeue("w", timeout=1)
    assert back is not None and back.run.run_id == "bad-fields" and back.run.deliveries == 2
