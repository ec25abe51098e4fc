"""`Scope` and where each scope lives (`ScopeDirs`), the errors, and the argument checks every
store shares.

The store interfaces (ABCs) live with their concept: `memory` (memory and preferences),
`conversations`, `tasks`, `knowledge` and `audit`. A store's *required* methods are abstract; they
are the ones the spec's custom-backend examples implement. Everything else either has a working
default built on the required methods (listing, searching, branch paths, ready tasks, task updates)
or, for optional capabilities, raises `NotImplementedError` naming the method, so a custom backend
only writes what it needs.

All methods are `async`. `scope` arguments take a `Scope` or its string value (`"project"`);
anything else raises `UserError` naming the allowed scopes.

The built-in backends also share, from these modules, memory and preferences written once on five
storage primitives (`memory._KeyValueMemoryStore`, `memory._KeyValuePreferencesStore`), the
argument checks (`require`, `optional_id`, `optional_enum`, here), the task-list record
(`tasks.task_list_record`, `task_list_order`, `fill_task_list`) and the query filters (`filter_*`),
so the backends differ only in storage.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID, uuid4

from agent_runtime_core._keys import MAX_FILE_NAME_BYTES
from agent_runtime_core._keys import check_key as _check_key
from agent_runtime_core.errors import BackendError, CorruptDataError, UserError

from ._model import _convert

__all__ = [
    "GLOBAL_DIR_ENV",
    "LOOKUP_ORDER",
    "MAX_KEY_LENGTH",
    "CorruptStoreError",
    "RecordNotFoundError",
    "Scope",
    "ScopeDirs",
    "StoreVersionError",
    "check_key",
    "coerce_id",
    "coerce_scope",
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


def page(items: list[T], limit: int | None, offset: int) -> list[T]:
    """`items[offset:offset+limit]`, with `limit=None` meaning no limit."""
    if offset < 0 or (limit is not None and limit < 0):
        raise UserError("`limit` and `offset` must be >= 0.")
    return items[offset:] if limit is None else items[offset : offset + limit]


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
