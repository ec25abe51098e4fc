"""The SQLite backend: every store in one SQLite file per scope, for large histories.

Standard library only. Each scope's directory (see `ScopeDirs`) holds one `persistence.db`; every
store opens it lazily, in WAL mode, with a busy timeout so writers from several processes wait for
each other instead of failing. Read-modify-writes (`add_message`, `update`, `resolve_error`) run in
one `BEGIN IMMEDIATE` transaction, so concurrent processes lose no update.

Each store runs its SQLite calls on its own single thread, off the event loop; `close()` the store
(or the `PersistenceManager`) to release the connections. The schema version lives in
`PRAGMA user_version`; a newer one raises `StoreVersionError`. A file that is not a database (or a
row that cannot be decoded) raises `CorruptStoreError` naming the file; nothing is overwritten.
"""

from __future__ import annotations

import asyncio
import enum
import json
import os
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar
from uuid import UUID

from agent_runtime_core._json import MAX_STORED_BYTES, check_text_bounds, loads_bounded
from agent_runtime_core._keys import MAX_FILE_NAME_BYTES
from agent_runtime_core.errors import BackendError, InvalidInputError, UserError

from .base import (
    AuditStore,
    ConversationStore,
    CorruptStoreError,
    KnowledgeStore,
    RecordNotFoundError,
    Scope,
    ScopeDirs,
    StoreVersionError,
    TaskStore,
    _KeyValueMemoryStore,
    _KeyValuePreferencesStore,
    _ScopeDirsStore,
    append_message,
    apply_task_changes,
    check_key,
    coerce_id,
    coerce_scope,
    fill_task_list,
    filter_facts,
    filter_summaries,
    mark_resolved,
    optional_enum,
    optional_id,
    rank_by_similarity,
    require,
    task_list_order,
    task_list_record,
)
from .models import (
    AuditEntry,
    AuditEventType,
    Conversation,
    ConversationMessage,
    Embedding,
    ErrorRecord,
    ErrorSeverity,
    Fact,
    FactType,
    PerformanceMetric,
    Summary,
    Task,
    TaskList,
    TaskState,
    _Model,
    as_utc,
)

__all__ = [
    "SCHEMA_VERSION",
    "SQLiteAuditStore",
    "SQLiteConversationStore",
    "SQLiteKnowledgeStore",
    "SQLiteMemoryStore",
    "SQLitePreferencesStore",
    "SQLiteTaskStore",
]

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
        if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise UserError(
                f"`synchronous` must be OFF, NORMAL, FULL or EXTRA; got {synchronous!r}."
            )
        super().__init__(project_dir, global_dir=global_dir, session_id=session_id, dirs=dirs)
        self.filename = check_key(filename, "filename", max_bytes=MAX_FILE_NAME_BYTES)
        self._busy_timeout = busy_timeout_seconds
        self._synchronous = synchronous.upper()
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="agent-runtime-persist"
        )
        self._conns: dict[Scope, sqlite3.Connection] = {}
        self._empty_conn: sqlite3.Connection | None = None
        self._closed = False

    def db_path(self, scope: Scope | str) -> Path:
        """The database file of `scope`."""
        return self.dirs.root(coerce_scope(scope, Scope.PROJECT)) / self.filename

    def _connect(self, scope: Scope) -> sqlite3.Connection:
        conn = self._conns.get(scope)
        if conn is not None:
            return conn
        path = self.db_path(scope)
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            conn.create_function("fold_contains", 2, _fold_contains, deterministic=True)
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreVersionError(
                    f"{path} was written by a newer agent-runtime-core (schema {version} > "
                    f"{SCHEMA_VERSION}); upgrade agent-runtime-core to open it."
                )
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            if version < SCHEMA_VERSION:
                try:
                    conn.executescript(
                        f"BEGIN IMMEDIATE;{_SCHEMA}PRAGMA user_version = {SCHEMA_VERSION};COMMIT;"
                    )
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
        except BaseException:
            conn.close()
            raise
        self._conns[scope] = conn
        return conn

    def _empty(self) -> sqlite3.Connection:
        if self._empty_conn is None:
            conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            conn.create_function("fold_contains", 2, _fold_contains, deterministic=True)
            conn.executescript(_SCHEMA)
            self._empty_conn = conn
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


class SQLiteMemoryStore(_SQLiteKeyValue, _KeyValueMemoryStore):
    """`MemoryStore` in the `kv` table of each scope's `persistence.db`."""

    _store = "memory"


