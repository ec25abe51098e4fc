"""Hostile jobs never stop the runtime: a worker fed 50 good runs mixed with every poison shape
finishes all 50, records each poison run's reason, moves it to the dead letters, and is still
serving. Run against the Redis server the tests start and against the in-memory queue (issue 13).

Also here: the same property for any bytes a payload may hold (Hypothesis), and the
`agent-runtime dead-letters` command.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from agent_runtime_core import (
    AgentRunner,
    AgentRuntime,
    EventType,
    RunContext,
    RunnerConfig,
    RunResult,
    RunStatus,
    register_runtime,
)
from agent_runtime_core.cli import main
from agent_runtime_core.distributed import Worker, WorkerConfig, get_result
from agent_runtime_core.events import InMemoryEventBus, RedisEventBus
from agent_runtime_core.queue import InMemoryQueue, QueuedRun, RedisQueue
from agent_runtime_core.state import InMemoryStateStore, RedisStateStore
from agent_runtime_core.testing.hostile import hostile_bytes, poison_payloads

FAST = RunnerConfig(run_timeout_seconds=20, max_retries=0)
LIVENESS = 60.0  # seconds: a deadline on progress only, never a speed claim


class Echo(AgentRuntime):
    key = "echo"  # type: ignore[assignment]

    async def run(self, ctx: RunContext) -> RunResult:
        return RunResult(final_output={"echo": ctx.input_messages[-1]["content"]})


@dataclass
class Backends:
    kind: str
    queue: Any
    runner: AgentRunner
    closing: list[Any] = field(default_factory=list)

    async def close(self) -> None:
        for part in self.closing:
            await part.close()


def make_backends(kind: str, url: str | None = None, *, name: str = "default") -> Backends:
    if kind == "memory":
        queue: Any = InMemoryQueue(lease_seconds=10)
        runner = AgentRunner(FAST, event_bus=InMemoryEventBus(), state_store=InMemoryStateStore(), queue=queue)
        return Backends(kind, queue, runner)
    assert url is not None
    queue = RedisQueue(url, name=name, lease_seconds=10, poll_seconds=0.1)
    bus, store = RedisEventBus(url, block_seconds=0.2), RedisStateStore(url)
    return Backends(kind, queue, AgentRunner(FAST, event_bus=bus, state_store=store, queue=queue), [queue, bus, store])


@pytest.fixture(params=["memory", "redis"])
async def backends(request: pytest.FixtureRequest) -> AsyncIterator[Backends]:
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    b = make_backends(request.param, url)
    yield b
    await b.close()


@contextlib.asynccontextmanager
async def serving(worker: Worker) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(worker.serve(handle_signals=False))
    try:
        yield task
    finally:
        worker.stop(now=True)
        await asyncio.wait_for(task, 15)


async def eventually(check: Any, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + LIVENESS
    while not await check():
        assert loop.time() < deadline, f"no progress: {what}"
        await asyncio.sleep(0.02)


async def write_raw_redis_poison(url: str) -> dict[str, tuple[str, str, bool]]:
    """Jobs only a raw writer can leave in Redis. Returns run id -> (name, reason fragment,
    whether a result can be recorded under the id), for those that become dead letters."""
    import redis.asyncio as redis

    base = b"agent-runtime:{q:default}"
    client = redis.Redis.from_url(url)  # bytes in, bytes out
    try:
        # A ready entry whose job is gone, and one whose job key is not a hash: logged, counted.
        await client.zadd(base + b":ready", {b"000000000000901gone-job": -1, b"000000000000902string-job": -1})
        await client.set(base + b":job:string-job", b"not a hash")
        # A run id that is not UTF-8, and one with a newline (its payload names it too).
        for rid, member in ((b"id-\xff\xfe", b"000000000000903id-\xff\xfe"), (b"id\nnewline", b"000000000000904id\nnewline")):
            payload = json.dumps({"run_id": rid.decode("utf-8", "replace"), "agent_key": "echo"}).encode()
            await client.hset(base + b":job:" + rid, mapping={b"p": payload, b"pr": 0, b"d": 0, b"m": member})
            await client.zadd(base + b":ready", {member: 0})
        # A good payload in a job whose other fields are damaged: it runs.
        good = json.dumps({"run_id": "damaged-fields", "agent_key": "echo", "input_data": {"messages": [{"role": "user", "content": "ok"}]}})
        await client.hset(base + b":job:damaged-fields", mapping={b"p": good, b"pr": b"high", b"d": b"many", b"m": b"000000000000905damaged-fields"})
        await client.zadd(base + b":ready", {b"000000000000905damaged-fields": 0})
    finally:
        await client.aclose()
    return {
        b"id-\xff\xfe".decode("utf-8", "surrogateescape"): ("run-id-not-utf8", "not UTF-8", False),
        "id\nnewline": ("run-id-with-newline", "control characters", False),
    }


async def test_fifty_good_runs_finish_among_every_poison_shape(backends: Backends, request: pytest.FixtureRequest) -> None:
    register_runtime(Echo())
    runner, queue = backends.runner, backends.queue
    # run id -> (shape, fragment of the recorded reason, whether a result can be recorded)
    poison: dict[str, tuple[str, str, bool]] = {}
    shapes = list(poison_payloads("x", "echo"))
    good_ids: list[str] = []
    for i in range(50):
        good_ids.append(await runner.submit("echo", f"good {i}", run_id=f"good-{i}"))
        if i % 3 == 0 and shapes:
            shape = shapes.pop(0)
            run_id = f"poison-{shape}"
            payload, fragment = poison_payloads(run_id, "echo")[shape]
            assert await queue.enqueue_raw(run_id, payload)
            poison[run_id] = (shape, fragment, True)
    assert not shapes, "every shape is queued among the good runs"
    await runner.submit("no-such-agent", "x", run_id="poison-unknown-agent")
    poison["poison-unknown-agent"] = ("unknown-agent", "No agent registered under 'no-such-agent'", True)
    long_id = "L" * 1020  # a valid run id, but "run-result:" + it is over the key limit
    assert await queue.enqueue_raw(long_id, json.dumps(QueuedRun(long_id, "echo").to_dict()))
    poison[long_id] = ("run-id-too-long-for-its-result", "cannot hold a result", False)
    extra_good: list[str] = []
    if backends.kind == "redis":
        poison.update(await write_raw_redis_poison(request.getfixturevalue("redis_url")))
        extra_good.append("damaged-fields")

    worker = Worker(runner, queue, WorkerConfig(concurrency=4, poll_seconds=0.1))
    async with serving(worker) as task:
        for run_id in good_ids + extra_good:
            result = await runner.wait(run_id, timeout=LIVENESS)
            assert result.status is RunStatus.SUCCEEDED, (run_id, result.error)
        await eventually(lambda: _count(queue, len(poison)), "every poison run dead-lettered")
        assert not task.done(), "the worker is still serving"
        late = await runner.submit("echo", "after the poison", run_id="late")  # and serves the next
        assert (await runner.wait(late, timeout=LIVENESS)).final_output == {"echo": "after the poison"}
    assert worker.refused == len(poison)
    assert await queue.size() == 0  # nothing left to be delivered again, ever

    letters = {d.run_id: d for d in await queue.list_dead_letters(limit=100)}
    assert set(letters) == set(poison)
    for run_id, (shape, fragment, recordable) in poison.items():
        assert fragment in letters[run_id].reason, (shape, letters[run_id].reason)
        assert len(letters[run_id].payload_preview) < 100  # never the payload itself
        result = await get_result(runner, run_id) if recordable else None
        if recordable:
            assert result is not None and result.status is RunStatus.FAILED, shape
            assert result.error is not None and result.error.type == "InvalidInputError", shape
            assert fragment in result.error.message and not result.error.retriable, shape
            events = await runner.event_bus.get_events(run_id)
            assert events[-1].type is EventType.RUN_FAILED, shape
    if backends.kind == "redis":
        assert queue.missing_jobs == 2 and await queue.missing_count() == 2


async def _count(queue: Any, expected: int) -> bool:
    return bool(await queue.count_dead_letters() == expected)


# -- any bytes at all (Hypothesis) ----------------------------------------------------------------


async def one_poison_then_good(b: Backends, payload: bytes) -> None:
    """The property: a clear outcome for the poison run, and the next good run served."""
    register_runtime(Echo())
    assert await b.queue.enqueue_raw("p", payload)
    good = await b.runner.submit("echo", "next", run_id="g")
    worker = Worker(b.runner, b.queue, WorkerConfig(concurrency=1, poll_seconds=0.05))
    await asyncio.wait_for(worker.serve(handle_signals=False, max_runs=2), LIVENESS)
    assert (await b.runner.wait(good, timeout=LIVENESS)).status is RunStatus.SUCCEEDED
    poisoned = await get_result(b.runner, "p")
    assert poisoned is not None and poisoned.status in (RunStatus.FAILED, RunStatus.SUCCEEDED)
    if poisoned.status is RunStatus.FAILED:
        assert poisoned.error is not None and poisoned.error.type == "InvalidInputError"
        assert [d.run_id for d in await b.queue.list_dead_letters()] == ["p"]
    assert await b.queue.size() == 0


@given(payload=hostile_bytes())
def test_any_payload_bytes_leave_the_in_memory_worker_serving(payload: bytes) -> None:
    async def scenario() -> None:
        await one_poison_then_good(make_backends("memory"), payload)

    asyncio.run(scenario())


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=hostile_bytes())
def test_any_payload_bytes_leave_the_redis_worker_serving(redis_url: str, payload: bytes) -> None:
    async def scenario() -> None:
        b = make_backends("redis", redis_url, name=uuid.uuid4().hex)  # a fresh queue per example
        try:
            await b.runner.state_store.delete("run-result:p")
            await b.runner.state_store.delete("run-result:g")
            await b.runner.event_bus.delete("p")  # type: ignore[attr-defined]
            await b.runner.event_bus.delete("g")  # type: ignore[attr-defined]
            await one_poison_then_good(b, payload)
        finally:
            await b.close()

    asyncio.run(scenario())


# -- agent-runtime dead-letters --------------------------------------------------------------------


class Later(AgentRuntime):
    """The agent a dead letter named, deployed after the fact."""

    key = "later"  # type: ignore[assignment]

    async def run(self, ctx: RunContext) -> RunResult:
        return RunResult(final_output={"done": True})


def test_dead_letters_command_lists_requeues_and_deletes(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for part in ("QUEUE", "EVENT_BUS", "STATE_STORE"):
        monkeypatch.setenv(f"AGENT_RUNTIME_{part}_BACKEND", "redis")
    monkeypatch.setenv("REDIS_URL", redis_url)

    async def serve(runs: int) -> None:
        b = make_backends("redis", redis_url)
        try:
            await asyncio.wait_for(Worker(b.runner, b.queue, WorkerConfig(poll_seconds=0.05)).serve(handle_signals=False, max_runs=runs), LIVENESS)
        finally:
            await b.close()

    async def setup() -> None:
        b = make_backends("redis", redis_url)
        try:
            await b.runner.submit("later", "x", run_id="r1")  # not deployed yet
            await b.queue.enqueue_raw("r2", b"\xff secret-ish bytes")
        finally:
            await b.close()

    asyncio.run(setup())
    asyncio.run(serve(2))
    assert main(["dead-letters", "list"]) == 0
    out = capsys.readouterr().out
    assert "'r1'" in out and "No agent registered under 'later'" in out
    assert "'r2'" in out and "not UTF-8" in out and "2 dead letter(s)" in out
    assert main(["dead-letters", "list", "--json", "--limit", "1"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    listed = json.loads(line)
    assert listed["run_id"] in ("r1", "r2") and listed["reason"].startswith("InvalidInputError: ")

    register_runtime(Later())  # the fix is deployed: requeue the run that named it
    assert main(["dead-letters", "requeue", "r1"]) == 0
    assert capsys.readouterr().out.split() == ["r1"]
    asyncio.run(serve(1))

    async def result() -> RunResult | None:
        b = make_backends("redis", redis_url)
        try:
            return await get_result(b.runner, "r1")
        finally:
            await b.close()

    done = asyncio.run(result())
    assert done is not None and done.status is RunStatus.SUCCEEDED
    assert main(["dead-letters", "requeue"]) == 2  # RUN_ID... or --all
    assert "RUN_ID... or --all" in capsys.readouterr().err
    assert main(["dead-letters", "delete", "--all"]) == 0
    assert "deleted 1 dead letter(s)" in capsys.readouterr().err
    assert main(["dead-letters", "list"]) == 0
    assert "0 dead letter(s)" in capsys.readouterr().out
