"""Workers on the Redis backends, in this process: results, bad input, poison runs, cancellation,
configuration by `configure()`, and the event stream seen by a reconnecting subscriber."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agent_runtime_core import (
    AgentRunner,
    AgentRuntime,
    EventType,
    RunContext,
    RunnerConfig,
    RunResult,
    RunStatus,
    configure,
    register_runtime,
)
from agent_runtime_core.distributed import Worker, WorkerConfig
from agent_runtime_core.errors import InvalidInputError
from agent_runtime_core.events import RedisEventBus
from agent_runtime_core.queue import QueuedRun, RedisQueue
from agent_runtime_core.state import RedisStateStore

FAST = RunnerConfig(run_timeout_seconds=20, max_retries=0)


class Talker(AgentRuntime):
    """Emits `events` progress events `pause` seconds apart, or waits to be cancelled."""

    key = "talker"  # type: ignore[assignment]

    def __init__(self, events: int = 3, pause: float = 0.0, forever: bool = False) -> None:
        self.events, self.pause, self.forever = events, pause, forever
        self.started = asyncio.Event()
        self.calls = 0

    async def run(self, ctx: RunContext) -> RunResult:
        self.calls += 1
        self.started.set()
        while self.forever and not ctx.is_cancelled():
            await asyncio.sleep(0.01)
        for i in range(self.events):
            await ctx.emit(EventType.PROGRESS_UPDATE, {"percent": i})
            await asyncio.sleep(self.pause)
        return RunResult(final_output={"said": self.events})


class Backends:
    def __init__(self, url: str, lease_seconds: float = 10.0) -> None:
        self.url = url
        self.lease_seconds = lease_seconds
        self.closing: list[Any] = []

    def runner(self) -> AgentRunner:
        queue = RedisQueue(self.url, lease_seconds=self.lease_seconds, poll_seconds=0.2)
        bus = RedisEventBus(self.url, block_seconds=0.5)
        store = RedisStateStore(self.url)
        self.closing += [queue, bus, store]
        return AgentRunner(FAST, event_bus=bus, state_store=store, queue=queue)

    async def close(self) -> None:
        for part in self.closing:
            await part.close()


@pytest.fixture
async def backends(redis_url: str) -> AsyncIterator[Backends]:
    b = Backends(redis_url)
    yield b
    await b.close()


@contextlib.asynccontextmanager
async def serving(runner: AgentRunner, **config: Any) -> AsyncIterator[Worker]:
    config.setdefault("poll_seconds", 0.2)
    worker = Worker(runner, runner.queue, WorkerConfig(**config))
    task = asyncio.create_task(worker.serve(handle_signals=False))
    try:
        yield worker
    finally:
        worker.stop(now=True)
        await asyncio.wait_for(task, 15)


async def test_submit_serve_wait_on_redis(backends: Backends) -> None:
    register_runtime(Talker())
    client, server = backends.runner(), backends.runner()
    ids = [await client.submit("talker", f"hi {i}") for i in range(30)]
    async with serving(server, concurrency=8):
        results = [await client.wait(r, timeout=20) for r in ids]
    assert all(r.status is RunStatus.SUCCEEDED for r in results)
    types = [e.type for e in await client.event_bus.get_events(ids[0])]
    assert types == [EventType.RUN_STARTED] + [EventType.PROGRESS_UPDATE] * 3 + [EventType.RUN_SUCCEEDED]
    assert await client.queue.size() == 0


async def test_bad_input_fails_the_run_and_the_worker_keeps_serving(backends: Backends) -> None:
    register_runtime(Talker())
    client, server = backends.runner(), backends.runner()
    queue = client.queue
    assert isinstance(queue, RedisQueue)
    await client.submit("no-such-agent", "x", run_id="unknown")
    await queue.enqueue_raw("garbage", "\x00{not json")
    await queue.enqueue_raw("wrong-shape", json.dumps({"run_id": "wrong-shape", "agent_key": "talker", "input_data": "text"}))
    await queue.enqueue(QueuedRun("huge", "talker", {"messages": [{"role": "user", "content": "x" * 20_000}]}))
    with pytest.raises(InvalidInputError, match="max_input_bytes"):
        await client.submit("talker", "x" * 2_000_000)
    good = await client.submit("talker", "fine")
    async with serving(server, max_input_bytes=10_000):
        outcomes = {r: await client.wait(r, timeout=20) for r in ("unknown", "garbage", "wrong-shape", "huge", good)}
    for run_id in ("unknown", "garbage", "wrong-shape", "huge"):
        result = outcomes[run_id]
        assert result.status is RunStatus.FAILED and result.error is not None, run_id
        assert result.error.type == "InvalidInputError" and not result.error.retriable, run_id
        events = await client.event_bus.get_events(run_id)
        assert events[-1].type is EventType.RUN_FAILED, run_id
    assert "Registered: 'talker'" in (outcomes["unknown"].error.message if outcomes["unknown"].error else "")
    assert "malformed" in (outcomes["garbage"].error.message if outcomes["garbage"].error else "")
    assert "10000" in (outcomes["huge"].error.message if outcomes["huge"].error else "")
    assert outcomes[good].status is RunStatus.SUCCEEDED
    assert await queue.size() == 0


async def test_poison_run_is_kept_as_failed(redis_url: str) -> None:
    backends = Backends(redis_url, lease_seconds=0.3)
    register_runtime(Talker())
    client = backends.runner()
    queue = client.queue
    assert isinstance(queue, RedisQueue)
    await client.submit("talker", "x", run_id="poison")
    for _ in range(3):  # three workers take it and die without a word
        lease = await queue.dequeue("doomed", timeout=5)
        assert lease is not None
    async with serving(backends.runner(), max_deliveries=3):
        result = await client.wait("poison", timeout=20)
    assert result.status is RunStatus.FAILED and result.error is not None
    assert result.error.type == "PoisonRunError" and result.error.details["deliveries"] == 4
    assert await queue.size() == 0
    await backends.close()


async def test_cancel_from_another_process_reaches_the_worker(backends: Backends) -> None:
    agent = Talker(forever=True)
    register_runtime(agent)
    client, server = backends.runner(), backends.runner()
    run_id = await client.submit("talker", "x")
    async with serving(server):
        await asyncio.wait_for(agent.started.wait(), 10)
        assert await client.cancel(run_id, reason="stop it")
        result = await client.wait(run_id, timeout=10)
    assert result.status is RunStatus.CANCELLED and result.error is not None
    assert result.error.message == "stop it"
    assert not await client.cancel(run_id)


async def test_cancel_of_a_queued_run_is_recorded_by_the_worker(backends: Backends) -> None:
    agent = Talker()
    register_runtime(agent)
    client, server = backends.runner(), backends.runner()
    run_id = await client.submit("talker", "x")
    assert await client.cancel(run_id, reason="changed my mind")
    async with serving(server):
        result = await client.wait(run_id, timeout=10)
    assert result.status is RunStatus.CANCELLED and agent.calls == 0
    assert [e.type for e in await client.event_bus.get_events(run_id)] == [EventType.RUN_CANCELLED]


async def test_backends_from_configure(redis_url: str) -> None:
    configure(queue_backend="redis", event_bus_backend="redis", state_store_backend="redis", redis_url=redis_url)
    register_runtime(Talker(events=1))
    client, server = AgentRunner(FAST), AgentRunner(FAST)
    assert isinstance(client.queue, RedisQueue)
    assert isinstance(client.event_bus, RedisEventBus) and isinstance(client.state_store, RedisStateStore)
    run_id = await client.submit("talker", "x")
    async with serving(server):
        assert (await client.wait(run_id, timeout=10)).succeeded
    for runner in (client, server):
        for part in (runner.queue, runner.event_bus, runner.state_store):
            await part.close()  # type: ignore[attr-defined]


async def test_subscriber_dropped_and_reconnected_mid_run_sees_every_event_once(
    backends: Backends, redis_client: Any
) -> None:
    register_runtime(Talker(events=60, pause=0.01))
    client, server = backends.runner(), backends.runner()
    run_id = await client.submit("talker", "x")
    seen: list[int] = []
    async with serving(server):
        # First connection: read ten events, then drop it.
        async for event in client.events(run_id):
            seen.append(event.seq)
            if len(seen) == 10:
                break
        # Second connection, a new client: its socket is killed under it mid-stream as well.
        bus = RedisEventBus(backends.url, block_seconds=0.5)
        killed = False
        async for event in bus.subscribe(run_id, after_seq=seen[-1]):
            seen.append(event.seq)
            if len(seen) == 30 and not killed:
                killed = True
                await redis_client.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
        await bus.close()
        assert (await client.wait(run_id, timeout=20)).succeeded
    assert killed
    assert seen == list(range(1, 63))  # RUN_STARTED, 60 updates, RUN_SUCCEEDED: no gap, no repeat
