"""What every SQLite store shares: the schema, one connection per scope on the store's own thread,
rows that hold one record each (`_Table`), and memory and preferences as rows of the `kv` table.
The guarantees are described in `sqlite`."""

from __future__ import annotations

import asyncio
import enum
import json
import os
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar
from uuid import UUID

from agent_runtime_core import _sqlite
from agent_runtime_core._json import MAX_STORED_BYTES, check_text_bounds, loads_bounded
from agent_runtime_core._keys import MAX_FILE_NAME_BYTES
from agent_runtime_core.errors import BackendError, InvalidInputError, UserError

from ._model import _Model, as_utc
from .base import (
    CorruptStoreError,
    Scope,
    ScopeDirs,
    StoreVersionError,
    _ScopeDirsStore,
    check_key,
    coerce_id,
    coerce_scope,
    require,
)

__all__ = ["DB_FILENAME", "SCHEMA_VERSION"]

T = TypeVar("T")
M = TypeVar("M", bound=_Model)

SCHEMA_VERSION = 1
DB_FILENAME = "persistence.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    store TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (store, key)
);
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY, agent_key TEXT, title TEXT, summary TEXT,
    updated_us INTEGER NOT NULL, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_updated ON conversations (updated_us);
CREATE TABLE IF NOT EXISTS messages (
    conversation_id TEXT NOT NULL, position INTEGER NOT NULL, id TEXT NOT NULL, text TEXT,
    data TEXT NOT NULL,
    PRIMARY KEY (conversation_id, position), UNIQUE (conversation_id, id)
);
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY, conversation_id TEXT, task_list_id TEXT, state TEXT NOT NULL,
    created_us INTEGER NOT NULL, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_conversation ON tasks (conversation_id);
