"""The store interfaces (ABCs), `Scope`, and the helpers every backend shares.

A store's *required* methods are abstract; they are the ones the spec's custom-backend examples
implement. Everything else either has a working default built on the required methods (listing,
searching, branch paths, ready tasks, task updates) or, for optional capabilities, raises
`NotImplementedError` naming the method, so a custom backend only writes what it needs.

All methods are `async`. `scope` arguments take a `Scope` or its string value (`"project"`);
anything else raises `UserError` naming the allowed scopes.

The built-in backends also share, from here, memory and preferences written once on five storage
primitives (`_KeyValueMemoryStore`, `_KeyValuePreferencesStore`), the argument checks (`require`,
`optional_id`, `optional_enum`), the task-list record (`task_list_record`, `task_list_order`,
`fill_task_list`) and the query filters (`filter_*`), so the backends differ only in storage.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID, uuid4

from agent_runtime_core._keys import MAX_FILE_NAME_BYTES
from agent_runtime_core._keys import check_key as _check_key
from agent_runtime_core.errors import BackendError, CorruptDataError, UserError

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
    as_utc,
    utcnow,
)

__all__ = [
    "GLOBAL_DIR_ENV",
    "LOOKUP_ORDER",
    "MAX_KEY_LENGTH",
    "AuditStore",
    "ConversationStore",
    "CorruptStoreError",
    "KnowledgeStore",
    "MemoryStore",
    "PreferencesStore",
    "RecordNotFoundError",
    "Scope",
    "ScopeDirs",
    "StoreVersionError",
    "TaskStore",
    "apply_task_changes",
    "check_key",
    "coerce_id",
    "coerce_scope",
    "cosine_similarity",
    "ready_tasks",
]

T = TypeVar("T")
E = TypeVar("E", bound=enum.Enum)

MAX_KEY_LENGTH = 512
GLOBAL_DIR_ENV = "AGENT_RUNTIME_GLOBAL_DIR"


class Scope(enum.StrEnum):
    """Where a record lives.

    - `GLOBAL`: the user's own directory, shared by every project (`~/.agent_runtime`).
    - `PROJECT`: the project directory (`<project_dir>/.agent_runtime`).
    - `SESSION`: one session of one project (`<project_dir>/.agent_runtime/sessions/<id>`).
    """

    GLOBAL = "global"
    PROJECT = "project"
    SESSION = "session"


LOOKUP_ORDER: tuple[Scope, ...] = (Scope.SESSION, Scope.PROJECT, Scope.GLOBAL)
"""Where `get(key)` without a scope looks, first match wins: the narrowest scope first."""


class CorruptStoreError(CorruptDataError):
    """A stored file or row cannot be read. Nothing overwrites it: move it aside or restore it."""

    def __init__(self, message: str, *, path: str | os.PathLike[str]) -> None:
        super().__init__(message)
        self.path = Path(path)


class StoreVersionError(BackendError):
    """The data was written by a newer agent-runtime-core, in a format this version cannot read."""


class RecordNotFoundError(UserError, LookupError):
    """An update or append named a record (task, conversation, error) that does not exist."""


def coerce_scope(scope: Scope | str | None, default: Scope) -> Scope:
    """`scope` as a `Scope`; None gives `default`; anything unknown is a `UserError`."""
    if scope is None:
        return default
    if isinstance(scope, Scope):
        return scope
    if isinstance(scope, str):
        try:
            return Scope(scope.lower())
        except ValueError:
            pass
    allowed = ", ".join(f"Scope.{s.name} ({s.value!r})" for s in Scope)
    raise UserError(f"Unknown scope {scope!r}; `scope` must be one of {allowed}.")


def check_key(key: Any, what: str = "key", *, max_bytes: int | None = None) -> str:
    """Validate a memory or preference key.

    A key is a non-empty string of at most 512 characters, valid Unicode text (no lone
    surrogate), without control characters (such as NUL), without `/` or `\\`, and not `.` or
    `..`. So a key can never name a path, whatever a backend does with it. `max_bytes` also
    limits its UTF-8 size (255 for keys that become file names). The same check as the state
    stores' (`agent_runtime_core._keys.check_key`), plus the path rules.
    """
    return _check_key(key, what, max_length=MAX_KEY_LENGTH, max_bytes=max_bytes, path_safe=True)


def coerce_id(value: Any, what: str = "id") -> UUID:
    """`value` (a UUID or UUID string) as a `UUID`; anything else, such as a path, is a UserError."""
    return _convert(UUID, value, what)  # type: ignore[no-any-return]


def optional_id(value: UUID | str | None, what: str) -> UUID | None:
    """`coerce_id(value, what)`, or None for None: an id filter that may be absent."""
    return None if value is None else coerce_id(value, what)


def optional_enum(enum_type: type[E], value: E | str | None, what: str) -> E | None:
    """`value` as a member of `enum_type`, or None for None: an enum filter that may be absent."""
    return None if value is None else _convert(enum_type, value, what)


def require(value: Any, model: type[T], what: str) -> T:
    """`value` if it is a `model`; otherwise a `UserError` naming the argument `what`."""
    if not isinstance(value, model):
        article = "an" if model.__name__[0] in "AEIOU" else "a"
        raise UserError(f"`{what}` must be {article} {model.__name__}; got {type(value).__name__}.")
    return value


def cosine_similarity(a: Sequence[float], b: Sequence[float]) -> float:
    """The cosine of the angle between `a` and `b`, in [-1, 1]; 0.0 if either is all zeros."""
    if len(a) != len(b):
        raise UserError(f"Vectors have different lengths ({len(a)} and {len(b)}).")
    # Scale each vector by its largest component first: the cosine does not change, and squares
    # of very small or very large components no longer underflow or overflow.
    scale_a = max((abs(x) for x in a), default=0.0)
    scale_b = max((abs(y) for y in b), default=0.0)
    if scale_a == 0.0 or scale_b == 0.0:
        return 0.0
    a = [x / scale_a for x in a]
    b = [y / scale_b for y in b]
    dot = math.fsum(x * y for x, y in zip(a, b, strict=True))
    norm_a = math.sqrt(math.fsum(x * x for x in a))
    norm_b = math.sqrt(math.fsum(y * y for y in b))
    return max(-1.0, min(1.0, dot / (norm_a * norm_b)))


def rank_by_similarity(
    query: Sequence[float], embeddings: Iterable[Embedding], limit: int, min_score: float | None
) -> list[tuple[Embedding, float]]:
    """The `limit` embeddings most similar to `query`, best first, with their scores."""
    if not query:
        raise UserError("`query_vector` must not be empty.")
    scored: list[tuple[Embedding, float]] = []
    for emb in embeddings:
        if len(emb.vector) != len(query):
            raise UserError(
                f"Embedding {emb.id} has {len(emb.vector)} dimensions but the query has "
                f"{len(query)}; search embeddings of one model at a time (filter by content_type)."
            )
        score = cosine_similarity(query, emb.vector)
        if min_score is None or score >= min_score:
            scored.append((emb, score))
    scored.sort(key=lambda pair: (-pair[1], str(pair[0].id)))
    return scored[:limit]


def _in_range(ts: datetime, since: datetime | None, until: datetime | None) -> bool:
    return (since is None or ts >= as_utc(since)) and (until is None or ts < as_utc(until))


_TASK_IMMUTABLE = frozenset({"id", "created_at"})
_TASK_FIELDS = frozenset(f.name for f in dataclasses.fields(Task))


def apply_task_changes(task: Task, changes: dict[str, Any]) -> Task:
    """A copy of `task` with `changes` applied, `updated_at` moved forward, and the state times set.

    Going IN_PROGRESS sets `started_at` (once); going COMPLETE sets `completed_at`.
    """
    unknown = set(changes) - _TASK_FIELDS
    if unknown:
        raise UserError(
            f"Task has no field(s) {sorted(unknown)}; fields are {sorted(_TASK_FIELDS)}."
        )
    frozen = set(changes) & _TASK_IMMUTABLE
    if frozen:
        raise UserError(f"Task field(s) {sorted(frozen)} cannot be changed.")
    data = {f.name: getattr(task, f.name) for f in dataclasses.fields(Task)}
    data.update(changes)
    if "updated_at" not in changes:
        data["updated_at"] = utcnow()
    new = Task(**data)
    if new.state is TaskState.IN_PROGRESS and new.started_at is None:
        new.started_at = new.updated_at
    completing = new.state is TaskState.COMPLETE and task.state is not TaskState.COMPLETE
    if completing and "completed_at" not in changes:
        new.completed_at = new.updated_at
    return new


def ready_tasks(tasks: Iterable[Task], known: dict[UUID, Task] | None = None) -> list[Task]:
    """Tasks NOT_STARTED whose dependencies are all COMPLETE, most urgent first.

    Order: higher `priority` first, then earlier `due_at` (tasks without one last), then older
    `created_at`. A dependency on a task that does not exist keeps a task waiting.
    """
    task_list = list(tasks)
    by_id = dict(known) if known is not None else {t.id: t for t in task_list}
    ready = [
        t
        for t in task_list
        if t.state is TaskState.NOT_STARTED
        and all(
            (dep := by_id.get(d)) is not None and dep.state is TaskState.COMPLETE
            for d in t.dependencies
        )
    ]
    far = datetime.max.replace(tzinfo=UTC)
    ready.sort(key=lambda t: (-t.priority, t.due_at or far, t.created_at, str(t.id)))
    return ready


# -- where scopes live -----------------------------------------------------------------------


@dataclass(frozen=True)
class ScopeDirs:
    """The directory each scope lives in, for the file and SQLite backends."""

    project_dir: Path
    """The project; PROJECT data goes to `<project_dir>/.agent_runtime`."""
    global_dir: Path
    """GLOBAL data goes here (default `~/.agent_runtime`)."""
    session_id: str
    """SESSION data goes to `<project_dir>/.agent_runtime/sessions/<session_id>`."""

    @classmethod
    def resolve(
        cls,
        project_dir: str | os.PathLike[str] | None = None,
        global_dir: str | os.PathLike[str] | None = None,
        session_id: str | None = None,
    ) -> ScopeDirs:
        """Fill in the defaults: the current directory, `$AGENT_RUNTIME_GLOBAL_DIR` or
        `~/.agent_runtime`, and a fresh session id."""
        project = Path(project_dir) if project_dir is not None else Path.cwd()
        if global_dir is not None:
            glob = Path(global_dir)
        elif os.environ.get(GLOBAL_DIR_ENV):
            glob = Path(os.environ[GLOBAL_DIR_ENV])
        else:
            glob = Path.home() / ".agent_runtime"
        if session_id is not None:  # it names a directory: it must fit a file name
            sid = check_key(session_id, "session_id", max_bytes=MAX_FILE_NAME_BYTES)
        else:
            sid = uuid4().hex
        return cls(project_dir=project.absolute(), global_dir=glob.absolute(), session_id=sid)

    def root(self, scope: Scope) -> Path:
        """The directory that holds `scope`'s data."""
        if scope is Scope.GLOBAL:
            return self.global_dir
        project_root = self.project_dir / ".agent_runtime"
        if scope is Scope.PROJECT:
            return project_root
        return project_root / "sessions" / self.session_id


