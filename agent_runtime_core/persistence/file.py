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

import asyncio
import contextlib
import json
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

from agent_runtime_core._json import MAX_DEPTH, MAX_STORED_BYTES, check_text_bounds, loads_bounded
from agent_runtime_core.errors import InvalidInputError, UserError

from .base import (
    AuditStore,
    ConversationStore,
    CorruptStoreError,
    KnowledgeStore,
    RecordNotFoundError,
    Scope,
    StoreVersionError,
    TaskStore,
    _KeyValueMemoryStore,
    _KeyValuePreferencesStore,
    _ScopeDirsStore,
    append_message,
    apply_task_changes,
    coerce_id,
    coerce_scope,
    fill_task_list,
    filter_errors,
    filter_events,
    filter_facts,
    filter_metrics,
    filter_summaries,
    filter_tasks,
    mark_resolved,
    page,
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
)

if sys.platform != "win32":
    import fcntl

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

FORMAT_NAME = "agent-runtime-core.persistence"
FORMAT_VERSION = 1

M = TypeVar("M", bound=_Model)
T = TypeVar("T")


# -- low-level file operations (blocking: call them in a thread) -------------------------------

_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `lock_path` (created if missing) across processes and threads."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    if sys.platform == "win32":  # pragma: no cover - no flock: one process only
        with _thread_locks_guard:
            lock = _thread_locks.setdefault(str(lock_path), threading.Lock())
        with lock:
            yield
        return
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _corrupt(path: Path, reason: str) -> CorruptStoreError:
    return CorruptStoreError(
        f"{path} cannot be read ({reason}). It was left untouched and will not be overwritten: "
        f"move it aside (e.g. `mv '{path}' '{path}.corrupt'`) or restore it from a backup, "
        "then retry.",
        path=path,
    )


def _read(path: Path, kind: str) -> Any | None:
    """The `data` of the envelope at `path`, or None if there is no file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        envelope = loads_bounded(raw, what="it", max_bytes=MAX_STORED_BYTES)
    except InvalidInputError as e:  # not UTF-8, not JSON, over a size or nesting limit
        raise _corrupt(path, str(e).removeprefix("it ").rstrip(".")) from None
    if not isinstance(envelope, dict) or envelope.get("format") != FORMAT_NAME:
        raise _corrupt(
            path, f"not an agent-runtime-core persistence file (no {FORMAT_NAME!r} format)"
        )
    version = envelope.get("version")
    if not isinstance(version, int) or version < 1:
        raise _corrupt(path, f"bad format version {version!r}")
    if version > FORMAT_VERSION:
        raise StoreVersionError(
            f"{path} was written by a newer agent-runtime-core (format version {version} > "
            f"{FORMAT_VERSION}); upgrade agent-runtime-core to read it."
        )
    if envelope.get("kind") != kind or "data" not in envelope:
        raise _corrupt(path, f"expected a {kind!r} record, found kind {envelope.get('kind')!r}")
    return envelope["data"]


def _encode(kind: str, data: Any, what: str) -> bytes:
    envelope = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "kind": kind, "data": data}
    try:
        text = json.dumps(envelope, ensure_ascii=False, allow_nan=False, indent=1)
    except (TypeError, ValueError, RecursionError) as e:
        raise UserError(
            f"{what} must hold only JSON values (dicts, lists, strings, numbers, booleans, None) "
            f"in its free-form fields: {e}"
        ) from None
    # What is written must be readable: the limits of `_read`, plus the envelope's own level.
    check_text_bounds(text, what=what, max_depth=MAX_DEPTH, error=UserError)
    return text.encode("utf-8")


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms that cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _atomic_write(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _write(path: Path, kind: str, payload: bytes) -> None:
    """Atomically replace `path`, refusing to overwrite a file that cannot be read."""
    _read(path, kind)  # raises CorruptStoreError / StoreVersionError instead of overwriting
    _atomic_write(path, payload)


def _delete(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    _fsync_dir(path.parent)
    return True


def _record_ids(directory: Path) -> list[UUID]:
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    ids = []
    for entry in entries:
        name = entry.name
        if name.startswith(".") or not name.endswith(".json"):
            continue
        try:
            ids.append(UUID(name[: -len(".json")]))
        except ValueError:
            continue  # not ours (a README, an editor's backup): ignore it
    return ids


# -- shared plumbing of the file stores ---------------------------------------------------------


class _Collection:
    """One kind of record kept as `<scope root>/<subdir>/<uuid>.json`."""

    def __init__(self, subdir: str, kind: str, model: type[_Model]) -> None:
        self.subdir = subdir
        self.kind = kind
        self.model = model


class _FileStore(_ScopeDirsStore):
    """What every file store shares: where scopes live and how to run blocking I/O."""

    def _root(self, scope: Scope | str | None, default: Scope = Scope.PROJECT) -> Path:
        return self.dirs.root(coerce_scope(scope, default))

    @staticmethod
    async def _io(fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)

    # Records --------------------------------------------------------------------------------

    def _path(self, root: Path, coll: _Collection, record_id: UUID) -> Path:
        path = root / coll.subdir / f"{record_id}.json"
        # Defence in depth: ids are UUIDs, so this cannot fail unless a bug crept in.
        if not path.absolute().is_relative_to(root.absolute()):  # pragma: no cover
            raise UserError(f"Refusing to use {path}: it is outside {root}.")
        return path

    def _load(self, path: Path, coll: _Collection, model: type[M]) -> M | None:
        data = _read(path, coll.kind)
        if data is None:
            return None
        try:
            return model.from_dict(data)
        except (UserError, TypeError) as e:
            raise _corrupt(path, f"not a valid {model.__name__}: {e}") from None

    def _sync_put(self, root: Path, coll: _Collection, record: _Model, record_id: UUID) -> None:
        path = self._path(root, coll, record_id)
        payload = _encode(coll.kind, record.to_dict(), f"{type(record).__name__} {record_id}")
        with _locked(path.parent / ".lock"):
            _write(path, coll.kind, payload)

    def _sync_all(self, root: Path, coll: _Collection, model: type[M]) -> list[M]:
        directory = root / coll.subdir
        out = []
        for record_id in _record_ids(directory):
            record = self._load(self._path(root, coll, record_id), coll, model)
            if record is not None:  # deleted meanwhile
                out.append(record)
        return out

    def _sync_modify(
        self, root: Path, coll: _Collection, model: type[M], record_id: UUID, fn: Callable[[M], T]
    ) -> T:
        """Under the collection's lock: load the record, let `fn` change it, write it back."""
        path = self._path(root, coll, record_id)
        with _locked(path.parent / ".lock"):
            record = self._load(path, coll, model)
            if record is None:
                raise RecordNotFoundError(f"No {model.__name__} {record_id} in {root}.")
            result = fn(record)
            payload = _encode(coll.kind, record.to_dict(), f"{model.__name__} {record_id}")
            _atomic_write(path, payload)
            return result

    async def _put(self, scope: Scope | str, coll: _Collection, record: Any, what: str) -> None:
        """Create or replace `record` (the argument `what`, which must be a `coll.model`)."""
        require(record, coll.model, what)
        await self._io(self._sync_put, self._root(scope), coll, record, record.id)

    async def _get(
        self, scope: Scope | str, coll: _Collection, model: type[M], record_id: UUID | str
    ) -> M | None:
        root = self._root(scope)
        path = self._path(root, coll, coerce_id(record_id, f"{model.__name__} id"))
        return await self._io(self._load, path, coll, model)

    async def _del(self, scope: Scope | str, coll: _Collection, record_id: UUID | str) -> bool:
        root = self._root(scope)
        path = self._path(root, coll, coerce_id(record_id, f"{coll.kind} id"))

        def delete() -> bool:
            with _locked(path.parent / ".lock"):
                return _delete(path)

        return await self._io(delete)

    async def _all(self, scope: Scope | str, coll: _Collection, model: type[M]) -> list[M]:
        return await self._io(self._sync_all, self._root(scope), coll, model)


