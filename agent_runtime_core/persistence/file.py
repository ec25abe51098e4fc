"""The file backend (the default): JSON files under one directory per scope.

Layout of a scope's directory (see `ScopeDirs` for where each scope lives):

    memory.json                 every memory key of the scope
    preferences.json            every preference of the scope
    conversations/<uuid>.json   one conversation with all its messages
    tasks/<uuid>.json           one task
    task_lists/<uuid>.json      one task list (its tasks' ids, in order)
    knowledge/{facts,summaries,embeddings}/<uuid>.json
    audit/{events,errors,metrics}/<uuid>.json

Every file is an envelope `{"format": "agent-runtime-core.persistence", "version": 1, "kind": ...,
"data": ...}`. Safety:

- Writes are atomic: a temp file in the same directory, fsync, `os.replace`, fsync of the directory.
- Every read-modify-write (memory and preference writes, `add_message`, `update`, ...) holds an
  exclusive `fcntl.flock` on a lock file next to the data, so concurrent processes lose no
  update. Where `fcntl` does not exist (Windows) the lock only covers threads of one process.
- A file that cannot be read raises `CorruptStoreError` naming it; it is never overwritten: writes
  to it fail until you move it aside or restore it.
- File names are built only from UUIDs and fixed names; keys are validated (`check_key`), so no
  input can reach a path outside the scope's directory.
- A file with a newer `version` raises `StoreVersionError` instead of being misread.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from agent_runtime_core.errors import UserError

from ._file_base import (
    FORMAT_NAME,
    FORMAT_VERSION,
    _Collection,
    _corrupt,
    _encode,
    _FileKeyValue,
    _FileStore,
    _locked,
    _read,
    _write,
)
from .audit import AuditStore, filter_errors, filter_events, filter_metrics, mark_resolved
from .base import Scope, coerce_id, page, require
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
from .tasks import (
    TaskStore,
    apply_task_changes,
    fill_task_list,
    filter_tasks,
    task_list_order,
    task_list_record,
)

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "FileAuditStore",
    "FileConversationStore",
    "FileKnowledgeStore",
    "FileMemoryStore",
    "FilePreferencesStore",
    "FileTaskStore",
]


class FileMemoryStore(_FileKeyValue, _KeyValueMemoryStore):
    """`MemoryStore` in `memory.json` of each scope's directory."""

    _file = "memory.json"
    _kind = "memory"


class FilePreferencesStore(_FileKeyValue, _KeyValuePreferencesStore):
    """`PreferencesStore` in `preferences.json` of each scope's directory."""

    _file = "preferences.json"
    _kind = "preferences"


# -- conversations -----------------------------------------------------------------------------

_CONVERSATIONS = _Collection("conversations", "conversation", Conversation)


class FileConversationStore(_FileStore, ConversationStore):
    """`ConversationStore` with one JSON file per conversation.

    `add_message` rewrites the conversation's file under the lock: simple and safe, but the cost
    of an append grows with the conversation. For long histories use the SQLite backend.
    """

    async def save(self, conversation: Conversation, scope: Scope | str = Scope.PROJECT) -> None:
        await self._put(scope, _CONVERSATIONS, conversation, "conversation")

    async def get(
        self, conversation_id: UUID | str, scope: Scope | str = Scope.PROJECT
    ) -> Conversation | None:
        return await self._get(scope, _CONVERSATIONS, Conversation, conversation_id)

    async def delete(self, conversation_id: UUID | str, scope: Scope | str = Scope.PROJECT) -> bool:
        return await self._del(scope, _CONVERSATIONS, conversation_id)

    async def list_conversations(
        self,
        scope: Scope | str = Scope.PROJECT,
        limit: int | None = 100,
        offset: int = 0,
        agent_key: str | None = None,
    ) -> list[Conversation]:
        convs = await self._all(scope, _CONVERSATIONS, Conversation)
        convs = [c for c in convs if agent_key is None or c.agent_key == agent_key]
        convs.sort(key=lambda c: (c.updated_at, str(c.id)), reverse=True)
        return page(convs, limit, offset)

    async def add_message(
        self,
        conversation_id: UUID | str,
        message: ConversationMessage,
        scope: Scope | str = Scope.PROJECT,
    ) -> None:
        cid = coerce_id(conversation_id, "conversation_id")
        require(message, ConversationMessage, "message")
        _encode("message", message.to_dict(), f"Message {message.id}")  # fail early if not JSON
        await self._io(
            self._sync_modify,
            self._root(scope),
            _CONVERSATIONS,
            Conversation,
            cid,
            lambda conv: append_message(conv, message),
        )