class _ScopeDirsStore:
    """What the built-in stores share: the `ScopeDirs` their scopes live in, and their repr."""

    def __init__(
        self,
        project_dir: str | os.PathLike[str] | None = None,
        *,
        global_dir: str | os.PathLike[str] | None = None,
        session_id: str | None = None,
        dirs: ScopeDirs | None = None,
    ) -> None:
        self.dirs = dirs or ScopeDirs.resolve(project_dir, global_dir, session_id)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(project_dir={str(self.dirs.project_dir)!r})"


def _not_implemented(store: object, method: str) -> NotImplementedError:
    return NotImplementedError(
        f"{type(store).__name__} does not implement `{method}()`; "
        f"override it to use this feature with your backend."
    )


# -- the store interfaces ----------------------------------------------------------------------


class _KeyValueInterface(ABC):
    """What `MemoryStore` and `PreferencesStore` share: JSON values under keys, per scope.

    `get(key)` without a scope looks in SESSION, then PROJECT, then GLOBAL (`LOOKUP_ORDER`);
    writes without a scope go to `default_scope`, which is all the two interfaces differ in
    besides their listing methods.
    """

    default_scope: Scope
    """Where writes go when no scope is given."""

    @abstractmethod
    async def get(self, key: str, scope: Scope | str | None = None) -> Any | None:
        """The value of `key` in `scope`, or None; without a scope, the first in LOOKUP_ORDER."""

    @abstractmethod
    async def set(self, key: str, value: Any, scope: Scope | str | None = None) -> None:
        """Store `value` (a JSON value) under `key` in `scope` (default `default_scope`)."""

    async def delete(self, key: str, scope: Scope | str | None = None) -> bool:
        """Remove `key` from `scope` (default `default_scope`); True if it was there."""
        raise _not_implemented(self, "delete")

    async def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release files, connections and threads. Override if your store holds any."""


class MemoryStore(_KeyValueInterface):
    """Key-value memory an agent keeps across runs.

    Values are JSON values. `get(key)` without a scope looks in SESSION, then PROJECT, then
    GLOBAL (`LOOKUP_ORDER`); `set` without a scope writes to PROJECT. A backend that keys data by
    its own context (a user, a tenant) may ignore `scope`.

    Required: `get`, `set`. Optional: `delete`, `list_keys`, `clear`.
    """

    default_scope: Scope = Scope.PROJECT
    """Where writes go when no scope is given."""

    async def list_keys(
        self, scope: Scope | str | None = None, prefix: str | None = None
    ) -> list[str]:
        """Keys in `scope` starting with `prefix`, sorted; without a scope, of every scope."""
        raise _not_implemented(self, "list_keys")

    async def clear(self, scope: Scope | str | None = None) -> None:
        """Remove every key of `scope` (default PROJECT)."""
        raise _not_implemented(self, "clear")


class PreferencesStore(_KeyValueInterface):
    """User and agent settings (theme, language, default model).

    Like `MemoryStore`, but writes without a scope go to GLOBAL: preferences follow the user from
    project to project unless set for one project or one session. `get(key)` without a scope looks
    in SESSION, then PROJECT, then GLOBAL.

    Required: `get`, `set`. Optional: `delete`, `get_all`.
    """

    default_scope: Scope = Scope.GLOBAL
    """Where writes go when no scope is given."""

    async def get_all(self, scope: Scope | str | None = None) -> dict[str, Any]:
        """Every preference of `scope`; without a scope, all merged (SESSION wins over PROJECT
        wins over GLOBAL)."""
        raise _not_implemented(self, "get_all")


class _KeyValueStore(_KeyValueInterface):
    """Memory and preferences written once, on five primitives a backend supplies.

    The public methods (documented on the interfaces) validate the key, resolve the scope
    (`default_scope` for writes, `LOOKUP_ORDER` for reads without one) and call the primitives,
    which get ready-made `Scope`s: so every backend checks keys and scopes the same way and only
    says how it stores them.
    """

    @abstractmethod
    async def _kv_get(self, key: str, scopes: Sequence[Scope]) -> Any | None:
        """The value of `key` in the first of `scopes` that has it, or None."""

    @abstractmethod
    async def _kv_set(self, key: str, value: Any, scope: Scope) -> None:
        """Store `value` under `key` in `scope`; a `UserError` if it is not a JSON value."""

    @abstractmethod
    async def _kv_delete(self, key: str, scope: Scope) -> bool:
        """Remove `key` from `scope`; True if it was there."""

    @abstractmethod
    async def _kv_all(self, scopes: Sequence[Scope]) -> dict[str, Any]:
        """Every key of `scopes` merged, later scopes winning over earlier ones."""

    @abstractmethod
    async def _kv_clear(self, scope: Scope) -> None:
        """Remove every key of `scope`."""

    def _scope(self, scope: Scope | str | None) -> Scope:
        return coerce_scope(scope, self.default_scope)

    def _lookup_scopes(self, scope: Scope | str | None) -> tuple[Scope, ...]:
        """Where a read looks, first match wins: `scope`, or LOOKUP_ORDER without one."""
        return LOOKUP_ORDER if scope is None else (self._scope(scope),)

    def _merge_scopes(self, scope: Scope | str | None) -> tuple[Scope, ...]:
        """What a merged read combines: `scope`, or every scope broadest first (narrower win)."""
        return tuple(reversed(LOOKUP_ORDER)) if scope is None else (self._scope(scope),)

    async def get(self, key: str, scope: Scope | str | None = None) -> Any | None:
        check_key(key)
        return await self._kv_get(key, self._lookup_scopes(scope))

    async def set(self, key: str, value: Any, scope: Scope | str | None = None) -> None:
        check_key(key)
        await self._kv_set(key, value, self._scope(scope))

    async def delete(self, key: str, scope: Scope | str | None = None) -> bool:
        check_key(key)
        return await self._kv_delete(key, self._scope(scope))


class _KeyValueMemoryStore(_KeyValueStore, MemoryStore):
    """A `MemoryStore` built on the `_KeyValueStore` primitives (the built-in backends' own)."""

    async def list_keys(
        self, scope: Scope | str | None = None, prefix: str | None = None
    ) -> list[str]:
        keys = await self._kv_all(self._merge_scopes(scope))
        return sorted(k for k in keys if prefix is None or k.startswith(prefix))

    async def clear(self, scope: Scope | str | None = None) -> None:
        await self._kv_clear(self._scope(scope))


class _KeyValuePreferencesStore(_KeyValueStore, PreferencesStore):
    """A `PreferencesStore` built on the `_KeyValueStore` primitives (the built-in backends' own)."""

    async def get_all(self, scope: Scope | str | None = None) -> dict[str, Any]:
        return await self._kv_all(self._merge_scopes(scope))


class ConversationStore(ABC):
    """Conversations with all their messages, tool calls and branches.

    Required: `save`, `get`, `delete`, `list_conversations`. The rest has defaults built on those;
    the defaults of `add_message` read and rewrite the whole conversation, so override it if
    several writers append to one conversation at once (the built-in backends do).
    """

    @abstractmethod
    async def save(self, conversation: Conversation, scope: Scope | str = Scope.PROJECT) -> None:
        """Create or replace `conversation` (and all its messages)."""

    @abstractmethod
    async def get(
        self, conversation_id: UUID | str, scope: Scope | str = Scope.PROJECT
    ) -> Conversation | None:
        """The conversation, or None."""

    @abstractmethod
    async def delete(self, conversation_id: UUID | str, scope: Scope | str = Scope.PROJECT) -> bool:
        """Remove the conversation; True if it existed."""

    @abstractmethod
    async def list_conversations(
        self,
        scope: Scope | str = Scope.PROJECT,
        limit: int | None = 100,
        offset: int = 0,
        agent_key: str | None = None,
    ) -> list[Conversation]:
        """Conversations, most recently updated first, optionally of one agent only."""

    async def add_message(
        self,
        conversation_id: UUID | str,
        message: ConversationMessage,
        scope: Scope | str = Scope.PROJECT,
    ) -> None:
        """Append `message` to an existing conversation and move its `updated_at` forward.

        Raises `RecordNotFoundError` if there is no such conversation, `UserError` if a message
        with the same id is already there.
        """
        conv = await self.get(conversation_id, scope)
        if conv is None:
            raise RecordNotFoundError(f"No conversation {conversation_id} in scope {scope!s}.")
        append_message(conv, message)
        await self.save(conv, scope)

    async def get_messages(
        self,
        conversation_id: UUID | str,
        scope: Scope | str = Scope.PROJECT,
        limit: int | None = None,
        before: datetime | None = None,
    ) -> list[ConversationMessage]:
        """The messages (all branches) in order; with `before`, only older ones; with `limit`,
        only the last `limit` of those. Empty if there is no such conversation."""
        conv = await self.get(conversation_id, scope)
        if conv is None:
            return []
        return select_messages(conv.messages, limit, before)

    async def get_branch_path(
        self,
        conversation_id: UUID | str,
        branch_id: UUID | str | None = None,
        scope: Scope | str = Scope.PROJECT,
    ) -> list[ConversationMessage]:
        """The messages a reader of `branch_id` sees, oldest first.

        With `branch_id=None`, the conversation's active branch (`active_branch_id`, itself None
        for the main line). Empty if there is no such conversation.
        """
        conv = await self.get(conversation_id, scope)
        if conv is None:
            return []
        if branch_id is None:
            return conv.active_path()
        return conv.branch_path(coerce_id(branch_id, "branch_id"))

    async def search(
        self, query: str, scope: Scope | str = Scope.PROJECT, limit: int | None = 20
    ) -> list[Conversation]:
        """Conversations whose title, summary or a text message contains `query` (ignoring
        case), most recently updated first."""
        needle = query.casefold()
        found = [
            c
            for c in await self.list_conversations(scope, limit=None)
            if conversation_matches(c, needle)
        ]
        return page(found, limit, 0)

    async def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release files, connections and threads. Override if your store holds any."""


def append_message(conv: Conversation, message: ConversationMessage) -> None:
    """Append `message` to `conv` (refusing a duplicate id) and move `updated_at` forward."""
    require(message, ConversationMessage, "message")
    if any(m.id == message.id for m in conv.messages):
        raise UserError(f"Conversation {conv.id} already has a message with id {message.id}.")
    conv.messages.append(message)
    conv.updated_at = max(conv.updated_at, utcnow())


def select_messages(
    messages: list[ConversationMessage], limit: int | None, before: datetime | None
) -> list[ConversationMessage]:
    """The messages older than `before`, then the last `limit` of them."""
    if before is not None:
        cutoff = as_utc(before)
        messages = [m for m in messages if m.timestamp < cutoff]
    if limit is not None:
        messages = messages[-limit:] if limit > 0 else []
    return messages


def conversation_matches(conv: Conversation, needle: str) -> bool:
    """Whether the (case-folded) `needle` is in the title, summary or a text message."""
    texts: list[str] = [conv.title or "", conv.summary or ""]
    texts.extend(m.content for m in conv.messages if isinstance(m.content, str))
    return any(needle in t.casefold() for t in texts)


def page(items: list[T], limit: int | None, offset: int) -> list[T]:
    """`items[offset:offset+limit]`, with `limit=None` meaning no limit."""
    if offset < 0 or (limit is not None and limit < 0):
        raise UserError("`limit` and `offset` must be >= 0.")
    return items[offset:] if limit is None else items[offset : offset + limit]


class TaskStore(ABC):
    """Tasks with states, dependencies, priorities, due dates and checkpoints.

    Required: `save`, `get`, `delete`, `list_tasks`. `update` and `get_ready_tasks` have defaults
    built on those (the built-in backends make `update` atomic). Optional: `save_task_list`,
    `get_task_list`.
    """

    @abstractmethod
    async def save(self, task: Task, scope: Scope | str = Scope.PROJECT) -> None:
        """Create or replace `task`."""

    @abstractmethod
    async def get(self, task_id: UUID | str, scope: Scope | str = Scope.PROJECT) -> Task | None:
        """The task, or None."""

    @abstractmethod
    async def delete(self, task_id: UUID | str, scope: Scope | str = Scope.PROJECT) -> bool:
        """Remove the task; True if it existed."""

    @abstractmethod
    async def list_tasks(
        self,
        scope: Scope | str = Scope.PROJECT,
        *,
        conversation_id: UUID | str | None = None,
        state: TaskState | str | None = None,
        task_list_id: UUID | str | None = None,
    ) -> list[Task]:
        """Tasks matching every filter given, oldest first."""

    async def update(
        self, task_id: UUID | str, *, scope: Scope | str = Scope.PROJECT, **changes: Any
    ) -> Task:
        """Change some fields of a task and return it, e.g. `update(id, state=TaskState.COMPLETE)`.

        Moves `updated_at` forward and sets `started_at`/`completed_at` on state changes. Raises
        `RecordNotFoundError` if there is no such task, `UserError` for an unknown field.
        """
        task = await self.get(task_id, scope)
        if task is None:
            raise RecordNotFoundError(f"No task {task_id} in scope {scope!s}.")
        new = apply_task_changes(task, changes)
        await self.save(new, scope)
        return new

    async def get_ready_tasks(
        self,
        scope: Scope | str = Scope.PROJECT,
        *,
        conversation_id: UUID | str | None = None,
        limit: int | None = None,
    ) -> list[Task]:
        """Tasks NOT_STARTED whose dependencies are all COMPLETE: highest priority first, then
        earliest due, then oldest. Dependencies are looked up in the whole scope."""
        everything = await self.list_tasks(scope)
        known = {t.id: t for t in everything}
        candidates = everything
        if conversation_id is not None:
            cid = coerce_id(conversation_id, "conversation_id")
            candidates = [t for t in everything if t.conversation_id == cid]
        ready = ready_tasks(candidates, known)
        return ready if limit is None else ready[:limit]

    async def save_task_list(self, task_list: TaskList, scope: Scope | str = Scope.PROJECT) -> None:
        """Save the list and each of its tasks (setting their `task_list_id`)."""
        raise _not_implemented(self, "save_task_list")

    async def get_task_list(
        self, task_list_id: UUID | str, scope: Scope | str = Scope.PROJECT
    ) -> TaskList | None:
        """The list with its current tasks (in the order saved, then newer ones), or None."""
        raise _not_implemented(self, "get_task_list")

    async def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release files, connections and threads. Override if your store holds any."""


def task_list_record(task_list: TaskList) -> dict[str, Any]:
    """Link each task of `task_list` to it, and return what a backend stores for the list itself.

    That is the list's fields with `tasks` emptied and `task_ids` added: the tasks are stored as
    tasks (so `update` sees them), and the ids keep their order. `task_list_order` reads it back.
    """
    require(task_list, TaskList, "task_list")
    for task in task_list.tasks:
        task.task_list_id = task_list.id
    record = task_list.to_dict()
    record["tasks"] = []
    record["task_ids"] = [str(t.id) for t in task_list.tasks]
    return record


def task_list_order(record: Any) -> dict[UUID, int]:
    """Each task id of a stored task-list record (see `task_list_record`) -> its position.

    Raises `ValueError`, `TypeError` or `AttributeError` if the record is malformed; the backend
    turns that into a `CorruptStoreError` naming where it is stored.
    """
    return {UUID(t): i for i, t in enumerate(record.get("task_ids", []))}


async def fill_task_list(
    store: TaskStore,
    task_list: TaskList,
    task_list_id: UUID,
    order: dict[UUID, int],
    scope: Scope | str,
) -> TaskList:
    """`task_list` with its current tasks: those saved with it in their `order`, then newer ones."""
    tasks = await store.list_tasks(scope, task_list_id=task_list_id)
    tasks.sort(key=lambda t: (order.get(t.id, len(order)), t.created_at))
    task_list.tasks = tasks
    return task_list


def filter_tasks(
    tasks: Iterable[Task],
    conversation_id: UUID | str | None,
    state: TaskState | str | None,
    task_list_id: UUID | str | None,
) -> list[Task]:
    """Tasks matching every filter given, oldest first."""
    cid = optional_id(conversation_id, "conversation_id")
    lid = optional_id(task_list_id, "task_list_id")
    st = optional_enum(TaskState, state, "state")
    out = [
        t
        for t in tasks
        if (cid is None or t.conversation_id == cid)
        and (lid is None or t.task_list_id == lid)
        and (st is None or t.state is st)
    ]
    out.sort(key=lambda t: (t.created_at, str(t.id)))
    return out


class KnowledgeStore(ABC):
    """Optional: facts, summaries and embeddings an agent learns.

    Required: `save_fact`, `get_fact`. Optional: everything else (the built-in backends implement
    all of it). `search_similar` ranks embeddings by cosine similarity.
    """

    @abstractmethod
    async def save_fact(self, fact: Fact, scope: Scope | str = Scope.PROJECT) -> None:
        """Create or replace `fact`."""

    @abstractmethod
    async def get_fact(
        self, fact_id: UUID | str, scope: Scope | str = Scope.PROJECT
    ) -> Fact | None:
        """The fact, or None."""

    async def get_fact_by_key(self, key: str, scope: Scope | str = Scope.PROJECT) -> Fact | None:
        """The most recently updated fact with this `key`, or None."""
        facts = [f for f in await self.list_facts(scope) if f.key == key]
        return max(facts, key=lambda f: f.updated_at) if facts else None

    async def list_facts(
        self,
        scope: Scope | str = Scope.PROJECT,
        fact_type: FactType | str | None = None,
        limit: int | None = None,
    ) -> list[Fact]:
        """Facts, of one type if given, most recently updated first."""
        raise _not_implemented(self, "list_facts")

    async def delete_fact(self, fact_id: UUID | str, scope: Scope | str = Scope.PROJECT) -> bool:
        """Remove the fact; True if it existed."""
        raise _not_implemented(self, "delete_fact")

    async def save_summary(self, summary: Summary, scope: Scope | str = Scope.PROJECT) -> None:
        """Create or replace `summary`."""
        raise _not_implemented(self, "save_summary")

    async def get_summary(
        self, summary_id: UUID | str, scope: Scope | str = Scope.PROJECT
    ) -> Summary | None:
        """The summary, or None."""
        raise _not_implemented(self, "get_summary")

    async def list_summaries(
        self, scope: Scope | str = Scope.PROJECT, conversation_id: UUID | str | None = None
    ) -> list[Summary]:
        """Summaries, of one conversation if given, newest first."""
        raise _not_implemented(self, "list_summaries")

    async def save_embedding(
        self, embedding: Embedding, scope: Scope | str = Scope.PROJECT
    ) -> None:
        """Create or replace `embedding`."""
        raise _not_implemented(self, "save_embedding")

    async def get_embedding(
        self, embedding_id: UUID | str, scope: Scope | str = Scope.PROJECT
    ) -> Embedding | None:
        """The embedding, or None."""
        raise _not_implemented(self, "get_embedding")

    async def delete_embedding(
        self, embedding_id: UUID | str, scope: Scope | str = Scope.PROJECT
    ) -> bool:
        """Remove the embedding; True if it existed."""
        raise _not_implemented(self, "delete_embedding")

    async def search_similar(
        self,
        query_vector: Sequence[float],
        scope: Scope | str = Scope.PROJECT,
        limit: int = 10,
        content_type: str | None = None,
        min_score: float | None = None,
    ) -> list[tuple[Embedding, float]]:
        """The `limit` embeddings most similar to `query_vector` (cosine), best first, each with
        its score in [-1, 1]. All compared embeddings must have the query's length."""
        raise _not_implemented(self, "search_similar")

    async def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release files, connections and threads. Override if your store holds any."""


def filter_facts(
    facts: Iterable[Fact], fact_type: FactType | str | None, limit: int | None
) -> list[Fact]:
    """Facts of `fact_type` (all if None), most recently updated first, at most `limit`."""
    ft = optional_enum(FactType, fact_type, "fact_type")
    out = [f for f in facts if ft is None or f.fact_type is ft]
    out.sort(key=lambda f: (f.updated_at, str(f.id)), reverse=True)
    return page(out, limit, 0)


def filter_summaries(
    summaries: Iterable[Summary], conversation_id: UUID | str | None
) -> list[Summary]:
    """Summaries of `conversation_id` (all if None), newest first."""
    cid = optional_id(conversation_id, "conversation_id")
    out = [s for s in summaries if cid is None or s.conversation_id == cid]
    out.sort(key=lambda s: (s.created_at, str(s.id)), reverse=True)
    return out


class AuditStore(ABC):
    """Optional: the interaction log, the error history and performance metrics.

    Required: `log_event`, `log_error`, `record_metric`. Optional: the queries and
    `resolve_error` (the built-in backends implement all of them). Time ranges include `since`
    and exclude `until`; naive datetimes are taken as UTC.
    """

    @abstractmethod
    async def log_event(self, entry: AuditEntry, scope: Scope | str = Scope.PROJECT) -> None:
        """Record an interaction."""

    @abstractmethod
    async def log_error(self, error: ErrorRecord, scope: Scope | str = Scope.PROJECT) -> None:
        """Record an error (or replace the record with the same id)."""

    @abstractmethod
    async def record_metric(
        self, metric: PerformanceMetric, scope: Scope | str = Scope.PROJECT
    ) -> None:
        """Record a measurement."""

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
        """Entries matching every filter given, oldest first (the first `limit`)."""
        raise _not_implemented(self, "get_events")

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
        """Error records matching every filter given, oldest first."""
        raise _not_implemented(self, "get_errors")

    async def resolve_error(
        self, error_id: UUID | str, resolution: str, scope: Scope | str = Scope.PROJECT
    ) -> ErrorRecord:
        """Mark an error resolved now, with how; returns the record. `RecordNotFoundError` if
        there is no such error."""
        raise _not_implemented(self, "resolve_error")

    async def get_metrics(
        self,
        scope: Scope | str = Scope.PROJECT,
        *,
        name: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[PerformanceMetric]:
        """Measurements matching every filter given, oldest first."""
        raise _not_implemented(self, "get_metrics")

    async def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release files, connections and threads. Override if your store holds any."""


def mark_resolved(error: ErrorRecord, resolution: str) -> ErrorRecord:
    """`error`, changed in place to say it was resolved now, with `resolution`."""
    error.resolved = True
    error.resolved_at = utcnow()
    error.resolution = resolution
    return error


def filter_events(
    entries: Iterable[AuditEntry],
    event_type: AuditEventType | str | None,
    since: datetime | None,
    until: datetime | None,
    conversation_id: UUID | str | None,
    limit: int | None,
) -> list[AuditEntry]:
    """Entries matching every filter given, oldest first, at most `limit`."""
    et = optional_enum(AuditEventType, event_type, "event_type")
    cid = optional_id(conversation_id, "conversation_id")
    out = [
        e
        for e in entries
        if (et is None or e.event_type is et)
        and (cid is None or e.conversation_id == cid)
        and _in_range(e.timestamp, since, until)
    ]
    out.sort(key=lambda e: (e.timestamp, str(e.id)))
    return page(out, limit, 0)


def filter_errors(
    errors: Iterable[ErrorRecord],
    severity: ErrorSeverity | str | None,
    resolved: bool | None,
    since: datetime | None,
    until: datetime | None,
    limit: int | None,
) -> list[ErrorRecord]:
    """Error records matching every filter given, oldest first, at most `limit`."""
    sv = optional_enum(ErrorSeverity, severity, "severity")
    out = [
        e
        for e in errors
        if (sv is None or e.severity is sv)
        and (resolved is None or e.resolved == resolved)
        and _in_range(e.timestamp, since, until)
    ]
    out.sort(key=lambda e: (e.timestamp, str(e.id)))
    return page(out, limit, 0)


def filter_metrics(
    metrics: Iterable[PerformanceMetric],
    name: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int | None,
) -> list[PerformanceMetric]:
    """Measurements matching every filter given, oldest first, at most `limit`."""
    out = [
        m
        for m in metrics
        if (name is None or m.name == name) and _in_range(m.timestamp, since, until)
    ]
    out.sort(key=lambda m: (m.timestamp, str(m.id)))
    return page(out, limit, 0)