# -- memory and preferences --------------------------------------------------------------------


class _FileKeyValue(_FileStore):
    """The `_KeyValueStore` primitives: the keys of a scope in one JSON file, changed under an
    exclusive lock. `_file` names the file, `_kind` its envelope kind."""

    _file: str
    _kind: str

    def _doc(self, scope: Scope) -> Path:
        return self.dirs.root(scope) / self._file

    def _lock_path(self, scope: Scope) -> Path:
        return self.dirs.root(scope) / f".{self._file}.lock"

    def _sync_read(self, scope: Scope) -> dict[str, Any]:
        path = self._doc(scope)
        data = _read(path, self._kind)
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise _corrupt(path, "expected a JSON object of keys")
        return data

    def _sync_change(self, scope: Scope, fn: Callable[[dict[str, Any]], T]) -> T:
        path = self._doc(scope)
        with _locked(self._lock_path(scope)):
            doc = self._sync_read(scope)
            result = fn(doc)
            _atomic_write(
                path, _encode(self._kind, doc, f"The {self._kind} of scope {scope.value}")
            )
            return result

    async def _kv_get(self, key: str, scopes: Sequence[Scope]) -> Any | None:
        def lookup() -> Any | None:
            for s in scopes:
                doc = self._sync_read(s)
                if key in doc:
                    return doc[key]
            return None

        return await self._io(lookup)

    async def _kv_set(self, key: str, value: Any, scope: Scope) -> None:
        _encode(self._kind, value, f"The value of {key!r}")  # fail early, in the caller's frame
        copy = json.loads(json.dumps(value))

        def change(doc: dict[str, Any]) -> None:
            doc[key] = copy

        await self._io(self._sync_change, scope, change)

    async def _kv_delete(self, key: str, scope: Scope) -> bool:
        def lookup_then_change() -> bool:
            if key not in self._sync_read(scope):
                return False
            return self._sync_change(scope, lambda doc: doc.pop(key, _MISSING) is not _MISSING)

        return await self._io(lookup_then_change)

    async def _kv_all(self, scopes: Sequence[Scope]) -> dict[str, Any]:
        def merged() -> dict[str, Any]:
            out: dict[str, Any] = {}
            for s in scopes:
                out.update(self._sync_read(s))
            return out

        return await self._io(merged)

    async def _kv_clear(self, scope: Scope) -> None:
        await self._io(self._sync_change, scope, lambda doc: doc.clear())


_MISSING = object()


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
