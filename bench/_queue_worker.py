"""A worker process for benchmark 3: ours (`Worker` on RedisQueue) or arq's, serving no-op runs.

    python -m bench._queue_worker ours|arq REDIS_URL GO_KEY CONCURRENCY
    python -m bench._queue_worker fill-ours|fill-arq REDIS_URL RUNS TAG

It connects, then blocks on `BLPOP GO_KEY` so that the parent starts every worker's clock at
once (process start-up and imports are not timed), serves until SIGTERM, and exits. Ours runs the
full deployment stack: Redis queue, Redis event bus (RUN_STARTED and RUN_SUCCEEDED published),
Redis state store (the result recorded), with at-least-once delivery under a lease.
"""

from __future__ import annotations

import asyncio
import signal
import sys


async def _wait_go(url: str, go_key: str) -> None:
    import redis.asyncio as redis

    client = redis.Redis.from_url(url)
    print("ready", flush=True)
    await client.blpop([go_key], timeout=60)
    await client.aclose()


async def serve_ours(url: str, go_key: str, concurrency: int) -> None:
    from agent_runtime_core import AgentRunner, RunnerConfig, register_runtime
    from agent_runtime_core.distributed import Worker, WorkerConfig
    from agent_runtime_core.events import RedisEventBus
    from agent_runtime_core.queue import RedisQueue
    from agent_runtime_core.state import RedisStateStore
    from bench._noop import NoOp

    register_runtime(NoOp())
    queue = RedisQueue(url, name="bench", prefix="bench")
    runner = AgentRunner(
        RunnerConfig(max_retries=0),
        event_bus=RedisEventBus(url, prefix="bench", retention_seconds=60),
        state_store=RedisStateStore(url, prefix="bench"),
        queue=queue,
    )
    worker = Worker(runner, queue, WorkerConfig(concurrency=concurrency, poll_seconds=0.05, result_ttl_seconds=60))
    await _wait_go(url, go_key)
    await worker.serve(handle_signals=True)


async def serve_arq(url: str, go_key: str, concurrency: int) -> None:
    from arq.connections import RedisSettings
    from arq.worker import Worker as ArqWorker

    from bench._noop import arq_noop

    worker = ArqWorker(
        functions=[arq_noop],
        redis_settings=RedisSettings.from_dsn(url),
        max_jobs=concurrency,
        poll_delay=0.05,
        keep_result=60,
        handle_signals=False,
    )
    await _wait_go(url, go_key)
    task = asyncio.ensure_future(worker.async_run())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await worker.close()


async def fill_ours(url: str, runs: int, tag: str) -> None:
    from agent_runtime_core.queue import QueuedRun, RedisQueue

    queue = RedisQueue(url, name="bench", prefix="bench")
    for start in range(0, runs, 500):
        await asyncio.gather(*(queue.enqueue(QueuedRun(f"{tag}-{i}", "noop", {}))
                               for i in range(start, min(start + 500, runs))))
    await queue.close()


async def fill_arq(url: str, runs: int, tag: str) -> None:
    from arq import create_pool
    from arq.connections import RedisSettings

    pool = await create_pool(RedisSettings.from_dsn(url))
    for start in range(0, runs, 500):
        await asyncio.gather(*(pool.enqueue_job("arq_noop", _job_id=f"{tag}-{i}")
                               for i in range(start, min(start + 500, runs))))
    await pool.aclose()


def main() -> None:
    mode, url = sys.argv[1], sys.argv[2]
    if mode.startswith("fill-"):
        fill = fill_ours if mode == "fill-ours" else fill_arq
        asyncio.run(fill(url, int(sys.argv[3]), sys.argv[4]))
        return
    go_key, concurrency = sys.argv[3], int(sys.argv[4])
    serve = serve_ours if mode == "ours" else serve_arq
    asyncio.run(serve(url, go_key, concurrency))


if __name__ == "__main__":
    main()