class SQLitePreferencesStore(_SQLiteKeyValue, _KeyValuePreferencesStore):
    """`PreferencesStore` in the `kv` table of each scope's `persistence.db`."""

    _store = "preferences"


# -- conversations -----------------------------------------------------------------------------


def _message_row(cid: str, position: int, m: ConversationMessage) -> tuple[Any, ...]:
    text = m.content if isinstance(m.content, str) else None
    return (cid, position, str(m.id), text, _json(m.to_dict(), f"Message {m.id}"))


class SQLiteConversationStore(_SQLiteStore, ConversationStore):
    """`ConversationStore` with a row per conversation and a row per message.

    `add_message` inserts one row, so appends stay cheap however long the conversation grows.
    """

    def _header(self, conv: Conversation) -> tuple[Any, ...]:
        header = conv.to_dict()
        header["messages"] = []
        return (
            str(conv.id),
            conv.agent_key,
            conv.title,
            conv.summary,
            _us(conv.updated_at),
            _json(header, f"Conversation {conv.id}"),
        )

    def _load(self, scope: Scope, c: sqlite3.Connection, cid: str, data: str) -> Conversation:
        conv = self._decode(scope, "conversations", Conversation, data)
        rows = c.execute(
            "SELECT data FROM messages WHERE conversation_id = ? ORDER BY position", (cid,)
        ).fetchall()
        conv.messages = [self._decode(scope, "messages", ConversationMessage, r[0]) for r in rows]
        return conv

    async def save(self, conversation: Conversation, scope: Scope | str = Scope.PROJECT) -> None:
        require(conversation, Conversation, "conversation")
        cid = str(conversation.id)
        header = self._header(conversation)
        ids = [m.id for m in conversation.messages]
        if len(set(ids)) != len(ids):
            raise UserError(f"Conversation {cid} has two messages with the same id.")
        rows = [_message_row(cid, i, m) for i, m in enumerate(conversation.messages)]

        def save(c: sqlite3.Connection) -> None:
            c.execute(
                "INSERT OR REPLACE INTO conversations "
                "(id, agent_key, title, summary, updated_us, data) VALUES (?, ?, ?, ?, ?, ?)",
                header,
            )
            c.execute("DELETE FROM messages WHERE conversation_id = ?", (cid,))
            c.executemany(
                "INSERT INTO messages (conversation_id, position, id, text, data) "
                "VALUES (?, ?, ?, ?, ?)",
                rows,
            )

        await self._run(scope, save, write=True)

    async def get(
        self, conversation_id: UUID | str, scope: Scope | str = Scope.PROJECT
    ) -> Conversation | None:
        cid = str(coerce_id(conversation_id, "conversation_id"))
        s = coerce_scope(scope, Scope.PROJECT)

        def get(c: sqlite3.Connection) -> Conversation | None:
            row = c.execute("SELECT data FROM conversations WHERE id = ?", (cid,)).fetchone()
            return None if row is None else self._load(s, c, cid, row[0])

        return await self._run(s, get)

    async def delete(self, conversation_id: UUID | str, scope: Scope | str = Scope.PROJECT) -> bool:
        cid = str(coerce_id(conversation_id, "conversation_id"))

        def delete(c: sqlite3.Connection) -> bool:
            c.execute("DELETE FROM messages WHERE conversation_id = ?", (cid,))
            return c.execute("DELETE FROM conversations WHERE id = ?", (cid,)).rowcount > 0

        return await self._run(scope, delete, write=True)

    async def _select_conversations(
        self, scope: Scope | str, sql_where: str, params: list[Any], limit: int | None, offset: int
    ) -> list[Conversation]:
        s = coerce_scope(scope, Scope.PROJECT)
        lim_sql, lim_params = _limit(limit, offset)

        def select(c: sqlite3.Connection) -> list[Conversation]:
            rows = c.execute(
                f"SELECT id, data FROM conversations{sql_where} "
                f"ORDER BY updated_us DESC, id DESC{lim_sql}",
                [*params, *lim_params],
            ).fetchall()
            return [self._load(s, c, cid, data) for cid, data in rows]

        return await self._run(s, select)

    async def list_conversations(
        self,
        scope: Scope | str = Scope.PROJECT,
        limit: int | None = 100,
        offset: int = 0,
        agent_key: str | None = None,
    ) -> list[Conversation]:
        where, params = _where([("agent_key = ?", agent_key)])
        return await self._select_conversations(scope, where, params, limit, offset)

    async def search(
        self, query: str, scope: Scope | str = Scope.PROJECT, limit: int | None = 20
    ) -> list[Conversation]:
        needle = query.casefold()
        where = (
            " WHERE fold_contains(title, ?) OR fold_contains(summary, ?) OR id IN "
            "(SELECT conversation_id FROM messages WHERE fold_contains(text, ?))"
        )
        return await self._select_conversations(scope, where, [needle, needle, needle], limit, 0)

    async def add_message(
        self,
        conversation_id: UUID | str,
        message: ConversationMessage,
        scope: Scope | str = Scope.PROJECT,
    ) -> None:
        cid = str(coerce_id(conversation_id, "conversation_id"))
        require(message, ConversationMessage, "message")
        s = coerce_scope(scope, Scope.PROJECT)
        _message_row(cid, 0, message)  # fail early if not JSON

        def add(c: sqlite3.Connection) -> None:
            row = c.execute("SELECT data FROM conversations WHERE id = ?", (cid,)).fetchone()
            if row is None:
                raise RecordNotFoundError(f"No conversation {cid} in scope {s.value}.")
            header = self._decode(s, "conversations", Conversation, row[0])
            exists = c.execute(
                "SELECT 1 FROM messages WHERE conversation_id = ? AND id = ?",
                (cid, str(message.id)),
            ).fetchone()
            if exists:
                raise UserError(f"Conversation {cid} already has a message with id {message.id}.")
            append_message(header, message)
            header.messages = []
            (position,) = c.execute(
                "SELECT COALESCE(MAX(position), -1) + 1 FROM messages WHERE conversation_id = ?",
                (cid,),
            ).fetchone()
            c.execute(
                "INSERT INTO messages (conversation_id, position, id, text, data) "
                "VALUES (?, ?, ?, ?, ?)",
                _message_row(cid, position, message),
            )
            c.execute(
                "UPDATE conversations SET updated_us = ?, data = ? WHERE id = ?",
                (_us(header.updated_at), _json(header.to_dict(), f"Conversation {cid}"), cid),
            )

        await self._run(s, add, write=True)


