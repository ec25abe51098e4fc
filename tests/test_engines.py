"""The engine seam: `AgentRunner(engine=...)` chooses where submitted runs execute; `queue=` is the
queue engine's shorthand; the settings name the default. (Temporal's own tests: tests/temporal/.)"""

from __future__ import annotations

import asyncio

import pytest

from agent_runtime_core import (
    AgentRunner,
    EventType,
    RunnerConfig,
    RunStatus,
    UserError,
    configure,
    register_runtime,
)
from agent_runtime_core.engines import Engine, QueueEngine
from agent_runtime_core.events import InMemoryEventBus
from agent_runtime_core.queue import InMemoryQueue
from agent_runtime_core.state import InMemoryStateStore

from .test_worker import Counter

FAST = RunnerConfig(run_timeout_seconds=10, max_retries=0)


def test_queue_is_shorthand_for_the_queue_engine() -> None:
    queue = InMemoryQueue()
    runner = AgentRunner(FAST, queue=queue)
    assert isinstance(runner.engine, QueueEngine) and runner.engine.name == "queue"
    assert runner.queue is queue
    assert isinstance(runner.engine, Engine)


def test_engine_and_queue_together_are_refused() -> None:
    with pytest.raises(UserError, match="not both"):
        AgentRunner(FAST, queue=InMemoryQueue(), engine=QueueEngine())
    with pytest.raises(TypeError, match="must be an Engine"):
        AgentRunner(FAST, engine=object())  # type: ignore[arg-type]


def test_settings_choose_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    assert AgentRunner(FAST).engine.name == "queue"
    monkeypatch.setenv("AGENT_RUNTIME_ENGINE", "temporal")
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")
    monkeypatch.setenv("AGENT_RUNTIME_TEMPORAL_TASK_QUEUE", "agents")
    runner = AgentRunner(FAST)
    assert runner.engine.name == "temporal"
    assert "127.0.0.1:1" in repr(runner.engine) and "agents" in repr(runner.engine)
    with pytest.raises(UserError, match="not to a queue"):
        _ = runner.queue
    configure(engine="queue")
    assert AgentRunner(FAST).engine.name == "queue"


async def test_submit_wait_cancel_go_through_the_engine_given() -> None:
    """A runner built with `engine=QueueEngine(queue)` behaves as with `queue=`: the worker
    (another runner on the same queue) executes, the client waits and cancels through the engine."""
    counter = Counter(delay=30)
    register_runtime(counter)
    queue, bus, store = InMemoryQueue(), InMemoryEventBus(), InMemoryStateStore()
    client = AgentRunner(FAST, event_bus=bus, state_store=store, engine=QueueEngine(queue))
    server = AgentRunner(FAST, event_bus=bus, state_store=store, engine=QueueEngine(queue))
    serving = asyncio.create_task(server.serve(concurrency=2, handle_signals=False))
    try:
        run_id = await client.submit("counter", "hi")
        await asyncio.wait_for(counter.started.wait(), 5)
        assert await client.cancel(run_id, reason="enough")
        result = await client.wait(run_id, timeout=10)
        assert result.status is RunStatus.CANCELLED
        assert (await bus.get_events(run_id))[-1].type is EventType.RUN_CANCELLED
    finally:
        serving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await serving
