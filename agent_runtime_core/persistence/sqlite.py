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
import json
import os
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

from agent_runtime_core.errors import BackendError, UserError

from .base import (
    LOOKUP_ORDER,
    AuditStore,
    ConversationStore,
    CorruptStoreError,
    KnowledgeStore,
    MemoryStore,
    PreferencesStore,
    RecordNotFoundError,
    Scope,
    ScopeDirs,
    StoreVersionError,
    TaskStore,
    append_message,
    apply_task_changes,
    check_key,
    coerce_id,
    coerce_scope,
    filter_facts,
    rank_by_similarity,
    select_messages,
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
    _convert,
    _Model,
    as_utc,
    utcnow,
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
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as e:
        raise UserError(
            f"{what} must hold only JSON values (dicts, lists, strings, numbers, booleans, None) "
            f"in its free-form fields: {e}"
        ) from None


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


class _SQLiteStore:
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
        self.dirs = dirs or ScopeDirs.resolve(project_dir, global_dir, session_id)
        self.filename = check_key(filename, "filename")
        self._busy_timeout = busy_timeout_seconds
        self._synchronous = synchronous.upper()
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="agent-runtime-persist"
        )
        self._conns: dict[Scope, sqlite3.Connection] = {}
        self._empty_conn: sqlite3.Connection | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(project_dir={str(self.dirs.project_dir)!r})"

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
            return model.from_dict(json.loads(data))
        except (json.JSONDecodeError, UserError, TypeError) as e:
            path = self.db_path(scope)
            raise CorruptStoreError(
                f"A row of table {table!r} in {path} cannot be read as a {model.__name__} ({e}); "
                "it was left untouched.",
                path=path,
            ) from None

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
    _store = "memory"
    default_scope: Scope

    async def _kv_get(self, key: str, scope: Scope | str | None) -> Any | None:
        check_key(key)
        scopes = LOOKUP_ORDER if scope is None else (coerce_scope(scope, self.default_scope),)
        for s in scopes:
            row = await self._run(
                s,
                lambda c: c.execute(
                    "SELECT value FROM kv WHERE store = ? AND key = ?", (self._store, key)
                ).fetchone(),
            )
            if row is not None:
                return json.loads(row[0])
        return None

    async def _kv_set(self, key: str, value: Any, scope: Scope | str | None) -> None:
        check_key(key)
        s = coerce_scope(scope, self.default_scope)
        data = _json(value, f"The value of {key!r}")
        await self._run(
            s,
            lambda c: c.execute(
                "INSERT INTO kv (store, key, value) VALUES (?, ?, ?) "
                "ON CONFLICT(store, key) DO UPDATE SET value = excluded.value",
                (self._store, key, data),
            ),
            write=True,
        )

    async def _kv_delete(self, key: str, scope: Scope | str | None) -> bool:
        check_key(key)
        s = coerce_scope(scope, self.default_scope)
        return await self._run(
            s,
            lambda c: (
                c.execute("DELETE FROM kv WHERE store = ? AND key = ?", (self._store, key)).rowcount
                > 0
            ),
            write=True,
        )

    async def _kv_all(self, scope: Scope | str | None) -> dict[str, Any]:
        scopes = (
            tuple(reversed(LOOKUP_ORDER))
            if scope is None
            else (coerce_scope(scope, self.default_scope),)
        )
        out: dict[str, Any] = {}
        for s in scopes:  # broadest first, so narrower scopes win
            rows = await self._run(
                s,
                lambda c: c.execute(
                    "SELECT key, value FROM kv WHERE store = ?", (self._store,)
                ).fetchall(),
            )
            out.update({k: json.loads(v) for k, v in rows})
        return out

    async def _kv_clear(self, scope: Scope | str | None) -> None:
        s = coerce_scope(scope, self.default_scope)
        await self._run(
            s, lambda c: c.execute("DELETE FROM kv WHERE store = ?", (self._store,)), write=True
        )


class SQLiteMemoryStore(_SQLiteKeyValue, MemoryStore):
    """`MemoryStore` in the `kv` table of each scope's `persistence.db`."""

    _store = "memory"
    default_scope = Scope.PROJECT

    async def get(self, key: str, scope: Scope | str | None = None) -> Any | None:
        return await self._kv_get(key, scope)

    async def set(self, key: str, value: Any, scope: Scope | str | None = None) -> None:
        await self._kv_set(key, value, scope)

    async def delete(self, key: str, scope: Scope | str | None = None) -> bool:
        return await self._kv_delete(key, scope)

    async def list_keys(
        self, scope: Scope | str | None = None, prefix: str | None = None
    ) -> list[str]:
        keys = await self._kv_all(scope)
        return sorted(k for k in keys if prefix is None or k.startswith(prefix))

    async def clear(self, scope: Scope | str | None = None) -> None:
        await self._kv_clear(scope)


