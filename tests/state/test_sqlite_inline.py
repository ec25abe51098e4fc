"""SQLiteStateStore's inline calls: a call that finds the store idle runs on the event loop's
thread (no hop to the store's thread), committed before it returns; what could block the loop
(a lock held by another writer, an fsync per commit, a large value) still goes to the thread."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import textwrap
from pathlib import Path

import pytest

from agent_runtime_core.state import SQLiteStateStore

STATE = {"messages": [{"role": "user", "content": "lorem ipsum " * 150}], "step": 3}  # ~1.9 KB of JSON


async def _done_in_one_turn(coro: object) -> bool:
    """Whether the call completed in the loop turn it was made in (inline), or had to wait."""
    task = asyncio.ensure_future(coro)  # type: ignore[arg-type]
    await asyncio.sleep(0)  # one turn: the task's first step runs
    done = task.done()
    await task
    return done


async def test_a_lone_call_on_an_idle_store_runs_inline_and_is_committed(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = SQLiteStateStore(path)
    await store.set("warm", 0)  # the first call opens the file, on the thread
    assert await _done_in_one_turn(store.save_checkpoint("r1", STATE))
    other = sqlite3.connect(path)  # another connection sees committed data only
    assert other.execute("SELECT count(*) FROM checkpoints WHERE run_id = 'r1'").fetchone() == (1,)
    other.close()
    assert await _done_in_one_turn(store.get_checkpoint("r1"))
    assert await store.get_checkpoint("r1") == STATE
    assert await _done_in_one_turn(store.set("k", [1, 2]))
    assert await _done_in_one_turn(store.list_keys())
    assert await store.list_keys() == ["k", "warm"]
    assert await _done_in_one_turn(store.delete("k"))
    assert await store.get("k") is None
    await store.close()


async def test_a_write_that_finds_the_file_locked_waits_on_the_thread_not_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = SQLiteStateStore(path)
    await store.set("warm", 0)
    locker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    locker.execute("BEGIN IMMEDIATE")  # another writer holds the write lock
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    ticking = asyncio.create_task(ticker())
    write = asyncio.create_task(store.save_checkpoint("r", STATE))
    await asyncio.sleep(0.3)
    assert not write.done()  # waiting for the lock...
    assert ticks > 20  # ...on the store's thread: the loop kept running
    locker.execute("COMMIT")
    async with asyncio.timeout(10):
        await write
    ticking.cancel()
    locker.close()
    assert await store.get_checkpoint("r") == STATE
    await store.close()


async def test_two_tasks_of_a_turn_run_inline_a_third_is_batched(tmp_path: Path) -> None:
    """A graph step and its checkpointer (two tasks) both write inline; a burst of concurrent
    writers goes to the thread, where their writes share a transaction."""
    store = SQLiteStateStore(tmp_path / "s.db")
    await store.set("warm", 0)

    async def steps(name: str, n: int) -> None:
        for i in range(n):  # the same task going on: inline, whatever the count
            await store.set(f"{name}:{i}", i)

    tasks = [asyncio.create_task(steps(name, 5)) for name in ("a", "b", "c", "d")]
    await asyncio.sleep(0)  # one turn: each task's first step
    assert [t.done() for t in tasks] == [True, True, False, False]
    await asyncio.gather(*tasks)
    assert len(await store.list_keys()) == 21
    await store.close()


@pytest.mark.parametrize(
    ("options", "value", "inline_write", "inline_read"),
    [
        ({}, STATE, True, True),
        ({}, {"big": "x" * 20_000}, False, True),  # over the default 16 KiB
        ({"inline_max_bytes": 100}, STATE, False, True),
        ({"synchronous": "FULL"}, STATE, False, True),  # an fsync per commit: never on the loop
        ({"inline_max_bytes": 0}, STATE, False, False),  # everything on the thread
    ],
)
async def test_what_runs_inline(tmp_path: Path, options: dict[str, object], value: dict[str, object],
                                inline_write: bool, inline_read: bool) -> None:
    store = SQLiteStateStore(tmp_path / "s.db", **options)  # type: ignore[arg-type]
    await store.set("warm", 0)
    assert await _done_in_one_turn(store.save_checkpoint("r", value)) is inline_write
    assert await _done_in_one_turn(store.get_checkpoint("r")) is inline_read
    assert await store.get_checkpoint("r") == value
    await store.close()


def test_inline_writes_keep_the_wal_bounded(tmp_path: Path) -> None:
    """The inline connection does not checkpoint (an fsync on the loop); the store runs passive
    checkpoints on its thread instead, so a writer that only writes inline does not grow the WAL
    without end (5,000 writes of 2 KB would make it about 20 MB)."""
    path = tmp_path / "s.db"
    wal = tmp_path / "s.db-wal"

    async def write() -> int:
        store = SQLiteStateStore(path)
        await store.set("warm", 0)
        for i in range(5000):
            await store.save_checkpoint(f"r{i % 100}", STATE)
        size = wal.stat().st_size  # noqa: ASYNC240 (closing the last connection deletes the file)
        await store.close()
        return size

    async def read() -> object:
        store = SQLiteStateStore(path)
        state = await store.get_checkpoint("r99")
        await store.close()
        return state

    assert asyncio.run(write()) < 8_000_000
    assert asyncio.run(read()) == STATE


@pytest.mark.subprocess
def test_an_awaited_inline_write_survives_a_crash(tmp_path: Path, python: str,
                                                  subprocess_env: dict[str, str]) -> None:
    """The process is killed (SIGKILL) right after its last awaited write: every write it awaited
    is in the file, WAL included, as with writes made on the store's thread."""
    db = tmp_path / "crash.db"
    script = textwrap.dedent(
        """
        import asyncio, os, signal, sys
        from agent_runtime_core.state import SQLiteStateStore

        async def main():
            store = SQLiteStateStore(sys.argv[1])
            await store.set("warm", 0)
            for i in range(300):
                await store.save_checkpoint(f"r{i}", {"i": i, "pad": "x" * 2000})
            os.kill(os.getpid(), signal.SIGKILL)

        asyncio.run(main())
        """
    )
    proc = subprocess.run([python, "-c", script, str(db)], env=subprocess_env, timeout=60)
    assert proc.returncode == -9

    async def check() -> None:
        store = SQLiteStateStore(db)
        for i in range(300):
            assert await store.get_checkpoint(f"r{i}") == {"i": i, "pad": "x" * 2000}
        await store.close()

    asyncio.run(check())
