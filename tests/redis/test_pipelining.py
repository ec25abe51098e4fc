"""RedisConnection's automatic pipelining: a command sent while nothing is in flight goes at once,
from its caller's task; commands issued while some are in flight go together as one pipeline;
each caller gets its own reply or error. And RedisEventBus.subscribe's round trips."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from agent_runtime_core._redis import RedisConnection
from agent_runtime_core.errors import BackendError
from agent_runtime_core.events import Event, EventType, RedisEventBus


def _spy_batches(conn: RedisConnection, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    sizes: list[int] = []
    send = conn._send

    async def spy(batch: Any) -> None:
        sizes.append(len(batch))
        await send(batch)

    monkeypatch.setattr(conn, "_send", spy)
    return sizes


async def test_a_lone_command_is_sent_at_once_without_a_task(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = RedisConnection(redis_url)
    sizes = _spy_batches(conn, monkeypatch)
    for i in range(20):
        assert await conn.execute("SET", f"k{i}", str(i)) is True
        assert await conn.execute("GET", f"k{i}") == str(i)
    assert sizes == []  # never batched: each went directly
    await conn.close()


async def test_concurrent_commands_are_batched_each_with_its_reply(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = RedisConnection(redis_url)
    sizes = _spy_batches(conn, monkeypatch)
    replies = await asyncio.gather(*(conn.execute("INCRBY", "n", str(i)) for i in range(1, 51)))
    # Each caller got its own reply: the running total just after its own increment.
    assert len(set(replies)) == 50 and max(int(r) for r in replies) == sum(range(1, 51))
    assert sum(sizes) == 49 and max(sizes) == 49  # the first went at once, the rest together
    assert await conn.execute("GET", "n") == str(sum(range(1, 51)))
    await conn.close()


async def test_writers_woken_by_a_batch_batch_again(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = RedisConnection(redis_url)
    sizes = _spy_batches(conn, monkeypatch)

    async def writer(w: int) -> None:
        for i in range(10):
            await conn.execute("SET", f"w{w}", str(i))

    await asyncio.gather(*(writer(w) for w in range(20)))
    assert sum(sizes) >= 150  # nearly every write after the first round went in a batch
    assert len(sizes) <= 30
    await conn.close()


async def test_an_error_fails_only_its_caller(redis_url: str) -> None:
    conn = RedisConnection(redis_url)
    await conn.execute("SET", "text", "not a number")
    # Alone (direct path) and in a batch: the error reaches its caller only.
    with pytest.raises(BackendError, match="not an integer"):
        await conn.call(lambda: conn.execute("INCR", "text"), "increment")

    async def incr(key: str) -> Any:
        return await conn.call(lambda: conn.execute("INCR", key), "increment")

    results = await asyncio.gather(*(incr(k) for k in ["a", "b", "text", "c", "d"]), return_exceptions=True)
    assert results[:2] == [1, 1] and results[3:] == [1, 1]
    assert isinstance(results[2], BackendError)
    await conn.close()


async def test_a_cancelled_caller_does_not_break_the_others(redis_url: str) -> None:
    conn = RedisConnection(redis_url)
    tasks = [asyncio.create_task(conn.execute("INCR", "n")) for _ in range(10)]
    await asyncio.sleep(0)
    tasks[0].cancel()  # the one sent at once
    tasks[5].cancel()  # one waiting in a batch
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[5], asyncio.CancelledError)
    assert all(isinstance(r, int) for i, r in enumerate(results) if i not in (0, 5))
    assert await conn.execute("PING") is True
    await conn.close()


async def test_subscribe_makes_one_read_per_wake_up(redis_url: str) -> None:
    bus = RedisEventBus(redis_url, block_seconds=2.0)
    reads = {"xread": 0, "xrevrange": 0}
    client = bus._conn.client
    xread, xrevrange = client.xread, client.xrevrange

    async def count_xread(*args: Any, **kwargs: Any) -> Any:
        reads["xread"] += 1
        return await xread(*args, **kwargs)

    async def count_xrevrange(*args: Any, **kwargs: Any) -> Any:
        reads["xrevrange"] += 1
        return await xrevrange(*args, **kwargs)

    client.xread, client.xrevrange = count_xread, count_xrevrange
    got: list[int] = []
    arrived = asyncio.Event()

    async def follow() -> None:
        async for event in bus.subscribe("r"):
            got.append(event.seq)
            arrived.set()

    task = asyncio.create_task(follow())
    for seq in range(1, 21):
        arrived.clear()
        kind = EventType.RUN_SUCCEEDED if seq == 20 else EventType.PROGRESS_UPDATE
        await bus.publish(Event("r", seq, kind, time.time(), {}))
        await asyncio.wait_for(arrived.wait(), 5)
    await asyncio.wait_for(task, 5)
    assert got == list(range(1, 21))
    # One blocking read per event, plus one to see that nothing follows the terminal event.
    assert reads == {"xread": 21, "xrevrange": 0}
    await bus.close()
