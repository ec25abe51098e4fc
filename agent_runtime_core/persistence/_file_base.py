"""What every file store shares: the file envelope, atomic writes under a lock, one JSON file per
record, and memory and preferences as one JSON file of keys per scope. The layout and the
guarantees are described in `file`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

from agent_runtime_core._json import MAX_DEPTH, MAX_STORED_BYTES, check_text_bounds, loads_bounded
from agent_runtime_core.errors import InvalidInputError, UserError

from ._model import _Model
from .base import (
    CorruptStoreError,
    RecordNotFoundError,
    Scope,
    StoreVersionError,
    _ScopeDirsStore,
    coerce_id,
    coerce_scope,
    require,
)

if sys.platform != "win32":
    import fcntl

__all__ = ["FORMAT_NAME", "FORMAT_VERSION"]

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
