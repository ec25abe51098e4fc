"""A state store in one SQLite file: the embedded default for state that must survive a restart.

Standard library only. Many processes may share the file: it runs in WAL mode, and writers wait
(up to `busy_timeout_seconds`) for each other instead of failing. Calls run on one dedicated
thread per store so they never block the event loop.

Calls are group-committed: a call made while the store's thread is idle is sent to it at once;
the calls made while it is busy queue up and go to it together, as one job, with their writes in
one transaction (one commit for 50 concurrent checkpoints instead of 50). Each caller still gets
its own outcome, and only once the transaction holding its write has committed; when a write of
a batch fails, the batch is rolled back and its calls are made again one by one, so the error
reaches that write's caller alone. Calls run in the order they were made.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .. import _sqlite
from ..errors import BackendError
from .base import check_key, dumps, loads

__all__ = ["SQLiteStateStore"]

T = TypeVar("T")

# One queued call: what to run on the connection, whether it writes, and its caller's future.
_Call = tuple[Callable[[sqlite3.Connection], Any], bool, "asyncio.Future[Any]"]
# The outcome of one call, computed on the store's thread: (True, result) or (False, exception).
_Outcome = tuple[bool, Any]

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
        self._synchronous = _sqlite.check_synchronous(synchronous)
        self.db_path = str(db_path)
        self._busy_timeout = busy_timeout_seconds
        self._executor = _sqlite.single_thread("agent-runtime-sqlite")
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        self._init_lock = threading.Lock()
        self._queue: list[_Call] = []  # calls made while the thread was busy, in order
        self._busy = False  # a job is on the thread (or its outcomes are on their way back)
        self._busy_loop: asyncio.AbstractEventLoop | None = None  # the loop that job answers to
        self._idle = asyncio.Event()
        self._idle.set()

    def __repr__(self) -> str:
        return f"SQLiteStateStore(db_path={self.db_path!r})"

    # -- plumbing ---------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        with self._init_lock:
            if self._conn is None:
                self._conn = _sqlite.connect(
                    self.db_path,
                    busy_timeout=self._busy_timeout,
                    synchronous=self._synchronous,
                    schema=_SCHEMA,
                    schema_version=_SCHEMA_VERSION,
                )
            return self._conn

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return fn(self._conn or self._connect())
        except sqlite3.Error as e:
            raise BackendError(f"SQLite error on {self.db_path}: {e}") from e

    def _one(self, fn: Callable[[sqlite3.Connection], Any]) -> _Outcome:
        try:
            return True, self._call(fn)
        except Exception as e:
            return False, e

    def _execute(self, calls: list[tuple[Callable[[sqlite3.Connection], Any], bool]]) -> list[_Outcome]:
        """On the store's thread: run a batch of calls, in order; the writes in one transaction
        when there are several. Returns each call's outcome once that transaction committed."""
        if len(calls) == 1 or sum(write for _, write in calls) < 2:
            return [self._one(fn) for fn, _ in calls]  # autocommit: each statement commits alone
        try:
            conn = self._conn or self._connect()
        except Exception:
            return [self._one(fn) for fn, _ in calls]  # each caller gets the error
        results: list[Any] = []
        try:
            conn.execute("BEGIN IMMEDIATE")  # waits up to the busy timeout for other processes
            try:
                for fn, _ in calls:
                    results.append(fn(conn))
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except Exception:
            # Something failed: nothing of the batch was kept. Make each call alone, so an error
            # reaches only the caller whose call caused it.
            return [self._one(fn) for fn, _ in calls]
        return [(True, r) for r in results]

    def _submit(self, fn: Callable[[sqlite3.Connection], Any], write: bool) -> asyncio.Future[Any]:
        if self._closed:
            raise BackendError(f"{self!r} is closed.")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append((fn, write, future))
        if self._busy and self._busy_loop is not None and self._busy_loop.is_closed():
            self._busy = False  # that job's loop ended before handing its outcome back
        if not self._busy:
            self._start(loop)
        return future

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Send every queued call (but those whose caller gave up) to the thread, as one job."""
        batch = [call for call in self._queue if not call[2].done() and not call[2].get_loop().is_closed()]
        self._queue = []
        if not batch:
            self._busy = False
            self._idle.set()
            return
        self._busy = True
        self._busy_loop = loop
        self._idle.clear()
        calls = [(fn, write) for fn, write, _ in batch]
        try:
            self._executor.submit(self._job, loop, calls, batch)
        except RuntimeError as e:  # the executor is shut down
            self._finish(loop, batch, [(False, BackendError(f"{self!r} is closed: {e}"))] * len(batch))

    def _job(self, loop: asyncio.AbstractEventLoop, calls: list[tuple[Callable[[sqlite3.Connection], Any], bool]],
             batch: list[_Call]) -> None:
        """On the store's thread: run the batch, then hand the outcomes back to the loop."""
        try:
            outcomes = self._execute(calls)
        except BaseException as e:  # cannot happen short of a shutdown; never leave callers hanging
            error = e if isinstance(e, Exception) else BackendError(f"SQLite call on {self.db_path} failed: {e!r}")
            outcomes = [(False, error)] * len(batch)
        try:
            loop.call_soon_threadsafe(self._finish, loop, batch, outcomes)
        except RuntimeError:
            # The event loop is closed: nobody is waiting any more. Become idle again, so calls
            # from another loop (a later execute_sync) are not stuck behind this job.
            self._busy = False

    def _finish(self, loop: asyncio.AbstractEventLoop, batch: list[_Call], outcomes: list[_Outcome]) -> None:
        for (_, _, future), (ok, value) in zip(batch, outcomes, strict=True):
            if future.done():
                continue  # its caller gave up (cancelled)
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
        # Next turn: the callers woken above make their next calls first, and join the next job.
        loop.call_soon(self._start, loop)

    async def _run(self, fn: Callable[[sqlite3.Connection], T], *, write: bool = False) -> T:
        result: T = await self._submit(fn, write)
        return result

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
            ),
            write=True,
        )

    async def get_checkpoint(self, run_id: str) -> dict[str, Any] | None:
        check_key(run_id, "run_id")
        row = await self._run(
            lambda c: c.execute("SELECT state FROM checkpoints WHERE run_id = ?", (run_id,)).fetchone()
        )
        return None if row is None else loads(row[0], f"The checkpoint of run {run_id!r}")

    async def delete_checkpoint(self, run_id: str) -> None:
        check_key(run_id, "run_id")
        await self._run(lambda c: c.execute("DELETE FROM checkpoints WHERE run_id = ?", (run_id,)), write=True)

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
        return None if row is None else loads(row[0], f"The value of {key!r}")

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
            ),
            write=True,
        )

    async def delete(self, key: str) -> None:
        check_key(key)
        await self._run(lambda c: c.execute("DELETE FROM kv WHERE key = ?", (key,)), write=True)

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
            ).rowcount,
            write=True,
        )

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._idle.wait()  # the calls made before closing finish first
        loop = asyncio.get_running_loop()

        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await loop.run_in_executor(self._executor, _close)
        self._executor.shutdown(wait=False)
