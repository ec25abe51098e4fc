"""What the Redis store adds to the StateStore contract (run over every store in
tests/contracts): sharing across clients, prefixes, atomic effects, expiry, restarts."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from agent_runtime_core.errors import CorruptDataError, UserError
from agent_runtime_core.state import RedisStateStore
from agent_runtime_core.testing.hostile import hostile_keys, json_values

from .conftest import RedisServer


async def test_two_clients_share_state(redis_url: str) -> None:
    a, b = RedisStateStore(redis_url), RedisStateStore(redis_url)
    await a.save_checkpoint("run", {"step": 3})
    await a.set("k", [1])
    assert await b.get_checkpoint("run") == {"step": 3}
    assert await b.get("k") == [1]
    await a.close()
    await b.close()


async def test_prefixes_keep_deployments_apart(redis_url: str) -> None:
    a, b = RedisStateStore(redis_url, prefix="one"), RedisStateStore(redis_url, prefix="two")
    await a.set("k", 1)
    assert await b.get("k") is None
    assert await b.list_keys() == []
    await a.close()
    await b.close()


async def test_checkpoint_key_allows_atomic_effect_and_checkpoint(redis_url: str, redis_client: Any) -> None:
    store = RedisStateStore(redis_url)
    async with redis_client.pipeline(transaction=True) as pipe:
        pipe.incr("effects")
        pipe.set(store.checkpoint_key("r"), '{"effect_done": true}')
        await pipe.execute()
    assert await store.get_checkpoint("r") == {"effect_done": True}
    await store.close()


async def test_list_keys_drops_expired_entries_from_its_index(redis_url: str, redis_client: Any) -> None:
    store = RedisStateStore(redis_url)
    for i in range(5):
        await store.set(f"t:{i}", i, ttl_seconds=0.05)
    await store.set("t:keep", 1)
    await asyncio.sleep(0.15)
    assert await store.list_keys("t:") == ["t:keep"]
    assert await redis_client.zcard(f"{store.prefix}:kv-index") == 1
    await store.close()


async def test_checkpoints_may_expire(redis_url: str, redis_client: Any) -> None:
    store = RedisStateStore(redis_url, checkpoint_ttl_seconds=60)
    await store.save_checkpoint("r", {"a": 1})
    assert 0 < await redis_client.ttl(store.checkpoint_key("r")) <= 60
    assert await store.get_checkpoint("r") == {"a": 1}
    await store.close()


def test_repr_hides_the_password() -> None:
    store = RedisStateStore("redis://user:s3cretpass@127.0.0.1:1/0")
    assert "s3cretpass" not in repr(store)


@pytest.mark.slow
async def test_state_survives_a_redis_restart(own_redis: RedisServer) -> None:
    store = RedisStateStore(own_redis.url)
    await store.save_checkpoint("run", {"done": ["a"]})
    await store.set("k", 1)
    await asyncio.to_thread(own_redis.restart)
    assert await store.get_checkpoint("run") == {"done": ["a"]}
    assert await store.list_keys() == ["k"]
    await store.close()


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=hostile_keys(), value=json_values())
def test_any_key_and_value_round_trip_or_are_refused_clearly(redis_url: str, key: str, value: Any) -> None:
    async def scenario() -> None:
        s = RedisStateStore(redis_url)
        try:
            try:
                await s.set(key, value)
                await s.save_checkpoint(key, {"v": value})
            except UserError as e:
                assert str(e).isascii()
                return
            assert await s.get(key) == value and await s.get_checkpoint(key) == {"v": value}
            assert key in await s.list_keys()
        finally:
            await s.close()

    asyncio.run(scenario())


async def test_a_damaged_value_is_a_clear_corrupt_data_error(redis_url: str, redis_client: Any) -> None:
    """Values written by something else: not UTF-8, too deep. Each read fails alone, clearly."""
    import redis.asyncio as redis

    raw = redis.Redis.from_url(redis_url)
    await raw.set("agent-runtime:kv:bytes", b"\xff\xfe")
    await raw.set("agent-runtime:cp:deep", b"[" * 50_000 + b"]" * 50_000)
    await raw.aclose()
    s = RedisStateStore(redis_url)
    try:
        with pytest.raises(CorruptDataError, match="The value of 'bytes' is not UTF-8 text"):
            await s.get("bytes")
        with pytest.raises(CorruptDataError, match="The checkpoint of run 'deep' nests .* deeper than 128"):
            await s.get_checkpoint("deep")
        await s.set("fine", 1)
        assert await s.get("fine") == 1
    finally:
        await s.close()