# -- tasks -------------------------------------------------------------------------------------


_TASKS = _Table(
    "tasks",
    Task,
    (
        ("conversation_id", lambda t: _text(t.conversation_id)),
        ("task_list_id", lambda t: _text(t.task_list_id)),
        ("state", lambda t: t.state.value),
        ("created_us", lambda t: _us(t.created_at)),
    ),
)


class SQLiteTaskStore(_SQLiteStore, TaskStore):
    """`TaskStore` with a row per task and per task list."""

    async def save(self, task: Task, scope: Scope | str = Scope.PROJECT) -> None:
        await self._put(scope, _TASKS, task, "task")

    async def get(self, task_id: UUID | str, scope: Scope | str = Scope.PROJECT) -> Task | None:
        return await self._get_one(scope, _TASKS, task_id, "task_id")

    async def delete(self, task_id: UUID | str, scope: Scope | str = Scope.PROJECT) -> bool:
        return await self._delete_one(scope, _TASKS, task_id, "task_id")

    async def list_tasks(
        self,
        scope: Scope | str = Scope.PROJECT,
        *,
        conversation_id: UUID | str | None = None,
        state: TaskState | str | None = None,
        task_list_id: UUID | str | None = None,
    ) -> list[Task]:
        where, params = _where(
            [
                ("conversation_id = ?", _text(optional_id(conversation_id, "conversation_id"))),
                ("task_list_id = ?", _text(optional_id(task_list_id, "task_list_id"))),
                ("state = ?", _text(optional_enum(TaskState, state, "state"))),
            ]
        )
        return await self._select(scope, _TASKS, f"{where} ORDER BY created_us, id", params)

    async def update(
        self, task_id: UUID | str, *, scope: Scope | str = Scope.PROJECT, **changes: Any
    ) -> Task:
        tid = str(coerce_id(task_id, "task_id"))
        s = coerce_scope(scope, Scope.PROJECT)

        def update(c: sqlite3.Connection) -> Task:
            row = c.execute("SELECT data FROM tasks WHERE id = ?", (tid,)).fetchone()
            if row is None:
                raise RecordNotFoundError(f"No task {tid} in scope {s.value}.")
            new = apply_task_changes(self._decode(s, _TASKS.name, Task, row[0]), changes)
            c.execute(_TASKS.upsert, _TASKS.row(new))
            return new

        return await self._run(s, update, write=True)

    async def save_task_list(self, task_list: TaskList, scope: Scope | str = Scope.PROJECT) -> None:
        data = _json(task_list_record(task_list), f"TaskList {task_list.id}")
        rows = [_TASKS.row(t) for t in task_list.tasks]

        def save(c: sqlite3.Connection) -> None:
            c.executemany(_TASKS.upsert, rows)
            c.execute(
                "INSERT OR REPLACE INTO task_lists (id, data) VALUES (?, ?)",
                (str(task_list.id), data),
            )

        await self._run(scope, save, write=True)

    async def get_task_list(
        self, task_list_id: UUID | str, scope: Scope | str = Scope.PROJECT
    ) -> TaskList | None:
        lid = coerce_id(task_list_id, "task_list_id")
        s = coerce_scope(scope, Scope.PROJECT)
        row = await self._run(
            s,
            lambda c: c.execute("SELECT data FROM task_lists WHERE id = ?", (str(lid),)).fetchone(),
        )
        if row is None:
            return None
        task_list = self._decode(s, "task_lists", TaskList, row[0])
        try:
            order = task_list_order(_loads(row[0], f"Task list {lid}", self.db_path(s)))
        except (ValueError, TypeError, AttributeError) as e:
            raise CorruptStoreError(
                f"Task list {lid} in {self.db_path(s)} has bad task ids ({e}).",
                path=self.db_path(s),
            ) from None
        return await fill_task_list(self, task_list, lid, order, s)


