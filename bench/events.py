"""Benchmark 2: events through `ctx.emit`, to the in-memory bus and to the Redis bus.

Throughput: one run emits N events one after another (`await ctx.emit(...)`, as an agent does)
while a subscriber follows the run's stream; events/s counts until the subscriber has the last
one. Baselines, same payload and the same subscriber pattern without the runtime: an
`asyncio.Queue` (in memory) and raw redis-py `XADD` / `XREAD BLOCK` on a stream (Redis).

Latency, emit to subscriber: measured two ways, in the same runs. Under load (the throughput run
above: events queue behind each other) and unloaded (emit one event, wait until the subscriber
has it, emit the next), p50 and p99 of (received - emitted) on `perf_counter`.

    python -m bench.events [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from agent_runtime_core import EventType, RunContext
from agent_runtime_core.events import InMemoryEventBus
from bench._harness import Row, Stat, Table, flushall, ratios, redis_server

PAYLOAD = {"percent": 50, "message": "x" * 64}


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


class _Measure:
    """One measured stream: emit times by seq, receive times by seq."""

    def __init__(self) -> None:
        self.sent: dict[int, float] = {}
        self.got: dict[int, float] = {}

    def latencies_us(self) -> list[float]:
        return [(self.got[s] - self.sent[s]) * 1e6 for s in self.sent if s in self.got]


async def _ours(bus: Any, n: int, paced: bool, run_id: str) -> tuple[float, _Measure]:
    """Emit n events through a RunContext publishing to `bus`; a subscriber follows them."""
    m = _Measure()
    ctx = RunContext(run_id=run_id, agent_key="bench", publish=bus.publish)
    arrived = asyncio.Event()

    async def follow() -> None:
        async for event in bus.subscribe(run_id):
            m.got[event.seq] = time.perf_counter()
            arrived.set()
            if event.seq >= n:
                return

    reader = asyncio.create_task(follow())
    await asyncio.sleep(0.01)  # the subscriber is waiting
    t0 = time.perf_counter()
    for seq in range(1, n + 1):
        m.sent[seq] = time.perf_counter()
        await ctx.emit(EventType.PROGRESS_UPDATE, PAYLOAD)
        if paced:
            while seq not in m.got:
                arrived.clear()
                await arrived.wait()
    await reader
    return time.perf_counter() - t0, m


async def _queue_baseline(n: int, paced: bool) -> tuple[float, _Measure]:
    """asyncio.Queue from producer to consumer, the same dict payload per event. Like an emit to
    the in-memory bus, a put never suspends the producer."""
    m = _Measure()
    queue: asyncio.Queue[tuple[int, dict[str, Any]]] = asyncio.Queue()
    arrived = asyncio.Event()

    async def follow() -> None:
        while True:
            seq, _ = await queue.get()
            m.got[seq] = time.perf_counter()
            arrived.set()
            if seq >= n:
                return

    reader = asyncio.create_task(follow())
    await asyncio.sleep(0.01)
    t0 = time.perf_counter()
    for seq in range(1, n + 1):
        m.sent[seq] = time.perf_counter()
        queue.put_nowait((seq, {"run_id": "q", "seq": seq, "type": "progress.update", "timestamp": time.time(), "payload": PAYLOAD}))
        if paced:
            while seq not in m.got:
                arrived.clear()
                await arrived.wait()
    await reader
    return time.perf_counter() - t0, m


async def _xadd_baseline(url: str, n: int, paced: bool, key: str) -> tuple[float, _Measure]:
    """Raw redis-py: XADD each event's JSON (awaited one by one), a reader on XREAD BLOCK."""
    import redis.asyncio as redis

    m = _Measure()
    writer = redis.Redis.from_url(url, decode_responses=True)
    reader_client = redis.Redis.from_url(url, decode_responses=True)
    arrived = asyncio.Event()

    async def follow() -> None:
        last = "0-0"
        while True:
            response = await reader_client.xread({key: last}, count=1000, block=2000)
            now = time.perf_counter()
            for _, entries in response:
                for entry_id, _fields in entries:
                    seq = int(entry_id.split("-")[0])
                    m.got[seq] = now
                    last = entry_id
                    if seq >= n:
                        arrived.set()
                        return
            arrived.set()

    reader = asyncio.create_task(follow())
    await asyncio.sleep(0.01)
    t0 = time.perf_counter()
    for seq in range(1, n + 1):
        m.sent[seq] = time.perf_counter()
        data = json.dumps({"run_id": key, "seq": seq, "type": "progress.update", "timestamp": time.time(),
                           "payload": PAYLOAD}, separators=(",", ":"))
        await writer.xadd(key, {"e": data}, id=f"{seq}-1")
        if paced:
            while seq not in m.got:
                arrived.clear()
                await arrived.wait()
    await reader
    elapsed = time.perf_counter() - t0
    await writer.aclose()
    await reader_client.aclose()
    return elapsed, m


