"""One lifecycle, however a run executes: the same agent run locally (`AgentRunner.execute`) and
through a queue and a worker (in memory, and on Redis) gives the same lifecycle events, in the
same order, with the same payloads (apart from timings)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from agent_runtime_core import (
    AgentRunner,
    AgentRuntime,
    EventType,
    NonRetriableError,
    RunContext,
    RunnerConfig,
    RunResult,
    register_runtime,
)
from agent_runtime_core.events import InMemoryEventBus
from agent_runtime_core.queue import InMemoryQueue
from agent_runtime_core.state import InMemoryStateStore

CONFIG = RunnerConfig(run_timeout_seconds=0.5, max_retries=2, retry_backoff_seconds=0.01, retry_jitter=0.0,
                      cancel_grace_seconds=1.0)


class Flaky(AgentRuntime):
    """Fails its first attempt (a retriable error), then succeeds."""

    key = "flaky"  # type: ignore[assignment]

    async def run(self, ctx: RunContext) -> RunResult:
        await ctx.emit(EventType.STEP_STARTED, {"step_name": "work"})
        if ctx.attempt == 1:
            raise ConnectionError("the model endpoint hung up")
        await ctx.emit(EventType.STEP_COMPLETED, {"step_name": "work"})
        return RunResult(final_output={"answer": 42})


class Broken(AgentRuntime):
    """Fails in a way no retry helps."""

    key = "broken"  # type: ignore[assignment]

    async def run(self, ctx: RunContext) -> RunResult:
        raise NonRetriableError("the prompt template is missing")


class Exhausted(AgentRuntime):
    """Fails every attempt: retried until `max_retries` is spent."""

    key = "exhausted"  # type: ignore[assignment]

    async def run(self, ctx: RunContext) -> RunResult:
        raise RuntimeError(f"attempt {ctx.attempt} failed")


class Slow(AgentRuntime):
    """Never finishes in time: every attempt times out."""

    key = "slow"  # type: ignore[assignment]

    async def run(self, ctx: RunContext) -> RunResult:
        await asyncio.sleep(30)
        return RunResult()


class Waiting(AgentRuntime):
    """Waits until it is cancelled, then stops by itself."""

    key = "waiting"  # type: ignore[assignment]

    def __init__(self) -> None:
        self.started = asyncio.Event()

    async def run(self, ctx: RunContext) -> RunResult:
        self.started.set()
        await ctx.wait_cancelled()
        return RunResult(final_output={"stopped": True})


class Asking(AgentRuntime):
    """Stops to ask a human."""

    key = "asking"  # type: ignore[assignment]

    async def run(self, ctx: RunContext) -> RunResult:
        return RunResult(interrupt={"question": "Send the email?"})


def _shape(events: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    """Each event's type and payload, without what differs from one execution to the next."""
    shaped = []
    for event in events:
        payload = dict(event.payload)
        payload.pop("delay_seconds", None)
        if "error" in payload:
            payload["error"] = {k: v for k, v in payload["error"].items() if k != "traceback"}
        shaped.append((event.type.value, payload))
    return shaped


async def _local(runner: AgentRunner, agent: AgentRuntime, waiting: Waiting) -> tuple[str, Any]:
    run_id = f"local-{agent.key}"
    task = asyncio.create_task(runner.execute(agent, run_id, "go"))
    if agent is waiting:
        await asyncio.wait_for(waiting.started.wait(), 10)
        assert await runner.cancel(run_id, reason="user pressed stop")
    result = await asyncio.wait_for(task, 30)
    return run_id, result


@contextlib.asynccontextmanager
async def _worker(runner: AgentRunner) -> AsyncIterator[None]:
    task = asyncio.create_task(runner.serve(concurrency=4, handle_signals=False))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 30)


async def _distributed(client: AgentRunner, agent: AgentRuntime, waiting: Waiting) -> tuple[str, Any]:
    run_id = await client.submit(agent.key, "go", run_id=f"queued-{agent.key}")
    if agent is waiting:
        await asyncio.wait_for(waiting.started.wait(), 10)
        assert await client.cancel(run_id, reason="user pressed stop")
    return run_id, await client.wait(run_id, timeout=30)


def _redis_runner(url: str) -> Callable[[], AgentRunner]:
    from agent_runtime_core.events import RedisEventBus
    from agent_runtime_core.queue import RedisQueue
    from agent_runtime_core.state import RedisStateStore

    return lambda: AgentRunner(CONFIG, event_bus=RedisEventBus(url), state_store=RedisStateStore(url),
                               queue=RedisQueue(url, lease_seconds=5))


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_local_and_distributed_runs_write_the_same_lifecycle(backend: str, request: pytest.FixtureRequest) -> None:
    waiting = Waiting()
    agents: list[AgentRuntime] = [Flaky(), Broken(), Exhausted(), Slow(), waiting, Asking()]
    for agent in agents:
        register_runtime(agent)

    local = AgentRunner(CONFIG, event_bus=InMemoryEventBus(), state_store=InMemoryStateStore())
    expected = {}
    for agent in agents:
        waiting.started.clear()
        run_id, result = await _local(local, agent, waiting)
        expected[agent.key] = (_shape(await local.event_bus.get_events(run_id)), result.status, result.attempts)

    if backend == "memory":
        queue, bus, store = InMemoryQueue(), InMemoryEventBus(), InMemoryStateStore()

        def make() -> AgentRunner:
            return AgentRunner(CONFIG, event_bus=bus, state_store=store, queue=queue)
    else:
        make = _redis_runner(request.getfixturevalue("redis_url"))
    client, server = make(), make()
    try:
        async with _worker(server):
            for agent in agents:
                waiting.started.clear()
                run_id, result = await _distributed(client, agent, waiting)
                events = [e async for e in client.events(run_id, follow=False)]
                got = (_shape(events), result.status, result.attempts)
                assert got == expected[agent.key], agent.key
    finally:
        for runner in {id(r): r for r in (client, server)}.values():
            for part in (runner.queue, runner.event_bus, runner.state_store):
                close = getattr(part, "close", None)
                if close is not None:
                    await close()

    # What the scenarios cover, so a change that empties them cannot pass unnoticed.
    types = {key: [t for t, _ in shape] for key, (shape, _, _) in expected.items()}
    assert types["flaky"] == ["run.started", "step.started", "run.retrying", "run.started", "step.started",
                              "step.completed", "run.succeeded"]
    assert types["broken"] == ["run.started", "run.failed"]
    assert types["exhausted"] == ["run.started", "run.retrying"] * 2 + ["run.started", "run.failed"]
    assert types["slow"][-1] == "run.failed" and types["slow"].count("run.retrying") == 2
    assert types["waiting"] == ["run.started", "run.cancelled"]
    assert types["asking"] == ["run.started", "run.interrupted"]