CREATE INDEX IF NOT EXISTS tasks_list ON tasks (task_list_id);
CREATE TABLE IF NOT EXISTS task_lists (id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS facts (
    id TEXT PRIMARY KEY, key TEXT NOT NULL, fact_type TEXT NOT NULL, data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS summaries (
    id TEXT PRIMARY KEY, conversation_id TEXT, data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS embeddings (
    id TEXT PRIMARY KEY, content_type TEXT NOT NULL, data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_events (
    id TEXT PRIMARY KEY, event_type TEXT NOT NULL, ts_us INTEGER NOT NULL,
    conversation_id TEXT, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_events_ts ON audit_events (ts_us);
CREATE TABLE IF NOT EXISTS audit_errors (
    id TEXT PRIMARY KEY, severity TEXT NOT NULL, resolved INTEGER NOT NULL,
    ts_us INTEGER NOT NULL, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_errors_ts ON audit_errors (ts_us);
CREATE TABLE IF NOT EXISTS audit_metrics (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, ts_us INTEGER NOT NULL, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_metrics_ts ON audit_metrics (name, ts_us);
"""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _us(dt: datetime) -> int:
    """Microseconds since the epoch: exact, and sortable as an integer."""
    return (as_utc(dt) - _EPOCH) // timedelta(microseconds=1)


def _json(value: Any, what: str) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError) as e:
        raise UserError(
            f"{what} must hold only JSON values (dicts, lists, strings, numbers, booleans, None) "
            f"in its free-form fields: {e}"
        ) from None
    check_text_bounds(text, what=what, error=UserError)  # so that `_loads` reads it back
    return text


def _loads(data: str | bytes, what: str, path: Path) -> Any:
    """A stored JSON column, read within the limits it was written under."""
    try:
        return loads_bounded(data, what=what, max_bytes=MAX_STORED_BYTES)
    except InvalidInputError as e:
        raise CorruptStoreError(f"{e} (in {path}; it was left untouched)", path=path) from None


def _fold_contains(text: str | None, needle: str) -> int:
    return int(text is not None and needle in text.casefold())


def _where(clauses: list[tuple[str, Any]]) -> tuple[str, list[Any]]:
    """` WHERE a = ? AND ...` and its parameters, for the clauses whose value is not None."""
    used = [(sql, v) for sql, v in clauses if v is not None]
    if not used:
        return "", []
    return " WHERE " + " AND ".join(sql for sql, _ in used), [v for _, v in used]


def _limit(limit: int | None, offset: int = 0) -> tuple[str, list[Any]]:
    if offset < 0 or (limit is not None and limit < 0):
        raise UserError("`limit` and `offset` must be >= 0.")
    return " LIMIT ? OFFSET ?", [-1 if limit is None else limit, offset]


@dataclass(frozen=True)
class _Table(Generic[M]):
    """A table holding one model per row: `id`, the `columns` copied out of the record so that
    queries can filter and sort on them, and the whole record as JSON in `data`."""

    name: str
    model: type[M]
    columns: tuple[tuple[str, Callable[[M], Any]], ...] = ()

    @property
    def upsert(self) -> str:
        """The statement that creates or replaces a row; its parameters are `row(record)`."""
        names = ["id", *(name for name, _ in self.columns), "data"]
        marks = ", ".join("?" * len(names))
        return f"INSERT OR REPLACE INTO {self.name} ({', '.join(names)}) VALUES ({marks})"

    def row(self, record: M) -> tuple[Any, ...]:
        """The parameters of `upsert` for `record`."""
        rid = record.id  # type: ignore[attr-defined]
        values = (value(record) for _, value in self.columns)
        return (str(rid), *values, _json(record.to_dict(), f"{self.model.__name__} {rid}"))


def _text(value: UUID | enum.Enum | None) -> str | None:
    """A UUID or enum member as the text stored in a column; None stays NULL."""
    if value is None:
        return None
    return value.value if isinstance(value, enum.Enum) else str(value)


class _SQLiteStore(_ScopeDirsStore):
    """What every SQLite store shares: one connection per scope, on one dedicated thread."""

    def __init__(
        self,
        project_dir: str | os.PathLike[str] | None = None,
        *,
        global_dir: str | os.PathLike[str] | None = None,
        session_id: str | None = None,
        dirs: ScopeDirs | None = None,
        filename: str = DB_FILENAME,
        busy_timeout_seconds: float = 30.0,
        synchronous: str = "NORMAL",
    ) -> None:
        synchronous = _sqlite.check_synchronous(synchronous)
        super().__init__(project_dir, global_dir=global_dir, session_id=session_id, dirs=dirs)
        self.filename = check_key(filename, "filename", max_bytes=MAX_FILE_NAME_BYTES)
        self._busy_timeout = busy_timeout_seconds
        self._synchronous = synchronous
        self._executor = _sqlite.single_thread("agent-runtime-persist")
        self._conns: dict[Scope, sqlite3.Connection] = {}
        self._empty_conn: sqlite3.Connection | None = None
        self._closed = False

    def db_path(self, scope: Scope | str) -> Path:
        """The database file of `scope`."""
        return self.dirs.root(coerce_scope(scope, Scope.PROJECT)) / self.filename

    def _open(self, path: Path | str) -> sqlite3.Connection:
        conn = _sqlite.connect(
            path,
            busy_timeout=self._busy_timeout,
            synchronous=self._synchronous,
            schema=_SCHEMA,
            schema_version=SCHEMA_VERSION,
            newer_error=StoreVersionError,
        )
        conn.create_function("fold_contains", 2, _fold_contains, deterministic=True)
        return conn

    def _connect(self, scope: Scope) -> sqlite3.Connection:
        conn = self._conns.get(scope)
        if conn is None:
            conn = self._conns[scope] = self._open(self.db_path(scope))
        return conn

    def _empty(self) -> sqlite3.Connection:
        """An empty database in memory, to answer reads of a scope that has no file yet."""
        if self._empty_conn is None:
            self._empty_conn = self._open(":memory:")
        return self._empty_conn

    def _call(self, scope: Scope, fn: Callable[[sqlite3.Connection], T], write: bool) -> T:
        path = self.db_path(scope)
        try:
            if not write and scope not in self._conns and not path.exists():
                # Reading a scope that has no database yet: answer from an empty one rather
                # than create files (a `get` without scope looks in SESSION and GLOBAL too).
                return fn(self._empty())
            conn = self._connect(scope)
            if not write:
                return fn(conn)
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result
        except sqlite3.DatabaseError as e:
            text = str(e)
            if "not a database" in text or "malformed" in text or "corrupt" in text:
                raise CorruptStoreError(
                    f"{path} is not a readable SQLite database ({text}). It was left untouched: "
                    f"move it aside (e.g. `mv '{path}' '{path}.corrupt'`) or restore it from a "
                    "backup, then retry.",
                    path=path,
                ) from e
            raise BackendError(f"SQLite error on {path}: {text}") from e

    async def _run(
        self,
        scope: Scope | str | None,
        fn: Callable[[sqlite3.Connection], T],
        *,
        write: bool = False,
    ) -> T:
        s = coerce_scope(scope, Scope.PROJECT)
        if self._closed:
            raise BackendError(f"{self!r} is closed.")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, s, fn, write)

    def _decode(self, scope: Scope, table: str, model: type[M], data: str) -> M:
        try:
            return model.from_dict(loads_bounded(data, what="it", max_bytes=MAX_STORED_BYTES))
        except (InvalidInputError, UserError, TypeError) as e:
            path = self.db_path(scope)
            raise CorruptStoreError(
                f"A row of table {table!r} in {path} cannot be read as a {model.__name__} ({e}); "
                "it was left untouched.",
                path=path,
            ) from None

    async def _put(self, scope: Scope | str, table: _Table[M], record: M, what: str) -> None:
        """Create or replace `record` (the argument `what`, which must be a `table.model`)."""
        row = table.row(require(record, table.model, what))
        await self._run(scope, lambda c: c.execute(table.upsert, row), write=True)

    async def _get_one(
        self, scope: Scope | str, table: _Table[M], record_id: UUID | str, what: str
    ) -> M | None:
        """The record with this id (the argument `what`), or None."""
        rid = str(coerce_id(record_id, what))
        s = coerce_scope(scope, Scope.PROJECT)
        row = await self._run(
            s,
            lambda c: c.execute(f"SELECT data FROM {table.name} WHERE id = ?", (rid,)).fetchone(),
        )
        return None if row is None else self._decode(s, table.name, table.model, row[0])

    async def _delete_one(
        self, scope: Scope | str, table: _Table[M], record_id: UUID | str, what: str
    ) -> bool:
        """Remove the record with this id (the argument `what`); True if it existed."""
        rid = str(coerce_id(record_id, what))
        return await self._run(
            scope,
            lambda c: c.execute(f"DELETE FROM {table.name} WHERE id = ?", (rid,)).rowcount > 0,
            write=True,
        )

    async def _select(
        self, scope: Scope | str, table: _Table[M], sql: str, params: Sequence[Any] = ()
    ) -> list[M]:
        """The records of `SELECT data FROM <table><sql>`, in the order the query gives."""
        s = coerce_scope(scope, Scope.PROJECT)
        rows = await self._run(
            s, lambda c: c.execute(f"SELECT data FROM {table.name}{sql}", params).fetchall()
        )
        return [self._decode(s, table.name, table.model, r[0]) for r in rows]

    async def close(self) -> None:
        """Close the connections and stop the thread; the store is unusable afterwards."""
        if self._closed:
            return
        self._closed = True

        def close_all() -> None:
            for conn in self._conns.values():
                conn.close()
            self._conns.clear()
            if self._empty_conn is not None:
                self._empty_conn.close()
                self._empty_conn = None

        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, close_all)
        self._executor.shutdown(wait=False)


# -- memory and preferences --------------------------------------------------------------------


class _SQLiteKeyValue(_SQLiteStore):
    """The `_KeyValueStore` primitives: rows of the `kv` table whose `store` column is `_store`."""

    _store: str

    async def _kv_get(self, key: str, scopes: Sequence[Scope]) -> Any | None:
        for s in scopes:
            row = await self._run(
                s,
                lambda c: c.execute(
                    "SELECT value FROM kv WHERE store = ? AND key = ?", (self._store, key)
                ).fetchone(),
            )
            if row is not None:
                return _loads(row[0], f"The value of {key!r}", self.db_path(s))
        return None

    async def _kv_set(self, key: str, value: Any, scope: Scope) -> None:
        data = _json(value, f"The value of {key!r}")
        await self._run(
            scope,
            lambda c: c.execute(
                "INSERT INTO kv (store, key, value) VALUES (?, ?, ?) "
                "ON CONFLICT(store, key) DO UPDATE SET value = excluded.value",
                (self._store, key, data),
            ),
            write=True,
        )

    async def _kv_delete(self, key: str, scope: Scope) -> bool:
        return await self._run(
            scope,
            lambda c: (
                c.execute("DELETE FROM kv WHERE store = ? AND key = ?", (self._store, key)).rowcount
                > 0
            ),
            write=True,
        )

    async def _kv_all(self, scopes: Sequence[Scope]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for s in scopes:
            rows = await self._run(
                s,
                lambda c: c.execute(
                    "SELECT key, value FROM kv WHERE store = ?", (self._store,)
                ).fetchall(),
            )
            out.update({k: _loads(v, f"The value of {k!r}", self.db_path(s)) for k, v in rows})
        return out

    async def _kv_clear(self, scope: Scope) -> None:
        await self._run(
            scope, lambda c: c.execute("DELETE FROM kv WHERE store = ?", (self._store,)), write=True
        )