# -- tasks -------------------------------------------------------------------------------------

_TASKS = _Collection("tasks", "task", Task)
_TASK_LISTS = _Collection("task_lists", "task_list", TaskList)


class FileTaskStore(_FileStore, TaskStore):
    """`TaskStore` with one JSON file per task and per task list."""

    async def save(self, task: Task, scope: Scope | str = Scope.PROJECT) -> None:
        await self._put(scope, _TASKS, task, "task")

    async def get(self, task_id: UUID | str, scope: Scope | str = Scope.PROJECT) -> Task | None:
        return await self._get(scope, _TASKS, Task, task_id)

    async def delete(self, task_id: UUID | str, scope: Scope | str = Scope.PROJECT) -> bool:
        return await self._del(scope, _TASKS, task_id)

    async def list_tasks(
        self,
        scope: Scope | str = Scope.PROJECT,
        *,
        conversation_id: UUID | str | None = None,
        state: TaskState | str | None = None,
        task_list_id: UUID | str | None = None,
    ) -> list[Task]:
        tasks = await self._all(scope, _TASKS, Task)
        return filter_tasks(tasks, conversation_id, state, task_list_id)

    async def update(
        self, task_id: UUID | str, *, scope: Scope | str = Scope.PROJECT, **changes: Any
    ) -> Task:
        tid = coerce_id(task_id, "task_id")

        def change(task: Task) -> Task:
            new = apply_task_changes(task, changes)
            for name in Task.__dataclass_fields__:
                setattr(task, name, getattr(new, name))
            return new

        return await self._io(self._sync_modify, self._root(scope), _TASKS, Task, tid, change)

    async def save_task_list(self, task_list: TaskList, scope: Scope | str = Scope.PROJECT) -> None:
        header = task_list_record(task_list)
        root = self._root(scope)

        def save_all() -> None:
            for task in task_list.tasks:
                self._sync_put(root, _TASKS, task, task.id)
            path = self._path(root, _TASK_LISTS, task_list.id)
            payload = _encode(_TASK_LISTS.kind, header, f"TaskList {task_list.id}")
            with _locked(path.parent / ".lock"):
                _write(path, _TASK_LISTS.kind, payload)

        await self._io(save_all)

    async def get_task_list(
        self, task_list_id: UUID | str, scope: Scope | str = Scope.PROJECT
    ) -> TaskList | None:
        lid = coerce_id(task_list_id, "task_list_id")
        root = self._root(scope)
        path = self._path(root, _TASK_LISTS, lid)
        header = await self._io(_read, path, _TASK_LISTS.kind)
        if header is None:
            return None
        try:
            order = task_list_order(header)
            task_list = TaskList.from_dict(header)
        except (UserError, TypeError, ValueError, AttributeError) as e:
            raise _corrupt(path, f"not a valid TaskList: {e}") from None
        return await fill_task_list(self, task_list, lid, order, scope)


# -- knowledge ---------------------------------------------------------------------------------

_FACTS = _Collection("knowledge/facts", "fact", Fact)
_SUMMARIES = _Collection("knowledge/summaries", "summary", Summary)
_EMBEDDINGS = _Collection("knowledge/embeddings", "embedding", Embedding)


