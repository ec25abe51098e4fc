"""Benchmark 4: checkpoints/s of a 2 KB state, to SQLite and Redis, vs raw writes (the ceiling).

Ours: `await store.save_checkpoint(run_id, state)` with `SQLiteStateStore` (WAL, synchronous
NORMAL, its default) and `RedisStateStore`, over 100 run ids in turn. The ceiling writes the same
bytes (the state's JSON, encoded once beforehand) the plainest way: sqlite3 `INSERT ... ON
CONFLICT DO UPDATE` in autocommit on a connection with the same pragmas, called directly on the
event loop's thread; redis-py's asyncio `SET`, awaited. Two shapes: one writer awaiting each
write (a run checkpointing), and 50 concurrent writers (50 runs of one worker checkpointing).
Informative rows for the lone SQLite writer: against the raw write with `json.dumps(state)`
included (a checkpoint written by hand has to be encoded too), against the raw write made through
`run_in_executor` on one thread (the hop each call paid before the store wrote small states
inline), and how long one write takes, median and 99th percentile (an inline write blocks the
event loop that long; so does the raw write).

Target: ours at least 0.7 of the ceiling.

    python -m bench.checkpoints [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sqlite3
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from agent_runtime_core.state import SQLiteStateStore
from bench._harness import Row, Stat, Table, flushall, ratios, redis_server

TARGET = 0.7
RUN_IDS = [f"run-{i:03d}" for i in range(100)]
WRITERS = 50


def state_2kb() -> dict[str, Any]:
    """A checkpoint-like state whose JSON is about 2 KB: a short conversation."""
    messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"message {i}: " + "lorem ipsum " * 12}
                for i in range(12)]
    state = {"messages": messages, "step": 3}
    while len(json.dumps(state, separators=(",", ":"))) > 2048:
        messages.pop()
    return state


async def _timed(writes: int, writers: int, write: Any) -> float:
    """Seconds for `writes` calls of `await write(i)`, spread over `writers` concurrent tasks."""

    async def writer(start: int) -> None:
        for i in range(start, writes, writers):
            await write(i)

    t0 = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(writers)))
    return time.perf_counter() - t0


async def _durations(writes: int, write: Any) -> list[float]:
    """Seconds each of `writes` awaited calls took, one writer, sorted."""
    out = []
    for i in range(writes):
        t0 = time.perf_counter()
        await write(i)
        out.append(time.perf_counter() - t0)
    return sorted(out)


def _raw_sqlite(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE IF NOT EXISTS checkpoints (run_id TEXT PRIMARY KEY, state TEXT NOT NULL, updated_at REAL NOT NULL)")
    return conn


def run(quick: bool = False, repeats: int = 5) -> list[Table]:
    """Measure and return the table."""
    writes = {"sqlite": 200 if quick else 5_000, "redis": 200 if quick else 10_000}
    state = state_2kb()
    data = json.dumps(state, separators=(",", ":"), ensure_ascii=False)
    table = Table("4. Checkpoints: 2 KB state, ours vs raw writes of the same bytes", repeats=repeats)
    tmp = tempfile.mkdtemp(prefix="bench-cp-")
    with redis_server() as url:
        import redis.asyncio as redis

        from agent_runtime_core.state import RedisStateStore

        async def main() -> None:
            store = SQLiteStateStore(os.path.join(tmp, "ours.db"))
            raw = _raw_sqlite(os.path.join(tmp, "raw.db"))
            rstore = RedisStateStore(url, prefix="bench")
            rraw = redis.Redis.from_url(url, decode_responses=True, max_connections=100)
            sql = ("INSERT INTO checkpoints (run_id, state, updated_at) VALUES (?, ?, ?) ON CONFLICT(run_id) "
                   "DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at")

            async def ours_sqlite(i: int) -> None:
                await store.save_checkpoint(RUN_IDS[i % 100], state)

            async def raw_sqlite(i: int) -> None:
                raw.execute(sql, (RUN_IDS[i % 100], data, time.time()))

            async def raw_sqlite_dumps(i: int) -> None:
                text = json.dumps(state, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
                raw.execute(sql, (RUN_IDS[i % 100], text, time.time()))

            pool = ThreadPoolExecutor(max_workers=1)

            async def raw_sqlite_thread(i: int) -> None:
                await asyncio.get_running_loop().run_in_executor(
                    pool, raw.execute, sql, (RUN_IDS[i % 100], data, time.time()))

            async def ours_redis(i: int) -> None:
                await rstore.save_checkpoint(RUN_IDS[i % 100], state)

            async def raw_redis(i: int) -> None:
                await rraw.set(f"raw:cp:{RUN_IDS[i % 100]}", data)

            cases = [("SQLite", "sqlite", ours_sqlite, raw_sqlite), ("Redis", "redis", ours_redis, raw_redis)]
            for label, kind, ours, base in cases:
                for writers in (1, WRITERS):
                    n = writes[kind]
                    await _timed(min(n, 200), writers, ours)  # warm up
                    await _timed(min(n, 200), writers, base)
                    o_s, b_s = [], []
                    for _ in range(repeats):
                        gc.collect()
                        o_s.append(await _timed(n, writers, ours))
                        b_s.append(await _timed(n, writers, base))
                    if kind == "redis":
                        flushall(url)
                    o = [n / s for s in o_s]
                    b = [n / s for s in b_s]
                    ratio = ratios(o, b)
                    who = "1 writer" if writers == 1 else f"{writers} concurrent writers"
                    table.add(Row(f"{label}, {who}: checkpoints/s", Stat(o), "cp/s", Stat(b), ratio,
                                  target=f"ratio >= {TARGET}", met=ratio.median >= TARGET))
            # The lone SQLite writer, against two more baselines: the raw write with the state's
            # encoding included (what writing a checkpoint by hand costs), and the raw write made
            # through `run_in_executor` (the hop every call paid before inline writes).
            n = writes["sqlite"]
            o_s, d_s, t_s = [], [], []
            for _ in range(repeats):
                o_s.append(await _timed(n, 1, ours_sqlite))
                d_s.append(await _timed(n, 1, raw_sqlite_dumps))
                t_s.append(await _timed(n, 1, raw_sqlite_thread))
            o, d, t = ([n / x for x in xs] for xs in (o_s, d_s, t_s))
            table.add(Row("SQLite, 1 writer, vs json.dumps + raw write", Stat(o), "cp/s", Stat(d), ratios(o, d)))
            table.add(Row("SQLite, 1 writer, vs raw write on a thread", Stat(o), "cp/s", Stat(t), ratios(o, t)))
            # How long one write takes, typically and at the 99th percentile: an inline write blocks
            # the event loop that long (so does the raw write; ours waits for a WAL checkpoint on
            # the store's thread, where the raw write runs it on the loop).
            o_50, b_50, o_99, b_99 = [], [], [], []
            for _ in range(repeats):
                ours_t = await _durations(n, ours_sqlite)
                raw_t = await _durations(n, raw_sqlite)
                o_50.append(ours_t[n // 2] * 1e6)
                b_50.append(raw_t[n // 2] * 1e6)
                o_99.append(ours_t[int(n * 0.99)] * 1e6)
                b_99.append(raw_t[int(n * 0.99)] * 1e6)
            table.add(Row("SQLite, 1 writer: median time per write", Stat(o_50), "µs", Stat(b_50), ratios(o_50, b_50)))
            table.add(Row("SQLite, 1 writer: p99 time per write", Stat(o_99), "µs", Stat(b_99), ratios(o_99, b_99)))
            pool.shutdown()
            await store.close()
            raw.close()
            await rstore.close()
            await rraw.aclose()

        asyncio.run(main())
    table.notes.append(f"state JSON {len(data):,} bytes; {writes['sqlite']:,} SQLite / {writes['redis']:,} Redis "
                       "writes per repeat over 100 run ids; SQLite on the local disk (WAL, synchronous=NORMAL); "
                       "Redis on loopback, no persistence.")
    return [table]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    for t in run(parser.parse_args().quick):
        t.print()
