"""The worker on in-memory backends: submit, serve, wait, cancel, bad input, poison runs, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
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
    UserError,
    register_runtime,
)
from agent_runtime_core.distributed import (
    Worker,
    WorkerConfig,
    dead_letters,
    requeue_dead_letters,
    result_from_dict,
    result_to_dict,
)
from agent_runtime_core.errors import InvalidInputError
from agent_runtime_core.events import InMemoryEventBus
from agent_runtime_core.queue import InMemoryQueue, QueuedRun
from agent_runtime_core.state import InMemoryStateStore

FAST = RunnerConfig(run_timeout_seconds=10, max_retries=0)


class Counter(AgentRuntime):
    """Echoes its input after `delay`, counting executions per run id; checkpoints its progress."""

    key = "counter"  # type: ignore[assignment]

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.calls: dict[str, int] = {}
        self.started = asyncio.Event()

    async def run(self, ctx: RunContext) -> RunResult:
        self.calls[ctx.run_id] = self.calls.get(ctx.run_id, 0) + 1
        self.started.set()
        checkpoint = await ctx.get_checkpoint() or {}
        if not checkpoint.get("slept"):
            deadline = asyncio.get_running_loop().time() + self.delay
            while asyncio.get_running_loop().time() < deadline:
                if ctx.is_cancelled():
                    return RunResult(final_output={"stopped": True})
                await asyncio.sleep(0.01)
            await ctx.checkpoint({"slept": True})
        text = ctx.input_messages[-1]["content"] if ctx.input_messages else ""
        return RunResult(final_output={"response": text})


class Parts:
    """A client runner and a worker runner sharing one queue, event bus and state store."""

    def __init__(self, lease_seconds: float = 30.0) -> None:
        self.queue = InMemoryQueue(lease_seconds=lease_seconds)
        self.bus = InMemoryEventBus()
        self.store = InMemoryStateStore()
        self.client = self.runner()
        self.server = self.runner()

    def runner(self) -> AgentRunner:
        return AgentRunner(FAST, event_bus=self.bus, state_store=self.store, queue=self.queue)


@contextlib.asynccontextmanager
async def serving(worker: Worker) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(worker.serve(handle_signals=False))
    try:
        yield task
    finally:
        worker.stop(now=True)
        await asyncio.wait_for(task, 10)


@pytest.fixture
def parts() -> Parts:
    return Parts()


def worker(parts: Parts, **config: Any) -> Worker:
    config.setdefault("poll_seconds", 0.05)
    return Worker(parts.server, parts.queue, WorkerConfig(**config))


async def test_submit_serve_wait(parts: Parts) -> None:
    agent = Counter()
    register_runtime(agent)
    run_ids = [await parts.client.submit("counter", f"hello {i}") for i in range(20)]
    async with serving(worker(parts, concurrency=4)):
        results = [await parts.client.wait(r, timeout=10) for r in run_ids]
    assert [r.final_output["response"] for r in results] == [f"hello {i}" for i in range(20)]
    assert all(r.status is RunStatus.SUCCEEDED and r.run_id == rid for r, rid in zip(results, run_ids, strict=True))
    assert all(agent.calls[r] == 1 for r in run_ids)
    events = [e.type async for e in parts.client.events(run_ids[0])]
    assert events[0] is EventType.RUN_STARTED and events[-1] is EventType.RUN_SUCCEEDED


async def test_submit_is_idempotent_even_after_completion(parts: Parts) -> None:
    agent = Counter()
    register_runtime(agent)
    assert await parts.client.submit("counter", "x", run_id="same") == "same"
    assert await parts.client.submit("counter", "x", run_id="same") == "same"
    async with serving(worker(parts)):
        await parts.client.wait("same", timeout=5)
        assert await parts.client.submit("counter", "x", run_id="same") == "same"
        await asyncio.sleep(0.1)
    assert agent.calls == {"same": 1}


async def test_a_redelivered_finished_run_is_acked_without_running_again(parts: Parts) -> None:
    agent = Counter()
    register_runtime(agent)
    async with serving(worker(parts)):
        await parts.client.submit("counter", "x", run_id="r")
        await parts.client.wait("r", timeout=5)
        # As if a worker died after recording the result but before acking: delivered again.
        await parts.queue.enqueue(QueuedRun("r", "counter", {"messages": []}))
        for _ in range(100):
            if await parts.queue.size() == 0:
                break
            await asyncio.sleep(0.01)
    assert await parts.queue.size() == 0
    assert agent.calls == {"r": 1}


async def test_bad_runs_fail_clearly_and_the_worker_keeps_serving(parts: Parts) -> None:
    register_runtime(Counter())
    await parts.queue.enqueue(QueuedRun("unknown", "no-such-agent", {"messages": []}))
    await parts.queue.enqueue(QueuedRun("huge", "counter", {"messages": [{"role": "user", "content": "x" * 5000}]}))
    await parts.queue.enqueue(QueuedRun("poison", "counter", {"messages": []}, deliveries=3))
    good = await parts.client.submit("counter", "fine")
    async with serving(worker(parts, max_input_bytes=1000, max_deliveries=3)):
        unknown = await parts.client.wait("unknown", timeout=5)
        huge = await parts.client.wait("huge", timeout=5)
        poison = await parts.client.wait("poison", timeout=5)
        fine = await parts.client.wait(good, timeout=5)
    assert unknown.status is RunStatus.FAILED and unknown.error is not None
    assert unknown.error.type == "InvalidInputError" and "no-such-agent" in unknown.error.message
    assert huge.status is RunStatus.FAILED and huge.error is not None and "max_input_bytes" in huge.error.message
    assert poison.status is RunStatus.FAILED and poison.error is not None
    assert poison.error.type == "PoisonRunError" and poison.error.details["deliveries"] == 4
    assert fine.status is RunStatus.SUCCEEDED
    events = [e.type for e in await parts.bus.get_events("unknown")]
    assert events == [EventType.RUN_STARTED, EventType.RUN_FAILED]


async def test_submit_refuses_bad_input_at_once(parts: Parts) -> None:
    with pytest.raises(InvalidInputError, match="max_input_bytes"):
        await parts.client.submit("counter", "x" * 100, max_input_bytes=50)
    with pytest.raises(InvalidInputError):
        await parts.client.submit("counter", 42)  # type: ignore[arg-type]
    with pytest.raises(UserError):
        await parts.client.submit("", "x")
    assert await parts.queue.size() == 0


async def test_cancel_reaches_a_run_on_a_worker_from_another_runner(parts: Parts) -> None:
    agent = Counter(delay=30)
    register_runtime(agent)
    run_id = await parts.client.submit("counter", "x")
    async with serving(worker(parts)):
        await asyncio.wait_for(agent.started.wait(), 5)
        assert not parts.client.is_running(run_id)
        assert await parts.client.cancel(run_id, reason="user pressed stop")
        result = await parts.client.wait(run_id, timeout=5)
    assert result.status is RunStatus.CANCELLED
    assert result.error is not None and result.error.message == "user pressed stop"
    assert not await parts.client.cancel(run_id)  # finished: nothing to cancel


async def test_cancel_before_start_records_cancelled_without_running(parts: Parts) -> None:
    agent = Counter()
    register_runtime(agent)
    run_id = await parts.client.submit("counter", "x")
    assert await parts.client.cancel(run_id)
    async with serving(worker(parts)):
        result = await parts.client.wait(run_id, timeout=5)
    assert result.status is RunStatus.CANCELLED and agent.calls == {}


async def test_cancel_without_a_queue_in_use_is_false() -> None:
    assert await AgentRunner().cancel("nope") is False


async def test_graceful_stop_lets_runs_finish(parts: Parts) -> None:
    agent = Counter(delay=0.3)
    register_runtime(agent)
    run_id = await parts.client.submit("counter", "x")
    w = worker(parts, shutdown_grace_seconds=5)
    task = asyncio.create_task(w.serve(handle_signals=False))
    await asyncio.wait_for(agent.started.wait(), 5)
    w.stop()
    await asyncio.wait_for(task, 10)
    assert (await parts.client.wait(run_id, timeout=1)).status is RunStatus.SUCCEEDED


async def test_stop_past_the_grace_releases_runs_for_another_worker(parts: Parts) -> None:
    agent = Counter(delay=30)
    register_runtime(agent)
    run_id = await parts.client.submit("counter", "x")
    w = worker(parts, shutdown_grace_seconds=0.1)
    task = asyncio.create_task(w.serve(handle_signals=False))
    await asyncio.wait_for(agent.started.wait(), 5)
    w.stop()
    await asyncio.wait_for(task, 10)
    assert await parts.queue.size() == 1  # released, not lost
    events = [e.type for e in await parts.bus.get_events(run_id)]
    assert EventType.RUN_CANCELLED not in events and EventType.RUN_FAILED not in events
    agent.delay = 0
    async with serving(worker(parts)):
        result = await parts.client.wait(run_id, timeout=5)
    assert result.status is RunStatus.SUCCEEDED and agent.calls[run_id] == 2


async def test_a_lost_lease_stops_the_run_here() -> None:
    parts = Parts(lease_seconds=0.3)
    agent = Counter(delay=30)
    register_runtime(agent)
    run_id = await parts.client.submit("counter", "x")
    w = worker(parts, heartbeat_seconds=0.5, concurrency=1)  # too slow: the lease expires first
    async with serving(w):
        await asyncio.wait_for(agent.started.wait(), 5)
        lease = await parts.queue.dequeue("thief", timeout=2)  # another worker takes it over
        assert lease is not None and lease.run.run_id == run_id
        for _ in range(200):
            if not w._held:
                break
            await asyncio.sleep(0.01)
        assert not w._held and not parts.server.is_running(run_id)
    assert await parts.store.get(f"run-result:{run_id}") is None  # nothing recorded by the loser


async def test_serve_through_the_runner_with_max_runs(parts: Parts) -> None:
    register_runtime(Counter())
    ids = [await parts.client.submit("counter", "x") for _ in range(3)]
    await asyncio.wait_for(parts.server.serve(concurrency=2, handle_signals=False, max_runs=3), 10)
    for run_id in ids:
        assert (await parts.client.wait(run_id, timeout=1)).succeeded


async def test_wait_times_out_with_a_helpful_message(parts: Parts) -> None:
    with pytest.raises(TimeoutError, match="workers running"):
        await parts.client.wait("never", timeout=0.05)


def test_result_round_trip() -> None:
    result = RunResult(final_output={"a": 1}, run_id="r", status=RunStatus.SUCCEEDED, attempts=2)
    back = result_from_dict(result_to_dict(result))
    assert (back.final_output, back.run_id, back.status, back.attempts) == ({"a": 1}, "r", RunStatus.SUCCEEDED, 2)


def test_worker_config_is_checked() -> None:
    with pytest.raises(UserError, match="concurrency"):
        WorkerConfig(concurrency=0)
    with pytest.raises(UserError, match="max_deliveries"):
        WorkerConfig(max_deliveries=0)


async def test_a_run_re_leased_to_its_own_worker_is_acked_under_the_new_lease() -> None:
    from agent_runtime_core import (
        AgentRunner,
        AgentRuntime,
        RunResult,
        RunStatus,
        register_runtime,
    )

    class Slow(AgentRuntime):
        key = "slow-lease"  # type: ignore[assignment]

        async def run(self, ctx: RunContext) -> RunResult:
            await asyncio.sleep(0.5)  # outlives the lease: no heartbeat comes in time
            return RunResult(final_output={"ok": 1})

    register_runtime(Slow())
    queue = InMemoryQueue(lease_seconds=0.2)
    runner = AgentRunner(queue=queue)
    worker = Worker(runner, queue, WorkerConfig(concurrency=2, heartbeat_seconds=60, poll_seconds=0.05))
    serving = asyncio.create_task(worker.serve(handle_signals=False))
    try:
        run_id = await runner.submit("slow-lease", "hi")
        assert (await runner.wait(run_id, timeout=5)).status is RunStatus.SUCCEEDED
        await asyncio.sleep(0.05)
        assert await queue.size() == 0  # acked: not left to be delivered again
    finally:
        worker.stop(now=True)
        await serving


async def test_cancelling_serve_twice_still_stops_everything() -> None:
    from agent_runtime_core import (
        AgentRunner,
        AgentRuntime,
        RunResult,
        register_runtime,
    )

    class Slow(AgentRuntime):
        key = "slow-serve"  # type: ignore[assignment]

        async def run(self, ctx: RunContext) -> RunResult:
            await asyncio.sleep(3)
            return RunResult()

    register_runtime(Slow())
    runner = AgentRunner(queue=InMemoryQueue())
    serving = asyncio.create_task(runner.serve(concurrency=2, handle_signals=False))
    await runner.submit("slow-serve", "hi")
    await asyncio.sleep(0.2)
    serving.cancel()
    await asyncio.sleep(0.1)
    serving.cancel()  # lands inside the graceful shutdown
    await asyncio.gather(serving, return_exceptions=True)
    await asyncio.sleep(0.1)
    left = [t.get_name() for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert not any(name.startswith(("heartbeat:", "run:", "agent-run:")) for name in left), left


class GlitchyQueue(InMemoryQueue):
    """Its first `glitches` dequeues raise something nobody foresaw (a bug, a strange reply)."""

    def __init__(self, glitches: int) -> None:
        super().__init__()
        self.glitches = glitches

    async def dequeue(self, worker_id: str, *, timeout: float | None = None) -> Any:
        if self.glitches:
            self.glitches -= 1
            raise RuntimeError("glitch in the queue")
        return await super().dequeue(worker_id, timeout=timeout)


async def test_an_unexpected_error_while_taking_runs_is_logged_and_serving_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    register_runtime(Counter())
    queue = GlitchyQueue(glitches=3)
    runner = AgentRunner(FAST, queue=queue)
    run_id = await runner.submit("counter", "still served")
    async with serving(Worker(runner, queue, WorkerConfig(poll_seconds=0.05))):
        result = await runner.wait(run_id, timeout=10)
    assert result.final_output == {"response": "still served"} and queue.glitches == 0
    logged = [r for r in caplog.records if "unexpected error while taking runs" in r.getMessage()]
    assert len(logged) == 3 and "RuntimeError: glitch in the queue" in logged[0].getMessage()


class CursedBus(InMemoryEventBus):
    """Fails every call about one run id, with an error that is not an outage."""

    async def last_seq(self, run_id: str) -> int:
        if run_id == "cursed":
            raise RuntimeError("this run's events are cursed")
        return await super().last_seq(run_id)


async def test_a_run_whose_handling_raises_is_refused_and_the_next_is_served(parts: Parts) -> None:
    register_runtime(Counter())
    bus = CursedBus()
    runner = AgentRunner(FAST, event_bus=bus, state_store=parts.store, queue=parts.queue)
    await runner.submit("counter", "x", run_id="cursed")
    good = await runner.submit("counter", "fine")
    worker = Worker(runner, parts.queue, WorkerConfig(poll_seconds=0.05))
    async with serving(worker) as task:
        assert (await runner.wait(good, timeout=10)).status is RunStatus.SUCCEEDED
        cursed = await runner.wait("cursed", timeout=10)  # recorded, though its events are not
        assert not task.done()
    assert cursed.status is RunStatus.FAILED and cursed.error is not None
    assert cursed.error.type == "RuntimeError" and "cursed" in cursed.error.message
    (letter,) = await parts.queue.list_dead_letters()
    assert letter.run_id == "cursed" and letter.reason.startswith("RuntimeError: this run's events are cursed")
    assert worker.refused == 1 and await parts.queue.size() == 0


async def test_refused_runs_go_to_the_dead_letters_and_can_be_requeued(parts: Parts) -> None:
    await parts.client.submit("later", "x", run_id="early")  # the agent is not deployed yet
    async with serving(worker(parts)):
        first = await parts.client.wait("early", timeout=5)
        assert first.status is RunStatus.FAILED and first.error is not None
        assert "No agent registered under 'later'" in first.error.message
        (letter,) = await dead_letters(parts.client)
        assert letter.run_id == "early" and letter.reason.startswith("InvalidInputError: No agent")

        class Later(Counter):
            key = "later"  # type: ignore[assignment]

        register_runtime(Later())
        assert await requeue_dead_letters(parts.client) == ["early"]
        assert await dead_letters(parts.client) == []
        second = await parts.client.wait("early", timeout=5)
    assert second.status is RunStatus.SUCCEEDED and second.final_output == {"response": "x"}
