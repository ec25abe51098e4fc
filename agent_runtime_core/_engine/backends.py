"""The backends a runner uses when it is given none: those named by `configure()`."""

from __future__ import annotations

from ..config import get_config
from ..errors import UserError
from ..events.base import EventBus
from ..queue.base import RunQueue
from ..state.base import StateStore

__all__ = ["default_event_bus", "default_queue", "default_state_store"]


def default_event_bus() -> EventBus:
    config = get_config()
    backend = config.event_bus_backend
    if backend == "memory":
        from ..events.memory import InMemoryEventBus

        return InMemoryEventBus()
    if backend == "redis":
        from ..events.redis import RedisEventBus

        return RedisEventBus(redis_url=config.redis_url)
    raise UserError(
        f"event_bus_backend={backend!r} has no implementation in this release; pass "
        "`event_bus=` to AgentRunner or configure(event_bus_backend='memory')."
    )


def default_queue() -> RunQueue:
    config = get_config()
    if config.queue_backend == "redis":
        from ..queue.redis import RedisQueue

        return RedisQueue(redis_url=config.redis_url)
    from ..queue.memory import InMemoryQueue

    return InMemoryQueue()


def default_state_store() -> StateStore:
    config = get_config()
    if config.state_store_backend == "memory":
        from ..state.memory import InMemoryStateStore

        return InMemoryStateStore()
    if config.state_store_backend == "sqlite":
        from ..state.sqlite import SQLiteStateStore

        return SQLiteStateStore(config.sqlite_path)
    if config.state_store_backend == "redis":
        from ..state.redis import RedisStateStore

        return RedisStateStore(redis_url=config.redis_url)
    raise UserError(
        f"state_store_backend={config.state_store_backend!r} has no implementation in this "
        "release; pass `state_store=` to AgentRunner or configure 'memory' or 'sqlite'."
    )
