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

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from agent_runtime_core.errors import UserError

from ._model import _Model
from ._sqlite_base import (
    SCHEMA_VERSION,
    _json,
    _limit,
    _loads,
    _SQLiteKeyValue,
    _SQLiteStore,
    _Table,
    _text,
    _us,
    _where,
)
from .audit import AuditStore, mark_resolved
from .base import (
    CorruptStoreError,
    RecordNotFoundError,
    Scope,
    coerce_id,
    coerce_scope,
    optional_enum,
    optional_id,
    require,
)
from .conversations import ConversationStore, append_message
from .knowledge import KnowledgeStore, filter_facts, filter_summaries, rank_by_similarity
from .memory import _KeyValueMemoryStore, _KeyValuePreferencesStore
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
)
from .tasks import TaskStore, apply_task_changes, fill_task_list, task_list_order, task_list_record

__all__ = [
    "SCHEMA_VERSION",
    "SQLiteAuditStore",
    "SQLiteConversationStore",
    "SQLiteKnowledgeStore",
    "SQLiteMemoryStore",
    "SQLitePreferencesStore",
    "SQLiteTaskStore",
]

M = TypeVar("M", bound=_Model)


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