# -- knowledge ---------------------------------------------------------------------------------

_FACTS = _Table(
    "facts", Fact, (("key", lambda f: f.key), ("fact_type", lambda f: f.fact_type.value))
)
_SUMMARIES = _Table(
    "summaries", Summary, (("conversation_id", lambda s: _text(s.conversation_id)),)
)
_EMBEDDINGS = _Table("embeddings", Embedding, (("content_type", lambda e: e.content_type),))


class SQLiteKnowledgeStore(_SQLiteStore, KnowledgeStore):
    """`KnowledgeStore` with a row per fact, summary and embedding.

    `search_similar` scores every embedding of the scope (of `content_type`, if given) in Python.
    """

    async def save_fact(self, fact: Fact, scope: Scope | str = Scope.PROJECT) -> None:
        await self._put(scope, _FACTS, fact, "fact")

    async def get_fact(
        self, fact_id: UUID | str, scope: Scope | str = Scope.PROJECT
    ) -> Fact | None:
        return await self._get_one(scope, _FACTS, fact_id, "Fact id")

    async def list_facts(
        self,
        scope: Scope | str = Scope.PROJECT,
        fact_type: FactType | str | None = None,
        limit: int | None = None,
    ) -> list[Fact]:
        where, params = _where(
            [("fact_type = ?", _text(optional_enum(FactType, fact_type, "fact_type")))]
        )
        return filter_facts(await self._select(scope, _FACTS, where, params), None, limit)

    async def delete_fact(self, fact_id: UUID | str, scope: Scope | str = Scope.PROJECT) -> bool:
        return await self._delete_one(scope, _FACTS, fact_id, "id")

    async def save_summary(self, summary: Summary, scope: Scope | str = Scope.PROJECT) -> None:
        await self._put(scope, _SUMMARIES, summary, "summary")

    async def get_summary(
        self, summary_id: UUID | str, scope: Scope | str = Scope.PROJECT
    ) -> Summary | None:
        return await self._get_one(scope, _SUMMARIES, summary_id, "Summary id")

    async def list_summaries(
        self, scope: Scope | str = Scope.PROJECT, conversation_id: UUID | str | None = None
    ) -> list[Summary]:
        cid = _text(optional_id(conversation_id, "conversation_id"))
        where, params = _where([("conversation_id = ?", cid)])
        return filter_summaries(await self._select(scope, _SUMMARIES, where, params), None)

    async def save_embedding(
        self, embedding: Embedding, scope: Scope | str = Scope.PROJECT
    ) -> None:
        await self._put(scope, _EMBEDDINGS, embedding, "embedding")

    async def get_embedding(
        self, embedding_id: UUID | str, scope: Scope | str = Scope.PROJECT
    ) -> Embedding | None:
        return await self._get_one(scope, _EMBEDDINGS, embedding_id, "Embedding id")

    async def delete_embedding(
        self, embedding_id: UUID | str, scope: Scope | str = Scope.PROJECT
    ) -> bool:
        return await self._delete_one(scope, _EMBEDDINGS, embedding_id, "id")

    async def search_similar(
        self,
        query_vector: Sequence[float],
        scope: Scope | str = Scope.PROJECT,
        limit: int = 10,
        content_type: str | None = None,
        min_score: float | None = None,
    ) -> list[tuple[Embedding, float]]:
        where, params = _where([("content_type = ?", content_type)])
        embeddings = await self._select(scope, _EMBEDDINGS, where, params)
        return rank_by_similarity(query_vector, embeddings, limit, min_score)


