"""What the Redis tests add to the shared fixtures of tests/conftest.py (`redis_server`,
`redis_url`, `own_redis`): a plain client to look behind the backends."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

from agent_runtime_core.testing import RedisServer

__all__ = ["RedisServer"]  # `from .conftest import RedisServer`, for the tests' annotations


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[object]:
    """A plain redis-py client on the test server, for looking behind the backends."""
    import redis.asyncio as redis

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            await client.aclose()
