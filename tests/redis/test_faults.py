"""Fault tests with real worker processes: SIGKILL mid-run, Redis restarted mid-stream, SIGTERM
shutdown, and the CLI from end to end. Every process is killed by PID in `finally`."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent_runtime_core import AgentRunner, RunStatus
from agent_runtime_core.events import RedisEventBus
from agent_runtime_core.queue import RedisQueue
from agent_runtime_core.state import RedisStateStore

from .conftest import RedisServer

pytestmark = [pytest.mark.slow, pytest.mark.subprocess, pytest.mark.timeout(90)]

APP = '''
"""Worker app of the fault tests: agent `work` counts starts and effects per run in Redis."""
import asyncio, json, os, random

import redis.asyncio as redis

from agent_runtime_core import AgentRunner, AgentRuntime, RunContext, RunnerConfig, RunResult, register_runtime
from agent_runtime_core.events import RedisEventBus
from agent_runtime_core.queue import RedisQueue
from agent_runtime_core.state import RedisStateStore

URL = os.environ["TEST_REDIS_URL"]
LEASE = float(os.environ.get("TEST_LEASE_SECONDS", "3"))
WORK = float(os.environ.get("TEST_WORK_SECONDS", "0.5"))
store = RedisStateStore(URL)
runner = AgentRunner(
    # Retries cover the agent's own Redis calls failing while Redis restarts.
    RunnerConfig(run_timeout_seconds=60, max_retries=10, retry_backoff_seconds=0.2, retry_backoff_max_seconds=1),
    event_bus=RedisEventBus(URL),
    state_store=store,
    queue=RedisQueue(URL, lease_seconds=LEASE, poll_seconds=0.2),
)
_client = None


def client():
    global _client
    if _client is None:
        _client = redis.Redis.from_url(URL, decode_responses=True)
    return _client


class Work(AgentRuntime):
    key = "work"

    async def run(self, ctx: RunContext) -> RunResult:
        r = client()
        pid = str(os.getpid())
        await r.incr(f"starts:{ctx.run_id}")
        await r.sadd(f"running:{pid}", ctx.run_id)
        checkpoint = await ctx.get_checkpoint()
        if not checkpoint:
            await asyncio.sleep(random.uniform(0.5, 1.5) * WORK)
            # The side effect and the checkpoint that records it, in one transaction: a run
            # delivered again after a crash sees both or neither, so the effect happens once.
            async with r.pipeline(transaction=True) as pipe:
                pipe.incr(f"effects:{ctx.run_id}")
                pipe.set(store.checkpoint_key(ctx.run_id), json.dumps({"effect": True}))
                await pipe.execute()
        await asyncio.sleep(0.05 * WORK)
        await r.srem(f"running:{pid}", ctx.run_id)
        return RunResult(final_output={"done": ctx.run_id})


class Sleepy(AgentRuntime):
    key = "sleepy"

    async def run(self, ctx: RunContext) -> RunResult:
        await client().incr(f"starts:{ctx.run_id}")
        seconds = float(ctx.input_data.get("seconds", 30))
        waited = 0.0
        while waited < seconds and not ctx.is_cancelled():
            await asyncio.sleep(0.05)
            waited += 0.05
        return RunResult(final_output={"slept": round(waited, 1), "stopped": ctx.is_cancelled()})


register_runtime(Work())
register_runtime(Sleepy())
'''


class Workers:
    """Worker processes started with `agent-runtime worker` (via `python -m`)."""

    def __init__(self, tmp_path: Path, redis_url: str, python: str, env: dict[str, str]) -> None:
        self.tmp_path = tmp_path
        (tmp_path / "fault_app.py").write_text(APP)
        self.env = {**env, "TEST_REDIS_URL": redis_url}
        self.python = python
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, concurrency: int = 5, *extra: str, **env: str) -> subprocess.Popen[bytes]:
        log = open(self.tmp_path / f"worker-{len(self.procs)}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [self.python, "-m", "agent_runtime_core.cli", "worker", "--app", "fault_app",
             "--concurrency", str(concurrency), "--log-level", "WARNING", *extra],
            cwd=self.tmp_path,
            env={**self.env, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.procs.append(proc)
        return proc

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.tmp_path.glob("worker-*.log")))


@pytest.fixture
def workers_factory(tmp_path: Path, python: str, subprocess_env: dict[str, str]) -> Iterator[Any]:
    made: list[Workers] = []

    def make(redis_url: str) -> Workers:
        w = Workers(tmp_path, redis_url, python, subprocess_env)
        made.append(w)
        return w

    yield make
    for w in made:
        w.kill_all()


def client_runner(url: str) -> AgentRunner:
    return AgentRunner(
        event_bus=RedisEventBus(url, block_seconds=0.5),
        state_store=RedisStateStore(url),
        queue=RedisQueue(url),
    )


async def close(runner: AgentRunner) -> None:
    for part in (runner.queue, runner.event_bus, runner.state_store):
        await part.close()  # type: ignore[attr-defined]


async def wait_until(predicate: Any, timeout: float, what: str, workers: Workers | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.05)
    logs = workers.logs() if workers is not None else ""
    pytest.fail(f"timed out after {timeout}s waiting for {what}\n{logs}")


async def test_sigkill_mid_run_twice_loses_nothing_and_repeats_nothing(
    redis_url: str, redis_client: Any, workers_factory: Any
) -> None:
    n = 200
    workers = workers_factory(redis_url)
    procs = [workers.start(5) for _ in range(3)]
    client = client_runner(redis_url)
    try:
        ids = [await client.submit("work", f"job {i}", run_id=f"run-{i:03d}") for i in range(n)]
        victim = procs[0]
        for _ in range(2):
            # Kill the victim while it holds runs that have not finished.
            pid = victim.pid

            async def busy(pid: int = pid) -> bool:
                return int(await redis_client.scard(f"running:{pid}")) >= 2

            await wait_until(busy, 30, f"worker {pid} to be mid-run", workers)
            os.kill(pid, signal.SIGKILL)
            victim.wait(timeout=10)
            victim = workers.start(5)  # a replacement comes up, as a supervisor would do

        results = await asyncio.wait_for(asyncio.gather(*(client.wait(r, timeout=75) for r in ids)), 80)
        assert [r.status for r in results] == [RunStatus.SUCCEEDED] * n, workers.logs()
        effects = [int(v or 0) for v in await redis_client.mget([f"effects:{r}" for r in ids])]
        assert effects == [1] * n  # none twice, none lost
        starts = [int(v or 0) for v in await redis_client.mget([f"starts:{r}" for r in ids])]
        assert sum(1 for s in starts if s > 1) >= 2  # the killed runs really ran again elsewhere
        assert await client.queue.size() == 0
        for r in ids[:5]:
            seqs = [e.seq for e in await client.event_bus.get_events(r)]
            assert seqs == list(range(1, len(seqs) + 1))
    finally:
        workers.kill_all()
        await close(client)


async def test_redis_restart_mid_stream_workers_recover_and_finish(
    own_redis: RedisServer, workers_factory: Any
) -> None:
    import redis.asyncio as redis

    n = 60
    workers = workers_factory(own_redis.url)
    for _ in range(2):
        workers.start(5, TEST_LEASE_SECONDS="15", TEST_WORK_SECONDS="0.4")
    client = client_runner(own_redis.url)
    follower = RedisEventBus(own_redis.url, block_seconds=0.5)
    try:
        ids = [await client.submit("work", f"job {i}", run_id=f"r-{i:02d}") for i in range(n)]
        seen: list[int] = []

        async def follow() -> None:
            async for event in follower.subscribe(ids[-1]):
                seen.append(event.seq)

        following = asyncio.create_task(follow())
        raw = redis.Redis.from_url(own_redis.url, decode_responses=True)

        async def some_done() -> bool:
            return len(await raw.keys("effects:*")) >= 10

        await wait_until(some_done, 30, "the first runs to finish", workers)
        await raw.aclose()
        await asyncio.to_thread(own_redis.restart, 1.0)  # down for a second, data kept (AOF)

        results = await asyncio.wait_for(asyncio.gather(*(client.wait(r, timeout=60) for r in ids)), 70)
        assert [r.status for r in results] == [RunStatus.SUCCEEDED] * n, workers.logs()
        await asyncio.wait_for(following, 20)
        assert seen == list(range(1, len(seen) + 1)) and len(seen) >= 2
        raw = redis.Redis.from_url(own_redis.url, decode_responses=True)
        effects = [int(v or 0) for v in await raw.mget([f"effects:{r}" for r in ids])]
        await raw.aclose()
        assert effects == [1] * n
        assert all(p.poll() is None for p in workers.procs)  # the workers rode it out
    finally:
        workers.kill_all()
        await follower.close()
        await close(client)


async def test_sigterm_lets_runs_finish_or_releases_them(
    redis_url: str, redis_client: Any, workers_factory: Any
) -> None:
    workers = workers_factory(redis_url)
    client = client_runner(redis_url)
    try:
        # A short run finishes within the grace period.
        quick = await client.submit("sleepy", {"messages": [], "seconds": 0.5})
        proc = workers.start(2, "--shutdown-grace", "10")

        async def started(run_id: str = quick) -> bool:
            return await redis_client.get(f"starts:{run_id}") is not None

        await wait_until(started, 20, "the quick run to start", workers)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 20) == 0
        assert (await client.wait(quick, timeout=1)).succeeded

        # A long run outlives the grace period: it is released, not lost, and not counted.
        long = await client.submit("sleepy", {"messages": [], "seconds": 60})
        proc = workers.start(2, "--shutdown-grace", "0.5")

        async def started_long(run_id: str = long) -> bool:
            return await redis_client.get(f"starts:{run_id}") is not None

        await wait_until(started_long, 20, "the long run to start", workers)
        proc.send_signal(signal.SIGTERM)
        # The run needs 60 s; the worker must release it after its 0.5 s grace, not wait for it.
        assert await asyncio.to_thread(proc.wait, 20) == 0
        queue = client.queue
        assert isinstance(queue, RedisQueue)
        assert await queue.size() == 1
        lease = await queue.dequeue("inspector", timeout=5)
        assert lease is not None and lease.run.run_id == long and lease.run.deliveries == 1
        assert await queue.release(lease)
        # Another worker takes it over; cancelling it from here reaches that worker.
        workers.start(2)
        await wait_until(lambda: _starts_at_least(redis_client, long, 2), 20, "the takeover", workers)
        assert await client.cancel(long, reason="enough")
        result = await client.wait(long, timeout=20)
        assert result.status is RunStatus.CANCELLED and result.final_output.get("stopped") is True
    finally:
        workers.kill_all()
        await close(client)


async def _starts_at_least(redis_client: Any, run_id: str, n: int) -> bool:
    return int(await redis_client.get(f"starts:{run_id}") or 0) >= n


def test_cli_worker_submit_events(tmp_path: Path, redis_url: str, python: str, subprocess_env: dict[str, str]) -> None:
    (tmp_path / "cli_app.py").write_text(textwrap.dedent(
        """
        from agent_runtime_core import AgentRuntime, EventType, RunContext, RunResult, register_runtime

        class Echo(AgentRuntime):
            key = "echo"

            async def run(self, ctx: RunContext) -> RunResult:
                text = ctx.input_messages[-1]["content"]
                await ctx.emit(EventType.ASSISTANT_MESSAGE, {"content": text})
                return RunResult(final_output={"response": text})

        register_runtime(Echo())
        """
    ))
    env = {
        **subprocess_env,
        "AGENT_RUNTIME_QUEUE_BACKEND": "redis",
        "AGENT_RUNTIME_EVENT_BUS_BACKEND": "redis",
        "AGENT_RUNTIME_STATE_STORE_BACKEND": "redis",
        "REDIS_URL": redis_url,
    }
    cli = [python, "-m", "agent_runtime_core.cli"]
    log_path = tmp_path / "cli-worker.log"
    with open(log_path, "wb") as log:
        worker = subprocess.Popen([*cli, "worker", "--app", "cli_app", "--concurrency", "2"], cwd=tmp_path, env=env,
                                  stdout=log, stderr=subprocess.STDOUT)
    try:
        out = subprocess.run([*cli, "submit", "echo", "--input", "hello", "--run-id", "cli-1", "--wait", "--timeout", "30"],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert '"response": "hello"' in out.stdout and '"status": "succeeded"' in out.stdout
        follow = subprocess.run([*cli, "events", "cli-1", "--follow"], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=30)
        assert follow.returncode == 0, follow.stderr
        assert [line.split()[2] for line in follow.stdout.splitlines()] == [
            "run.started", "assistant.message", "run.succeeded"
        ]
        again = subprocess.run([*cli, "events", "cli-1", "--after", "2", "--json"], cwd=tmp_path, env=env,
                               capture_output=True, text=True, timeout=30)
        assert '"seq": 3' in again.stdout and again.stdout.count("\n") == 1
        memory = subprocess.run([*cli, "submit", "echo", "--input", "x"], cwd=tmp_path, env=subprocess_env,
                                capture_output=True, text=True, timeout=30)
        assert memory.returncode == 2 and "AGENT_RUNTIME_QUEUE_BACKEND=redis" in memory.stderr
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=10)
    assert worker.returncode == 0, log_path.read_text(errors="replace")


def test_missing_redis_extra_names_it(python: str, subprocess_env: dict[str, str]) -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["redis"] = None  # as if the extra were not installed
        sys.modules["redis.asyncio"] = None
        from agent_runtime_core.queue import InMemoryQueue, RedisQueue
        from agent_runtime_core.events import RedisEventBus
        from agent_runtime_core.state import RedisStateStore
        for cls in (RedisQueue, RedisEventBus, RedisStateStore):
            try:
                cls("redis://localhost:6379/0")
            except ImportError as e:
                assert "pip install 'agent-runtime-core[redis]'" in str(e), e
                assert isinstance(e.__cause__, ImportError)
            else:
                raise SystemExit(f"{cls.__name__} built without redis")
        print("ok")
        """
    )
    out = subprocess.run([python, "-c", script], env=subprocess_env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
