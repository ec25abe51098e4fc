"""A state store in one SQLite file: the embedded default for state that must survive a restart.

Standard library only. Many processes may share the file: it runs in WAL mode, and writers wait
(up to `busy_timeout_seconds`) for each other instead of failing.

A call that finds the store idle runs inline, on the event loop's thread: a point read, a
listing, a delete, or a write of at most `inline_max_bytes` (16 KiB by default) of JSON. It uses
a second connection that never waits for a lock (busy timeout 0) and never checkpoints the WAL
(a passive checkpoint runs on the store's thread instead, every ~1000 pages written), so it
blocks the loop for about the time of the statement itself (under 10 µs for a 2 KB state) where
a hop to a thread and back costs 25 to 100 µs, with the same durability (each statement commits
in autocommit before the call returns). The call goes to the store's thread instead when it
cannot run at once (another process holds the write lock), when a third task calls in a turn of
the loop where two tasks already ran inline calls, or where inline calls already took 200 µs (a
burst: the rest are batched, see below), when the thread has work, and for every write with
`synchronous` FULL or EXTRA (an fsync per commit).

Other calls run on one dedicated thread per store so they never block the event loop. They are
group-committed: a call made while the store's thread is idle is sent to it at once;
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, TypeVar

from ..errors import BackendError
from .base import check_key, dumps, loads

__all__ = ["SQLiteStateStore"]

T = TypeVar("T")

# One queued call: what to run on the connection, whether it writes, and its caller's future.
_Call = tuple[Callable[[sqlite3.Connection], Any], bool, "asyncio.Future[Any]"]
# The outcome of one call, computed on the store's thread: (True, result) or (False, exception).
_Outcome = tuple[bool, Any]

INLINE_MAX_BYTES = 16 * 1024
"""Default largest JSON written inline on the event loop (see the module docstring)."""

_INLINE_TASKS_PER_TURN = 2
_INLINE_BUDGET_PER_TURN = 0.0002
"""In one turn of the event loop, inline calls come from at most this many tasks (a graph step
and its checkpointer, say) and take at most this many seconds before a new task's calls go to
the thread: a burst of concurrent callers is batched there instead."""

_WAL_PAGES_PER_CHECKPOINT = 1000
"""Pages inline writes may add to the WAL before a passive checkpoint is run on the store's
thread (SQLite's own `wal_autocheckpoint` default, which the inline connection turns off)."""

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
    survive a power loss, at some cost per write (and no write then runs inline).
    `inline_max_bytes` is the largest value written inline on the event loop when the store is
    idle; 0 sends every call to the store's thread.
    """

    def __init__(
        self,
        db_path: str | Path = "agent_runtime.db",
        *,
        busy_timeout_seconds: float = 30.0,
        synchronous: str = "NORMAL",
        inline_max_bytes: int = INLINE_MAX_BYTES,
    ) -> None:
        if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError(f"`synchronous` must be OFF, NORMAL, FULL or EXTRA; got {synchronous!r}.")
        if inline_max_bytes < 0:
            raise ValueError(f"`inline_max_bytes` must be 0 or more; got {inline_max_bytes!r}.")
        self.db_path = str(db_path)
        self._busy_timeout = busy_timeout_seconds
        self._synchronous = synchronous.upper()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agent-runtime-sqlite")
        self._conn: sqlite3.Connection | None = None
        # The inline connection (None until the first call on the thread opened the file, and
        # for ":memory:", where a second connection would be another database).
        self._fast: sqlite3.Connection | None = None
        # Writes of more JSON than this go to the thread. With an fsync per commit (FULL, EXTRA),
        # none runs inline; reads still do, unless inline calls are off (0).
        self._inline_max = inline_max_bytes
        self._inline_writes = self._synchronous in {"OFF", "NORMAL"}
        # This loop turn's inline calls: the loop, the task of the last one, their time.
        self._turn_loop: asyncio.AbstractEventLoop | None = None
        self._turn_task: asyncio.Task[Any] | None = None
        self._turn_spent = 0.0
        self._turn_tasks = 0
        self._wal_pages = 0  # pages the inline connection added since the last checkpoint job
        self._checkpointing = False  # a passive checkpoint is on the thread (set back from there)
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
            if self.db_path != ":memory:" and self._inline_max > 0:
                self._fast = self._open_fast()
            return conn

    def _open_fast(self) -> sqlite3.Connection | None:
        """The inline connection: never waits for a lock, never checkpoints (both would block the
        event loop). None if it cannot be opened: every call then goes to the thread."""
        try:
            fast = sqlite3.connect(self.db_path, timeout=0, isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            return None
        try:
            fast.execute("PRAGMA busy_timeout = 0")
            fast.execute("PRAGMA wal_autocheckpoint = 0")
            fast.execute(f"PRAGMA synchronous = {self._synchronous}")
        except sqlite3.Error:
            fast.close()
            return None
        return fast

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

    def _submit(self, fn: Callable[[sqlite3.Connection], Any], write: bool, *, defer: bool = False) -> asyncio.Future[Any]:
        """Queue a call for the thread; start a job now if the thread is idle, or at the end of
        this loop turn when `defer` (a burst: the calls made later in the turn join the job)."""
        if self._closed:
            raise BackendError(f"{self!r} is closed.")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append((fn, write, future))
        if self._busy and self._busy_loop is not None and self._busy_loop.is_closed():
            self._busy = False  # that job's loop ended before handing its outcome back
        if not self._busy:
            if defer:
                self._busy, self._busy_loop = True, loop
                self._idle.clear()
                loop.call_soon(self._start, loop)
            else:
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
        if len(batch) == 1 and not self._queue:
            # A lone caller: nobody to batch with. Idle now, so its next call may run inline.
            self._busy = False
            self._idle.set()
            return
        # Next turn: the callers woken above make their next calls first, and join the next job.
        loop.call_soon(self._start, loop)

    async def _run(
        self, fn: Callable[[sqlite3.Connection], T], *, write: bool = False, inline_size: int | None = None
    ) -> T:
        """Make one call: inline when `inline_size` (the bytes it writes; 0 for a read or a
        delete) allows it and the store is idle, else on the store's thread."""
        way = "thread" if inline_size is None else self._way(write, inline_size)
        if way == "inline":
            started = time.perf_counter()
            outcome = self._inline(fn)
            self._turn_spent += time.perf_counter() - started
            if write and self._wal_pages >= _WAL_PAGES_PER_CHECKPOINT:
                self._checkpoint_wal()
            if outcome is not None:
                ok, value = outcome
                if ok:
                    return value  # type: ignore[no-any-return]
                raise value
        result: T = await self._submit(fn, write, defer=way == "burst")
        return result

    # -- inline calls -------------------------------------------------------------------------

    def _way(self, write: bool, size: int) -> Literal["inline", "thread", "burst"]:
        """How to make a call: "inline" if it is small enough, the store idle (no job on its
        thread or about to start, nothing queued), and it is made by the task that made the last
        inline call (going on with its work) or within this loop turn's budget (tasks and time);
        else on the thread. Many tasks calling in one turn are a "burst": past the budget, their
        calls are batched on the thread, in one job started at the end of the turn, so the loop
        is not blocked by a long series of writes and group commit is kept. An inline write also
        counts the pages it adds to the WAL."""
        if self._fast is None or self._busy or self._queue or self._closed:
            return "thread"
        if write and (size > self._inline_max or not self._inline_writes or self._checkpointing):
            return "thread"
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        if self._turn_loop is not loop:
            self._turn_loop, self._turn_spent, self._turn_tasks = loop, 0.0, 1
            loop.call_soon(self._end_turn)
        elif task is not self._turn_task:
            if self._turn_tasks >= _INLINE_TASKS_PER_TURN or self._turn_spent >= _INLINE_BUDGET_PER_TURN:
                return "burst"
            self._turn_tasks += 1
        self._turn_task = task
        if write:
            self._wal_pages += 1 + size // 4096  # about: the page(s) of the row
        return "inline"

    def _end_turn(self) -> None:
        self._turn_loop = self._turn_task = None

    def _inline(self, fn: Callable[[sqlite3.Connection], Any]) -> _Outcome | None:
        """Run one call on the inline connection. None when the file is locked (another
        process is writing): the caller sends the call to the thread, where it may wait."""
        assert self._fast is not None
        try:
            return True, fn(self._fast)
        except sqlite3.OperationalError as e:
            if e.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                return None  # nothing was written (autocommit): safe to make again on the thread
            return False, BackendError(f"SQLite error on {self.db_path}: {e}")
        except sqlite3.Error as e:
            return False, BackendError(f"SQLite error on {self.db_path}: {e}")
        except Exception as e:
            return False, e

    def _checkpoint_wal(self) -> None:
        """Copy the WAL into the database file: a passive checkpoint on the store's thread (the
        inline connection does not checkpoint: it would fsync on the loop). Until it is done,
        writes go to the thread, behind it, so the first write after it finds the WAL all copied
        and starts it over (a writer going on inline beside it would keep it growing); reads
        still run inline. Its errors are dropped: the next one tries again."""
        conn = self._conn
        if conn is None or self._closed:
            return
        self._wal_pages = 0
        self._checkpointing = True

        def checkpoint() -> None:
            try:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error:
                pass
            finally:
                self._checkpointing = False

        try:
            self._executor.submit(checkpoint)
        except RuntimeError:  # the executor is shut down (the store is closing)
            self._checkpointing = False

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
            inline_size=len(data),
        )

    async def get_checkpoint(self, run_id: str) -> dict[str, Any] | None:
        check_key(run_id, "run_id")
        row = await self._run(
            lambda c: c.execute("SELECT state FROM checkpoints WHERE run_id = ?", (run_id,)).fetchone(),
            inline_size=0,
        )
        return None if row is None else loads(row[0], f"The checkpoint of run {run_id!r}")

    async def delete_checkpoint(self, run_id: str) -> None:
        check_key(run_id, "run_id")
        await self._run(
            lambda c: c.execute("DELETE FROM checkpoints WHERE run_id = ?", (run_id,)),
            write=True,
            inline_size=0,
        )

    # -- key-value --------------------------------------------------------------------------

    async def get(self, key: str) -> Any | None:
        check_key(key)
        now = time.time()
        row = await self._run(
            lambda c: c.execute(
                "SELECT value FROM kv WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)",
                (key, now),
            ).fetchone(),
            inline_size=0,
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
            inline_size=len(data),
        )

    async def delete(self, key: str) -> None:
        check_key(key)
        await self._run(
            lambda c: c.execute("DELETE FROM kv WHERE key = ?", (key,)), write=True, inline_size=0
        )

    async def list_keys(self, prefix: str = "") -> list[str]:
        now = time.time()
        # Range scan on the primary key instead of LIKE, so `%` and `_` in prefixes are literal.
        upper = prefix + "\U0010ffff"
        rows = await self._run(
            lambda c: c.execute(
                "SELECT key FROM kv WHERE key >= ? AND key < ? "
                "AND (expires_at IS NULL OR expires_at > ?) ORDER BY key",
                (prefix, upper, now),
            ).fetchall(),
            inline_size=0,
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
        if self._busy and self._busy_loop is not None and self._busy_loop.is_closed():
            self._busy = False  # that job's loop ended before handing its outcome back
            self._idle.set()
        await self._idle.wait()  # the calls made before closing finish first
        loop = asyncio.get_running_loop()

        def _close() -> None:
            if self._fast is not None:
                self._fast.close()
                self._fast = None
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await loop.run_in_executor(self._executor, _close)
        self._executor.shutdown(wait=False)
