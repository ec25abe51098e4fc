"""SQLiteStateStore group commit: calls made while its thread is busy go to it as one job, their
writes in one transaction, and each caller still gets its own outcome, after the commit."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from agent_runtime_core.errors import BackendError
from agent_runtime_core.state import SQLiteStateStore


def _refuse_key(path: Path, key: str) -> None:
    """A trigger that makes SQLite refuse one key, to fail one write among many."""
    conn = sqlite3.connect(path)
    conn.execute(
        f"CREATE TRIGGER refuse BEFORE INSERT ON kv WHEN NEW.key = '{key}' "
        "BEGIN SELECT RAISE(ABORT, 'refused by trigger'); END"
    )
    conn.commit()
    conn.close()


def _count_jobs(store: SQLiteStateStore, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of each job sent to the store's thread; a call made inline counts as a job of 1."""
    sizes: list[int] = []
    execute = store._execute
    inline = store._inline

    def spy(calls: Any) -> Any:
        sizes.append(len(calls))
        return execute(calls)

    def spy_inline(fn: Any) -> Any:
        sizes.append(1)
        return inline(fn)

    monkeypatch.setattr(store, "_execute", spy)
    monkeypatch.setattr(store, "_inline", spy_inline)
    return sizes


async def test_concurrent_writes_share_jobs_and_all_land(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SQLiteStateStore(tmp_path / "s.db")
    await store.set("warm", 0)  # the file exists, the connection is open
    sizes = _count_jobs(store, monkeypatch)
    await asyncio.gather(*(store.save_checkpoint(f"r{i}", {"i": i}) for i in range(50)))
    assert sum(sizes) == 50
    assert len(sizes) <= 3  # one alone (the thread was idle), the rest together
    assert max(sizes) >= 40
    for i in range(50):
        assert await store.get_checkpoint(f"r{i}") == {"i": i}
    await store.close()


async def test_a_failing_write_in_a_batch_fails_only_its_caller(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = SQLiteStateStore(path)
    await store.set("warm", 0)
    _refuse_key(path, "bad")
    keys = [f"k{i}" for i in range(20)]
    keys.insert(10, "bad")
    results = await asyncio.gather(*(store.set(k, k) for k in keys), return_exceptions=True)
    for key, result in zip(keys, results, strict=True):
        if key == "bad":
            assert isinstance(result, BackendError)
            assert "refused by trigger" in str(result)
        else:
            assert result is None
    assert await store.list_keys("k") == sorted(k for k in keys if k != "bad")
    assert await store.get("bad") is None
    await store.close()


async def test_calls_run_in_the_order_they_were_made(tmp_path: Path) -> None:
    store = SQLiteStateStore(tmp_path / "s.db")
    await store.set("warm", 0)
    out = await asyncio.gather(
        store.set("k", 1), store.get("k"), store.set("k", 2), store.get("k"), store.delete("k"), store.get("k")
    )
    assert list(out) == [None, 1, None, 2, None, None]
    await store.close()


async def test_an_awaited_write_is_committed(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = SQLiteStateStore(path)
    await store.set("warm", 0)
    other = sqlite3.connect(path, check_same_thread=False)  # another connection sees committed data only
    seen: list[bool] = []

    async def writer(i: int) -> None:
        await store.save_checkpoint(f"r{i}", {"i": i})
        row = other.execute("SELECT state FROM checkpoints WHERE run_id = ?", (f"r{i}",)).fetchone()
        seen.append(row is not None)

    await asyncio.gather(*(writer(i) for i in range(30)))
    other.close()
    assert seen == [True] * 30
    await store.close()


async def test_close_lets_queued_writes_finish(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = SQLiteStateStore(path)
    tasks = [asyncio.create_task(store.set(f"k{i}", i)) for i in range(20)]
    await asyncio.sleep(0)  # every call made, most of them queued
    await store.close()
    await asyncio.gather(*tasks)
    reopened = SQLiteStateStore(path)
    assert len(await reopened.list_keys("k")) == 20
    await reopened.close()
    with pytest.raises(BackendError, match="closed"):
        await store.set("late", 1)


async def test_a_cancelled_call_does_not_stop_the_others(tmp_path: Path) -> None:
    store = SQLiteStateStore(tmp_path / "s.db")
    await store.set("warm", 0)
    tasks = [asyncio.create_task(store.set(f"k{i}", i)) for i in range(10)]
    await asyncio.sleep(0)
    tasks[5].cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[5], asyncio.CancelledError)
    assert [r for i, r in enumerate(results) if i != 5] == [None] * 9
    for i in range(10):
        if i != 5:
            assert await store.get(f"k{i}") == i
    await store.close()