def run(quick: bool = False, repeats: int = 5) -> list[Table]:
    """Measure and return the table."""
    n_mem = 500 if quick else 20_000
    n_redis = 200 if quick else 3_000
    n_paced = 50 if quick else 500
    table = Table("2. Events: ctx.emit to a subscriber", repeats=repeats)
    with redis_server() as url:
        from agent_runtime_core.events import RedisEventBus

        async def measure(label: str, ours: Callable[[int, bool, int], Awaitable[tuple[float, _Measure]]],
                          base: Callable[[int, bool, int], Awaitable[tuple[float, _Measure]]], n: int) -> None:
            rate_o, rate_b, p50_o, p50_b, p99_o, p99_b = [], [], [], [], [], []
            u50_o, u50_b, u99_o, u99_b = [], [], [], []
            await ours(min(n, 200), False, -1)  # warm up
            await base(min(n, 200), False, -1)
            for r in range(repeats):
                for fn, rate, p50, p99 in ((ours, rate_o, p50_o, p99_o), (base, rate_b, p50_b, p99_b)):
                    seconds, m = await fn(n, False, r)
                    lat = m.latencies_us()
                    rate.append(n / seconds)
                    p50.append(statistics.median(lat))
                    p99.append(_pct(lat, 0.99))
                for fn, p50, p99 in ((ours, u50_o, u99_o), (base, u50_b, u99_b)):
                    _, m = await fn(n_paced, True, 1000 + r)
                    lat = m.latencies_us()
                    p50.append(statistics.median(lat))
                    p99.append(_pct(lat, 0.99))
                if label == "redis":
                    flushall(url)
            table.add(Row(f"{label}: events/s", Stat(rate_o), "ev/s", Stat(rate_b), ratios(rate_o, rate_b)))
            for name, o, b in (("p50 latency, unloaded", u50_o, u50_b), ("p99 latency, unloaded", u99_o, u99_b),
                               ("p50 latency, flat out", p50_o, p50_b), ("p99 latency, flat out", p99_o, p99_b)):
                table.add(Row(f"{label}: {name}", Stat(o), "µs", Stat(b), ratios(o, b)))

        async def main() -> None:
            async def mem_ours(n: int, paced: bool, r: int) -> tuple[float, _Measure]:
                return await _ours(InMemoryEventBus(), n, paced, f"mem-{r}")

            async def mem_base(n: int, paced: bool, r: int) -> tuple[float, _Measure]:
                return await _queue_baseline(n, paced)

            bus = RedisEventBus(url, prefix="bench", retention_seconds=60, block_seconds=2.0)

            async def redis_ours(n: int, paced: bool, r: int) -> tuple[float, _Measure]:
                return await _ours(bus, n, paced, f"ours-{r}-{paced}-{n}")

            async def redis_base(n: int, paced: bool, r: int) -> tuple[float, _Measure]:
                return await _xadd_baseline(url, n, paced, f"raw-{r}-{paced}-{n}")

            await measure("in-memory", mem_ours, mem_base, n_mem)
            await measure("redis", redis_ours, redis_base, n_redis)
            await bus.close()

        asyncio.run(main())
    table.notes.append(f"{n_mem:,} events (in-memory) / {n_redis:,} (Redis) per repeat from one run, each "
                       "emit awaited; one subscriber following the run (bus.subscribe). Baselines: "
                       "asyncio.Queue; raw redis-py XADD + XREAD BLOCK on one stream.")
    table.notes.append(f"unloaded: {n_paced} events, each emitted after the previous one arrived. "
                       "flat out: latency of the throughput run (events queue behind each other).")
    return [table]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    for t in run(parser.parse_args().quick):
        t.print()