class FileKnowledgeStore(_FileStore, KnowledgeStore):
    """`KnowledgeStore` with one JSON file per fact, summary and embedding.

    `search_similar` reads every embedding of the scope: fine for thousands, slow for millions.
    """

    async def save_fact(self, fact: Fact, scope: Scope | str = Scope.PROJECT) -> None:
        await self._put(scope, _FACTS, fact, "fact")

    async def get_fact(
        self, fact_id: UUID | str, scope: Scope | str = Scope.PROJECT
    ) -> Fact | None:
        return await self._get(scope, _FACTS, Fact, fact_id)

    async def list_facts(
        self,
        scope: Scope | str = Scope.PROJECT,
        fact_type: FactType | str | None = None,
        limit: int | None = None,
    ) -> list[Fact]:
        return filter_facts(await self._all(scope, _FACTS, Fact), fact_type, limit)

    async def delete_fact(self, fact_id: UUID | str, scope: Scope | str = Scope.PROJECT) -> bool:
        return await self._del(scope, _FACTS, fact_id)

    async def save_summary(self, summary: Summary, scope: Scope | str = Scope.PROJECT) -> None:
        await self._put(scope, _SUMMARIES, summary, "summary")

    async def get_summary(
        self, summary_id: UUID | str, scope: Scope | str = Scope.PROJECT
    ) -> Summary | None:
        return await self._get(scope, _SUMMARIES, Summary, summary_id)

    async def list_summaries(
        self, scope: Scope | str = Scope.PROJECT, conversation_id: UUID | str | None = None
    ) -> list[Summary]:
        summaries = await self._all(scope, _SUMMARIES, Summary)
        return filter_summaries(summaries, conversation_id)

    async def save_embedding(
        self, embedding: Embedding, scope: Scope | str = Scope.PROJECT
    ) -> None:
        await self._put(scope, _EMBEDDINGS, embedding, "embedding")

    async def get_embedding(
        self, embedding_id: UUID | str, scope: Scope | str = Scope.PROJECT
    ) -> Embedding | None:
        return await self._get(scope, _EMBEDDINGS, Embedding, embedding_id)

    async def delete_embedding(
        self, embedding_id: UUID | str, scope: Scope | str = Scope.PROJECT
    ) -> bool:
        return await self._del(scope, _EMBEDDINGS, embedding_id)

    async def search_similar(
        self,
        query_vector: Sequence[float],
        scope: Scope | str = Scope.PROJECT,
        limit: int = 10,
        content_type: str | None = None,
        min_score: float | None = None,
    ) -> list[tuple[Embedding, float]]:
        embeddings = await self._all(scope, _EMBEDDINGS, Embedding)
        candidates = [
            e for e in embeddings if content_type is None or e.content_type == content_type
        ]
        return rank_by_similarity(query_vector, candidates, limit, min_score)


# -- audit -------------------------------------------------------------------------------------

_EVENTS = _Collection("audit/events", "audit_event", AuditEntry)
_ERRORS = _Collection("audit/errors", "error", ErrorRecord)
_METRICS = _Collection("audit/metrics", "metric", PerformanceMetric)


class FileAuditStore(_FileStore, AuditStore):
    """`AuditStore` with one JSON file per entry, error and metric.

    Queries read every record of the scope; for large logs use the SQLite backend.
    """

    async def log_event(self, entry: AuditEntry, scope: Scope | str = Scope.PROJECT) -> None:
        await self._put(scope, _EVENTS, entry, "entry")

    async def log_error(self, error: ErrorRecord, scope: Scope | str = Scope.PROJECT) -> None:
        await self._put(scope, _ERRORS, error, "error")

    async def record_metric(
        self, metric: PerformanceMetric, scope: Scope | str = Scope.PROJECT
    ) -> None:
        await self._put(scope, _METRICS, metric, "metric")

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
        entries = await self._all(scope, _EVENTS, AuditEntry)
        return filter_events(entries, event_type, since, until, conversation_id, limit)

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
        errors = await self._all(scope, _ERRORS, ErrorRecord)
        return filter_errors(errors, severity, resolved, since, until, limit)

    async def resolve_error(
        self, error_id: UUID | str, resolution: str, scope: Scope | str = Scope.PROJECT
    ) -> ErrorRecord:
        eid = coerce_id(error_id, "error_id")
        return await self._io(
            self._sync_modify,
            self._root(scope),
            _ERRORS,
            ErrorRecord,
            eid,
            lambda err: mark_resolved(err, resolution),
        )

    async def get_metrics(
        self,
        scope: Scope | str = Scope.PROJECT,
        *,
        name: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[PerformanceMetric]:
        metrics = await self._all(scope, _METRICS, PerformanceMetric)
        return filter_metrics(metrics, name, since, until, limit)
