"""What the SQLite store adds to the StateStore contract (run over every store in
tests/contracts): a file that survives reopening, a loop never blocked, several processes."""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
import textwrap
from pathlib import Path

import pytest
from hypothesis import given

from agent_runtime_core import UserError
from agent_runtime_core.errors import CorruptDataError
from agent_runtime_core.state import InMemoryStateStore, SQLiteStateStore, StateStore
from agent_runtime_core.testing.hostile import hostile_keys, json_values


async def test_sqlite_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "state.db"
    first = SQLiteStateStore(path)
    await first.save_checkpoint("run", {"done": ["a"]})
    await first.set("k", 1)
    await first.close()
    second = SQLiteStateStore(path)
    assert await second.get_checkpoint("run") == {"done": ["a"]}
    assert await second.get("k") == 1
    await second.close()


async def test_sqlite_does_not_block_the_event_loop(tmp_path: Path) -> None:
    store = SQLiteStateStore(tmp_path / "s.db")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.gather(*(store.save_checkpoint(f"r{i}", {"i": i}) for i in range(50)))
    task.cancel()
    await store.close()
    assert ticks > 10  # the loop kept running while SQLite worked on its thread


@pytest.mark.subprocess
def test_sqlite_concurrent_writers_in_two_processes_lose_nothing(
    tmp_path: Path, python: str, subprocess_env: dict[str, str]
) -> None:
    db = tmp_path / "shared.db"
    script = textwrap.dedent(
        """
        import asyncio, sys
        from agent_runtime_core.state import SQLiteStateStore

        async def main(name):
            store = SQLiteStateStore(sys.argv[1])
            for i in range(200):
                await store.set(f"{name}:{i}", i)
                await store.save_checkpoint(f"{name}-run", {"i": i})
            await store.close()

        asyncio.run(main(sys.argv[2]))
        """
    )
    procs = [
        subprocess.Popen([python, "-c", script, str(db), name], env=subprocess_env) for name in ("p1", "p2")
    ]
    try:
        for proc in procs:
            assert proc.wait(timeout=60) == 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()

    async def check() -> None:
        store = SQLiteStateStore(db)
        assert len(await store.list_keys("p1:")) == 200
        assert len(await store.list_keys("p2:")) == 200
        assert await store.get_checkpoint("p1-run") == {"i": 199}
        await store.close()

    asyncio.run(check())


def test_sqlite_store_serves_a_new_loop_after_the_old_one_ended_mid_call(tmp_path: Path) -> None:
    store = SQLiteStateStore(tmp_path / "s.db")

    async def first() -> None:
        task = asyncio.create_task(store.set("k", 1))
        await asyncio.sleep(0)  # the job is on the store's thread now
        task.cancel()  # its caller gives up; then this loop ends

    async def second() -> object:
        async with asyncio.timeout(5):
            value = await store.get("k")
        await store.close()
        return value

    asyncio.run(first())
    assert asyncio.run(second()) in (1, None)  # served (whether the cancelled write landed or not)


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
@given(key=hostile_keys(), value=json_values())
def test_any_key_and_value_round_trip_or_are_refused_clearly(backend: str, key: str, value: object) -> None:
    async def scenario(base: Path) -> None:
        s: StateStore = InMemoryStateStore() if backend == "memory" else SQLiteStateStore(base / "s.db")
        try:
            try:
                await s.set(key, value)
                await s.save_checkpoint(key, {"v": value})
            except UserError as e:
                assert str(e).isascii()
                return
            assert await s.get(key) == value
            assert await s.get_checkpoint(key) == {"v": value}
            assert key in await s.list_keys()
        finally:
            await s.close()

    with tempfile.TemporaryDirectory() as base:
        asyncio.run(scenario(Path(base)))


async def test_a_damaged_sqlite_value_is_a_clear_corrupt_data_error(tmp_path: Path) -> None:
    import sqlite3

    store = SQLiteStateStore(tmp_path / "s.db")
    await store.set("k", 1)
    await store.save_checkpoint("r", {})
    await store.close()
    with sqlite3.connect(tmp_path / "s.db") as db:
        db.execute("UPDATE kv SET value = ?", ("[" * 50_000 + "]" * 50_000,))
        db.execute("UPDATE checkpoints SET state = ?", ("{not json",))
    store = SQLiteStateStore(tmp_path / "s.db")
    with pytest.raises(CorruptDataError, match="The value of 'k' nests arrays or objects deeper than 128"):
        await store.get("k")
    with pytest.raises(CorruptDataError, match="The checkpoint of run 'r' is not valid JSON"):
        await store.get_checkpoint("r")
    await store.close()