class SQLitePreferencesStore(_SQLiteKeyValue, PreferencesStore):
    """`PreferencesStore` in the `kv` table of each scope's `persistence.db`."""

    _store = "preferences"
    default_scope = Scope.GLOBAL

    async def get(self, key: str, scope: Scope | str | None = None) -> Any | None:
        return await self._kv_get(key, scope)

    async def set(self, key: str, value: Any, scope: Scope | str | None = None) -> None:
        await self._kv_set(key, value, scope)

    async def delete(self, key: str, scope: Scope | str | None = None) -> bool:
        return await self._kv_delete(key, scope)

    async def get_all(self, scope: Scope | str | None = None) -> dict[str, Any]:
        return await self._kv_all(scope)


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
        if not isinstance(conversation, Conversation):
            raise UserError(
                f"`conversation` must be a Conversation; got {type(conversation).__name__}."
            )
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

    async def _select(
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
        return await self._select(scope, where, params, limit, offset)

    async def search(
        self, query: str, scope: Scope | str = Scope.PROJECT, limit: int | None = 20
    ) -> list[Conversation]:
        needle = query.casefold()
        where = (
            " WHERE fold_contains(title, ?) OR fold_contains(summary, ?) OR id IN "
            "(SELECT conversation_id FROM messages WHERE fold_contains(text, ?))"
        )
        return await self._select(scope, where, [needle, needle, needle], limit, 0)

    async def add_message(
        self,
        conversation_id: UUID | str,
        message: ConversationMessage,
        scope: Scope | str = Scope.PROJECT,
    ) -> None:
        cid = str(coerce_id(conversation_id, "conversation_id"))
        if not isinstance(message, ConversationMessage):
            raise UserError(
                f"`message` must be a ConversationMessage; got {type(message).__name__}."
            )
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

    async def get_messages(
        self,
        conversation_id: UUID | str,
        scope: Scope | str = Scope.PROJECT,
        limit: int | None = None,
        before: datetime | None = None,
    ) -> list[ConversationMessage]:
        conv = await self.get(conversation_id, scope)
        return [] if conv is None else select_messages(conv.messages, limit, before)


# -- tasks -------------------------------------------------------------------------------------


def _task_row(task: Task) -> tuple[Any, ...]:
    return (
        str(task.id),
        None if task.conversation_id is None else str(task.conversation_id),
        None if task.task_list_id is None else str(task.task_list_id),
        task.state.value,
        _us(task.created_at),
        _json(task.to_dict(), f"Task {task.id}"),
    )


_TASK_UPSERT = (
    "INSERT OR REPLACE INTO tasks (id, conversation_id, task_list_id, state, created_us, data) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)


class SQLiteTaskStore(_SQLiteStore, TaskStore):
    """`TaskStore` with a row per task and per task list."""

    async def save(self, task: Task, scope: Scope | str = Scope.PROJECT) -> None:
        if not isinstance(task, Task):
            raise UserError(f"`task` must be a Task; got {type(task).__name__}.")
        row = _task_row(task)
        await self._run(scope, lambda c: c.execute(_TASK_UPSERT, row), write=True)

    async def get(self, task_id: UUID | str, scope: Scope | str = Scope.PROJECT) -> Task | None:
        tid = str(coerce_id(task_id, "task_id"))
        s = coerce_scope(scope, Scope.PROJECT)
        row = await self._run(
            s, lambda c: c.execute("SELECT data FROM tasks WHERE id = ?", (tid,)).fetchone()
        )
        return None if row is None else self._decode(s, "tasks", Task, row[0])

    async def delete(self, task_id: UUID | str, scope: Scope | str = Scope.PROJECT) -> bool:
        tid = str(coerce_id(task_id, "task_id"))
        return await self._run(
            scope,
            lambda c: c.execute("DELETE FROM tasks WHERE id = ?", (tid,)).rowcount > 0,
            write=True,
        )

    async def list_tasks(
        self,
        scope: Scope | str = Scope.PROJECT,
        *,
        conversation_id: UUID | str | None = None,
        state: TaskState | str | None = None,
        task_list_id: UUID | str | None = None,
    ) -> list[Task]:
        s = coerce_scope(scope, Scope.PROJECT)
        where, params = _where(
            [
                (
                    "conversation_id = ?",
                    None
                    if conversation_id is None
                    else str(coerce_id(conversation_id, "conversation_id")),
                ),
                (
                    "task_list_id = ?",
                    None if task_list_id is None else str(coerce_id(task_list_id, "task_list_id")),
                ),
                ("state = ?", None if state is None else _convert(TaskState, state, "state").value),
            ]
        )
        rows = await self._run(
            s,
            lambda c: c.execute(
                f"SELECT data FROM tasks{where} ORDER BY created_us, id", params
            ).fetchall(),
        )
        return [self._decode(s, "tasks", Task, r[0]) for r in rows]

    async def update(
        self, task_id: UUID | str, *, scope: Scope | str = Scope.PROJECT, **changes: Any
    ) -> Task:
        tid = str(coerce_id(task_id, "task_id"))
        s = coerce_scope(scope, Scope.PROJECT)

        def update(c: sqlite3.Connection) -> Task:
            row = c.execute("SELECT data FROM tasks WHERE id = ?", (tid,)).fetchone()
            if row is None:
                raise RecordNotFoundError(f"No task {tid} in scope {s.value}.")
            new = apply_task_changes(self._decode(s, "tasks", Task, row[0]), changes)
            c.execute(_TASK_UPSERT, _task_row(new))
            return new

        return await self._run(s, update, write=True)

    async def save_task_list(self, task_list: TaskList, scope: Scope | str = Scope.PROJECT) -> None:
        if not isinstance(task_list, TaskList):
            raise UserError(f"`task_list` must be a TaskList; got {type(task_list).__name__}.")
        for task in task_list.tasks:
            task.task_list_id = task_list.id
        header = task_list.to_dict()
        header["tasks"] = []
        header["task_ids"] = [str(t.id) for t in task_list.tasks]
        data = _json(header, f"TaskList {task_list.id}")
        rows = [_task_row(t) for t in task_list.tasks]

        def save(c: sqlite3.Connection) -> None:
            c.executemany(_TASK_UPSERT, rows)
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
            order = {UUID(t): i for i, t in enumerate(json.loads(row[0]).get("task_ids", []))}
        except (ValueError, TypeError, AttributeError) as e:
            raise CorruptStoreError(
                f"Task list {lid} in {self.db_path(s)} has bad task ids ({e}).",
                path=self.db_path(s),
            ) from None
        tasks = await self.list_tasks(s, task_list_id=lid)
        tasks.sort(key=lambda t: (order.get(t.id, len(order)), t.created_at))
        task_list.tasks = tasks
        return task_list


# -- knowledge ---------------------------------------------------------------------------------


class SQLiteKnowledgeStore(_SQLiteStore, KnowledgeStore):
    """`KnowledgeStore` with a row per fact, summary and embedding.

    `search_similar` scores every embedding of the scope (of `content_type`, if given) in Python.
    """

    async def _get_one(
        self, scope: Scope | str, table: str, model: type[M], record_id: UUID | str
    ) -> M | None:
        rid = str(coerce_id(record_id, f"{model.__name__} id"))
        s = coerce_scope(scope, Scope.PROJECT)
        row = await self._run(
            s, lambda c: c.execute(f"SELECT data FROM {table} WHERE id = ?", (rid,)).fetchone()
        )
        return None if row is None else self._decode(s, table, model, row[0])

    async def _delete_one(self, scope: Scope | str, table: str, record_id: UUID | str) -> bool:
        rid = str(coerce_id(record_id, "id"))
        return await self._run(
            scope,
            lambda c: c.execute(f"DELETE FROM {table} WHERE id = ?", (rid,)).rowcount > 0,
            write=True,
        )

    async def save_fact(self, fact: Fact, scope: Scope | str = Scope.PROJECT) -> None:
        if not isinstance(fact, Fact):
            raise UserError(f"`fact` must be a Fact; got {type(fact).__name__}.")
        row = (
            str(fact.id),
            fact.key,
            fact.fact_type.value,
            _json(fact.to_dict(), f"Fact {fact.id}"),
        )
        await self._run(
            scope,
            lambda c: c.execute(
                "INSERT OR REPLACE INTO facts (id, key, fact_type, data) VALUES (?, ?, ?, ?)", row
            ),
            write=True,
        )

    async def get_fact(
        self, fact_id: UUID | str, scope: Scope | str = Scope.PROJECT
    ) -> Fact | None:
        return await self._get_one(scope, "facts", Fact, fact_id)

    async def list_facts(
        self,
        scope: Scope | str = Scope.PROJECT,
        fact_type: FactType | str | None = None,
        limit: int | None = None,
    ) -> list[Fact]:
        s = coerce_scope(scope, Scope.PROJECT)
        ft = None if fact_type is None else _convert(FactType, fact_type, "fact_type").value
        where, params = _where([("fact_type = ?", ft)])
        rows = await self._run(
            s, lambda c: c.execute(f"SELECT data FROM facts{where}", params).fetchall()
        )
        return filter_facts((self._decode(s, "facts", Fact, r[0]) for r in rows), None, limit)

    async def delete_fact(self, fact_id: UUID | str, scope: Scope | str = Scope.PROJECT) -> bool:
        return await self._delete_one(scope, "facts", fact_id)

    async def save_summary(self, summary: Summary, scope: Scope | str = Scope.PROJECT) -> None:
        if not isinstance(summary, Summary):
            raise UserError(f"`summary` must be a Summary; got {type(summary).__name__}.")
        cid = None if summary.conversation_id is None else str(summary.conversation_id)
        row = (str(summary.id), cid, _json(summary.to_dict(), f"Summary {summary.id}"))
        await self._run(
            scope,
            lambda c: c.execute(
                "INSERT OR REPLACE INTO summaries (id, conversation_id, data) VALUES (?, ?, ?)", row
            ),
            write=True,
        )

    async def get_summary(
        self, summary_id: UUID | str, scope: Scope | str = Scope.PROJECT
    ) -> Summary | None:
        return await self._get_one(scope, "summaries", Summary, summary_id)

    async def list_summaries(
        self, scope: Scope | str = Scope.PROJECT, conversation_id: UUID | str | None = None
    ) -> list[Summary]:
        s = coerce_scope(scope, Scope.PROJECT)
        cid = (
            None if conversation_id is None else str(coerce_id(conversation_id, "conversation_id"))
        )
        where, params = _where([("conversation_id = ?", cid)])
        rows = await self._run(
            s, lambda c: c.execute(f"SELECT data FROM summaries{where}", params).fetchall()
        )
        out = [self._decode(s, "summaries", Summary, r[0]) for r in rows]
        out.sort(key=lambda x: (x.created_at, str(x.id)), reverse=True)
        return out

    async def save_embedding(
        self, embedding: Embedding, scope: Scope | str = Scope.PROJECT
    ) -> None:
        if not isinstance(embedding, Embedding):
            raise UserError(f"`embedding` must be an Embedding; got {type(embedding).__name__}.")
        row = (
            str(embedding.id),
            embedding.content_type,
            _json(embedding.to_dict(), f"Embedding {embedding.id}"),
        )
        await self._run(
            scope,
            lambda c: c.execute(
                "INSERT OR REPLACE INTO embeddings (id, content_type, data) VALUES (?, ?, ?)", row
            ),
            write=True,
        )

    async def get_embedding(
        self, embedding_id: UUID | str, scope: Scope | str = Scope.PROJECT
    ) -> Embedding | None:
        return await self._get_one(scope, "embeddings", Embedding, embedding_id)

    async def delete_embedding(
        self, embedding_id: UUID | str, scope: Scope | str = Scope.PROJECT
    ) -> bool:
        return await self._delete_one(scope, "embeddings", embedding_id)

    async def search_similar(
        self,
        query_vector: Sequence[float],
        scope: Scope | str = Scope.PROJECT,
        limit: int = 10,
        content_type: str | None = None,
        min_score: float | None = None,
    ) -> list[tuple[Embedding, float]]:
        s = coerce_scope(scope, Scope.PROJECT)
        where, params = _where([("content_type = ?", content_type)])
        rows = await self._run(
            s, lambda c: c.execute(f"SELECT data FROM embeddings{where}", params).fetchall()
        )
        embeddings = [self._decode(s, "embeddings", Embedding, r[0]) for r in rows]
        return rank_by_similarity(query_vector, embeddings, limit, min_score)


# -- audit -------------------------------------------------------------------------------------


def _range(since: datetime | None, until: datetime | None) -> list[tuple[str, Any]]:
    return [
        ("ts_us >= ?", None if since is None else _us(since)),
        ("ts_us < ?", None if until is None else _us(until)),
    ]


class SQLiteAuditStore(_SQLiteStore, AuditStore):
    """`AuditStore` with a row per entry, error and metric, indexed by time."""

    async def log_event(self, entry: AuditEntry, scope: Scope | str = Scope.PROJECT) -> None:
        if not isinstance(entry, AuditEntry):
            raise UserError(f"`entry` must be an AuditEntry; got {type(entry).__name__}.")
        cid = None if entry.conversation_id is None else str(entry.conversation_id)
        row = (
            str(entry.id),
            entry.event_type.value,
            _us(entry.timestamp),
            cid,
            _json(entry.to_dict(), f"AuditEntry {entry.id}"),
        )
        await self._run(
            scope,
            lambda c: c.execute(
                "INSERT OR REPLACE INTO audit_events (id, event_type, ts_us, conversation_id, data) "
                "VALUES (?, ?, ?, ?, ?)",
                row,
            ),
            write=True,
        )

    @staticmethod
    def _error_row(error: ErrorRecord) -> tuple[Any, ...]:
        return (
            str(error.id),
            error.severity.value,
            int(error.resolved),
            _us(error.timestamp),
            _json(error.to_dict(), f"ErrorRecord {error.id}"),
        )

    async def log_error(self, error: ErrorRecord, scope: Scope | str = Scope.PROJECT) -> None:
        if not isinstance(error, ErrorRecord):
            raise UserError(f"`error` must be an ErrorRecord; got {type(error).__name__}.")
        row = self._error_row(error)
        await self._run(
            scope,
            lambda c: c.execute(
                "INSERT OR REPLACE INTO audit_errors (id, severity, resolved, ts_us, data) "
                "VALUES (?, ?, ?, ?, ?)",
                row,
            ),
            write=True,
        )

    async def record_metric(
        self, metric: PerformanceMetric, scope: Scope | str = Scope.PROJECT
    ) -> None:
        if not isinstance(metric, PerformanceMetric):
            raise UserError(f"`metric` must be a PerformanceMetric; got {type(metric).__name__}.")
        row = (
            str(metric.id),
            metric.name,
            _us(metric.timestamp),
            _json(metric.to_dict(), f"PerformanceMetric {metric.id}"),
        )
        await self._run(
            scope,
            lambda c: c.execute(
                "INSERT OR REPLACE INTO audit_metrics (id, name, ts_us, data) VALUES (?, ?, ?, ?)",
                row,
            ),
            write=True,
        )

    async def _query(
        self,
        scope: Scope | str,
        table: str,
        model: type[M],
        clauses: list[tuple[str, Any]],
        limit: int | None,
    ) -> list[M]:
        s = coerce_scope(scope, Scope.PROJECT)
        where, params = _where(clauses)
        lim_sql, lim_params = _limit(limit)
        rows = await self._run(
            s,
            lambda c: c.execute(
                f"SELECT data FROM {table}{where} ORDER BY ts_us, id{lim_sql}",
                [*params, *lim_params],
            ).fetchall(),
        )
        return [self._decode(s, table, model, r[0]) for r in rows]

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
        et = (
            None if event_type is None else _convert(AuditEventType, event_type, "event_type").value
        )
        cid = (
            None if conversation_id is None else str(coerce_id(conversation_id, "conversation_id"))
        )
        clauses = [("event_type = ?", et), ("conversation_id = ?", cid), *_range(since, until)]
        return await self._query(scope, "audit_events", AuditEntry, clauses, limit)

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
        sv = None if severity is None else _convert(ErrorSeverity, severity, "severity").value
        clauses = [
            ("severity = ?", sv),
            ("resolved = ?", None if resolved is None else int(resolved)),
            *_range(since, until),
        ]
        return await self._query(scope, "audit_errors", ErrorRecord, clauses, limit)

    async def resolve_error(
        self, error_id: UUID | str, resolution: str, scope: Scope | str = Scope.PROJECT
    ) -> ErrorRecord:
        eid = str(coerce_id(error_id, "error_id"))
        s = coerce_scope(scope, Scope.PROJECT)

        def resolve(c: sqlite3.Connection) -> ErrorRecord:
            row = c.execute("SELECT data FROM audit_errors WHERE id = ?", (eid,)).fetchone()
            if row is None:
                raise RecordNotFoundError(f"No error record {eid} in scope {s.value}.")
            err = self._decode(s, "audit_errors", ErrorRecord, row[0])
            err.resolved = True
            err.resolved_at = utcnow()
            err.resolution = resolution
            c.execute(
                "INSERT OR REPLACE INTO audit_errors (id, severity, resolved, ts_us, data) "
                "VALUES (?, ?, ?, ?, ?)",
                self._error_row(err),
            )
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
        return await self._query(scope, "audit_metrics", PerformanceMetric, clauses, limit)