# -- audit -------------------------------------------------------------------------------------


def _range(since: datetime | None, until: datetime | None) -> list[tuple[str, Any]]:
    return [
        ("ts_us >= ?", None if since is None else _us(since)),
        ("ts_us < ?", None if until is None else _us(until)),
    ]


_EVENTS = _Table(
    "audit_events",
    AuditEntry,
    (
        ("event_type", lambda e: e.event_type.value),
        ("ts_us", lambda e: _us(e.timestamp)),
        ("conversation_id", lambda e: _text(e.conversation_id)),
    ),
)
_ERRORS = _Table(
    "audit_errors",
    ErrorRecord,
    (
        ("severity", lambda e: e.severity.value),
        ("resolved", lambda e: int(e.resolved)),
        ("ts_us", lambda e: _us(e.timestamp)),
    ),
)
_METRICS = _Table(
    "audit_metrics",
    PerformanceMetric,
    (("name", lambda m: m.name), ("ts_us", lambda m: _us(m.timestamp))),
)


class SQLiteAuditStore(_SQLiteStore, AuditStore):
    """`AuditStore` with a row per entry, error and metric, indexed by time."""

    async def log_event(self, entry: AuditEntry, scope: Scope | str = Scope.PROJECT) -> None:
        await self._put(scope, _EVENTS, entry, "entry")

    async def log_error(self, error: ErrorRecord, scope: Scope | str = Scope.PROJECT) -> None:
        await self._put(scope, _ERRORS, error, "error")

    async def record_metric(
        self, metric: PerformanceMetric, scope: Scope | str = Scope.PROJECT
    ) -> None:
        await self._put(scope, _METRICS, metric, "metric")

    async def _query(
        self,
        scope: Scope | str,
        table: _Table[M],
        clauses: list[tuple[str, Any]],
        limit: int | None,
    ) -> list[M]:
        """The records matching `clauses`, oldest first, the first `limit`."""
        where, params = _where(clauses)
        lim_sql, lim_params = _limit(limit)
        sql = f"{where} ORDER BY ts_us, id{lim_sql}"
        return await self._select(scope, table, sql, [*params, *lim_params])

    async def get_events(
        self,
        scope: Scope | str = Scope.PROJECT,
        *,
        event_type: AuditEventType | str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        conversation_id: UUID | str | None = None,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        clauses = [
            ("event_type = ?", _text(optional_enum(AuditEventType, event_type, "event_type"))),
            ("conversation_id = ?", _text(optional_id(conversation_id, "conversation_id"))),
            *_range(since, until),
        ]
        return await self._query(scope, _EVENTS, clauses, limit)

    async def get_errors(
        self,
        scope: Scope | str = Scope.PROJECT,
        *,
        severity: ErrorSeverity | str | None = None,
        resolved: bool | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[ErrorRecord]:
        clauses = [
            ("severity = ?", _text(optional_enum(ErrorSeverity, severity, "severity"))),
            ("resolved = ?", None if resolved is None else int(resolved)),
            *_range(since, until),
        ]
        return await self._query(scope, _ERRORS, clauses, limit)

    async def resolve_error(
        self, error_id: UUID | str, resolution: str, scope: Scope | str = Scope.PROJECT
    ) -> ErrorRecord:
        eid = str(coerce_id(error_id, "error_id"))
        s = coerce_scope(scope, Scope.PROJECT)

        def resolve(c: sqlite3.Connection) -> ErrorRecord:
            row = c.execute("SELECT data FROM audit_errors WHERE id = ?", (eid,)).fetchone()
            if row is None:
                raise RecordNotFoundError(f"No error record {eid} in scope {s.value}.")
            err = mark_resolved(self._decode(s, _ERRORS.name, ErrorRecord, row[0]), resolution)
            c.execute(_ERRORS.upsert, _ERRORS.row(err))
            return err

        return await self._run(s, resolve, write=True)

    async def get_metrics(
        self,
        scope: Scope | str = Scope.PROJECT,
        *,
        name: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[PerformanceMetric]:
        clauses = [("name = ?", name), *_range(since, until)]
        return await self._query(scope, _METRICS, clauses, limit)
