"""The backend contracts (`agent_runtime_core.testing.contracts`) over every backend we ship.

The contracts' pytest plugin collects them here because this file defines their factory
fixtures, parametrized by backend: `EventBusContract::test_...[memory]`, `[redis]`, and so on.
Only the Redis cases start a Redis server (`redis_url` is asked for when one is needed).
What a single backend adds to its contract is tested next to it: tests/events, tests/queue,
tests/state and tests/redis.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from agent_runtime_core.events import EventBus, InMemoryEventBus, RedisEventBus
from agent_runtime_core.queue import InMemoryQueue, RedisQueue, RunQueue
from agent_runtime_core.state import (
    InMemoryStateStore,
    RedisStateStore,
    SQLiteStateStore,
    StateStore,
)


@pytest.fixture(params=["memory", "redis"])
def make_event_bus(request: pytest.FixtureRequest) -> Callable[[], EventBus]:
    if request.param == "memory":
        return InMemoryEventBus
    url: str = request.getfixturevalue("redis_url")
    return lambda: RedisEventBus(url, block_seconds=0.5)


@pytest.fixture(params=["memory", "redis"])
def make_run_queue(request: pytest.FixtureRequest) -> Callable[..., RunQueue]:
    if request.param == "memory":
        return InMemoryQueue
    url: str = request.getfixturevalue("redis_url")
    return lambda **options: RedisQueue(url, **options)


@pytest.fixture(params=["memory", "sqlite", "redis"])
def make_state_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], StateStore]:
    if request.param == "memory":
        return InMemoryStateStore
    if request.param == "sqlite":
        return lambda: SQLiteStateStore(tmp_path / "s.db")
    url: str = request.getfixturevalue("redis_url")
    return lambda: RedisStateStore(url)
