"""How the SQLite stores open their database: the state store (`state.sqlite`) and the
persistence stores (`persistence.sqlite`) alike.

A store runs its SQLite calls on one dedicated thread (`single_thread`), on a connection in
autocommit mode that may be used from that thread (`connect`). The file runs in WAL mode, so that
readers do not block the writer, and every connection waits up to a busy timeout for another
process's lock instead of failing. The schema's version is kept in `PRAGMA user_version`: an older
file gets the schema, a newer one is refused.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .errors import BackendError, UserError

__all__ = ["check_synchronous", "connect", "single_thread"]

_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")


def check_synchronous(synchronous: str) -> str:
    """`synchronous` in capitals: one of SQLite's levels; anything else is a `UserError`."""
    if synchronous.upper() not in _SYNCHRONOUS:
        raise UserError(f"`synchronous` must be OFF, NORMAL, FULL or EXTRA; got {synchronous!r}.")
    return synchronous.upper()


def single_thread(name: str) -> ThreadPoolExecutor:
    """The one thread a store makes its SQLite calls on, off the event loop."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)


def connect(
    path: str | Path,
    *,
    busy_timeout: float,
    synchronous: str,
    schema: str,
    schema_version: int,
    newer_error: type[BackendError] = BackendError,
) -> sqlite3.Connection:
    """Open the database at `path` (its folder created; `":memory:"` for none) and prepare it.

    The connection is in autocommit mode (each statement its own transaction unless the caller
    says `BEGIN`) and may be used from any one thread at a time. A file older than
    `schema_version` gets `schema` (which must be idempotent: `CREATE ... IF NOT EXISTS`) and that
    version, in one transaction; a newer one raises `newer_error`.
    """
    in_memory = str(path) == ":memory:"
    if not in_memory:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)

    def prepare() -> None:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > schema_version:
            raise newer_error(
                f"{path} was written by a newer agent-runtime-core (schema {version} > "
                f"{schema_version}); upgrade agent-runtime-core to open it."
            )
        if not in_memory:
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        if version < schema_version:
            try:
                conn.executescript(
                    f"BEGIN IMMEDIATE;{schema}PRAGMA user_version = {schema_version};COMMIT;"
                )
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    try:
        _retry_locked(prepare, busy_timeout)
    except BaseException:
        conn.close()
        raise
    return conn


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
