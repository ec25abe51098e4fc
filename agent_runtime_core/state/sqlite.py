"""A state store in one SQLite file: the embedded default for state that must survive a restart.

Standard library only. Many processes may share the file: it runs in WAL mode, every write is
its own transaction, and writers wait (up to `busy_timeout_seconds`) for each other instead of
failing. Calls run on one dedicated thread per store so they never block the event loop.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from ..errors import BackendError
from .base import check_key, dumps

__all__ = ["SQLiteStateStore"]

T = TypeVar("T")

_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS checkpoints (
    run_id     TEXT PRIMARY KEY,
    state      TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS kv (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    expires_at REAL
);
"""


def _retry_locked(fn: Callable[[], None], timeout: float) -> None:
    """Run `fn`, retrying while another process holds the lock. Switching a new file to WAL
    fails at once with "database is locked" (SQLite's busy handler does not cover it)."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            return fn()
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) and "busy" not in str(e) or time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)


class SQLiteStateStore:
    """Checkpoints and values in a SQLite file at `db_path` (created with its folder if missing).

    `synchronous="NORMAL"` (the default) survives a crash of the process; pass `"FULL"` to also
    survive a power loss, at some cost per write.
    """

    def __init__(
        self,
        db_path: str | Path = "agent_runtime.db",
        *,
        busy_timeout_seconds: float = 30.0,
        synchronous: str = "NORMAL",
    ) -> None:
        if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError(f"`synchronous` must be OFF, NORMAL, FULL or EXTRA; got {synchronous!r}.")
        self.db_path = str(db_path)
        self._busy_timeout = busy_timeout_seconds
        self._synchronous = synchronous.upper()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agent-runtime-sqlite")
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        self._init_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SQLiteStateStore(db_path={self.db_path!r})"

    # -- plumbing ---------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        with self._init_lock:
            if self._conn is not None:
                return self._conn
            if self.db_path != ":memory:":
                Path(self.db_path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.db_path,
                timeout=self._busy_timeout,
                isolation_level=None,  # autocommit: each statement is one transaction
                check_same_thread=False,
            )
            try:
                _retry_locked(lambda: self._prepare(conn), self._busy_timeout)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
            return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
        if self.db_path != ":memory:":
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > _SCHEMA_VERSION:
            raise BackendError(
                f"{self.db_path} was written by a newer agent-runtime-core (schema "
                f"{version} > {_SCHEMA_VERSION}); upgrade agent-runtime-core to open it."
            )
        conn.executescript(_SCHEMA)
        if version < _SCHEMA_VERSION:
            conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return fn(self._conn or self._connect())
        except sqlite3.Error as e:
            raise BackendError(f"SQLite error on {self.db_path}: {e}") from e

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise BackendError(f"{self!r} is closed.")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, fn)

    # -- checkpoints ------------------------------------------------------------------------

    async def save_checkpoint(self, run_id: str, state: dict[str, Any]) -> None:
        check_key(run_id, "run_id")
        data = dumps(state, "Checkpoint state")
        now = time.time()
        await self._run(
            lambda c: c.execute(
                "INSERT INTO checkpoints (run_id, state, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(run_id) DO UPDATE SET state = excluded.state, "
                "updated_at = excluded.updated_at",
                (run_id, data, now),
            )
        )

    async def get_checkpoint(self, run_id: str) -> dict[str, Any] | None:
        check_key(run_id, "run_id")
        row = await self._run(
            lambda c: c.execute("SELECT state FROM checkpoints WHERE run_id = ?", (run_id,)).fetchone()
        )
        return None if row is None else json.loads(row[0])

    async def delete_checkpoint(self, run_id: str) -> None:
        check_key(run_id, "run_id")
        await self._run(lambda c: c.execute("DELETE FROM checkpoints WHERE run_id = ?", (run_id,)))

    # -- key-value --------------------------------------------------------------------------

    async def get(self, key: str) -> Any | None:
        check_key(key)
        now = time.time()
        row = await self._run(
            lambda c: c.execute(
                "SELECT value FROM kv WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)",
                (key, now),
            ).fetchone()
        )
        return None if row is None else json.loads(row[0])

    async def set(self, key: str, value: Any, *, ttl_seconds: float | None = None) -> None:
        check_key(key)
        data = dumps(value, f"Value for {key!r}")
        expires_at = None if ttl_seconds is None else time.time() + ttl_seconds
        await self._run(
            lambda c: c.execute(
                "INSERT INTO kv (key, value, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
                "expires_at = excluded.expires_at",
                (key, data, expires_at),
            )
        )

    async def delete(self, key: str) -> None:
        check_key(key)
        await self._run(lambda c: c.execute("DELETE FROM kv WHERE key = ?", (key,)))

    async def list_keys(self, prefix: str = "") -> list[str]:
        now = time.time()
        # Range scan on the primary key instead of LIKE, so `%` and `_` in prefixes are literal.
        upper = prefix + "\U0010ffff"
        rows = await self._run(
            lambda c: c.execute(
                "SELECT key FROM kv WHERE key >= ? AND key < ? "
                "AND (expires_at IS NULL OR expires_at > ?) ORDER BY key",
                (prefix, upper, now),
            ).fetchall()
        )
        return [r[0] for r in rows]

    async def purge_expired(self) -> int:
        """Delete expired values now (reads already ignore them); returns how many were removed."""
        now = time.time()
        return await self._run(
            lambda c: c.execute(
                "DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,)
            ).rowcount
        )

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()

        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await loop.run_in_executor(self._executor, _close)
        self._executor.shutdown(wait=False)
