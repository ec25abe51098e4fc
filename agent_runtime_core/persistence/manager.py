"""`PersistenceConfig`, `PersistenceManager`, and the process-wide manager.

Each store can come from one of three places, checked in this order:

1. an instance (`memory_store=MyStore(user)`): used as it is;
2. a factory (`memory_store_factory=lambda: MyStore(get_user())`): called on first use;
3. a class and its keyword arguments (`memory_store_class=MyStore,
   memory_store_kwargs={"user": user}`): instantiated on first use.

Giving two of them for the same store is an error. Without any, the memory, conversation, task
and preferences stores are the built-in backend's (`backend="file"` by default, or `"sqlite"`),
rooted at `project_dir`. The knowledge and audit stores are optional: they exist only if configured
one of the three ways, or with `enable_knowledge=True` / `enable_audit=True` for the built-in ones.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, TypeVar

from agent_runtime_core.errors import ConfigurationError

from .audit import AuditStore
from .base import ScopeDirs
from .conversations import ConversationStore
from .knowledge import KnowledgeStore
from .memory import MemoryStore, PreferencesStore
from .tasks import TaskStore

__all__ = [
    "PersistenceConfig",
    "PersistenceManager",
    "configure_persistence",
    "get_persistence_manager",
]

S = TypeVar("S")

_BACKENDS = ("file", "sqlite")
# name -> (ABC, required?)
_STORES: dict[str, tuple[type[Any], bool]] = {
    "memory": (MemoryStore, True),
    "conversation": (ConversationStore, True),
    "task": (TaskStore, True),
    "preferences": (PreferencesStore, True),
    "knowledge": (KnowledgeStore, False),
    "audit": (AuditStore, False),
}


@dataclass
class PersistenceConfig:
    """Which store to use for what, and where the built-in backends keep their data."""

    project_dir: str | os.PathLike[str] | None = None
    """The project; PROJECT and SESSION data of the built-in backends live in
    `<project_dir>/.agent_runtime`. Default: the current directory when the store is created."""
    global_dir: str | os.PathLike[str] | None = None
    """Where GLOBAL data lives. Default: `$AGENT_RUNTIME_GLOBAL_DIR`, else `~/.agent_runtime`."""
    session_id: str | None = None
    """The session whose SESSION data to use; default a fresh id per manager. Pass an earlier
    manager's `session_id` to resume that session."""
    backend: Literal["file", "sqlite"] = "file"
    """The built-in backend for stores not configured otherwise."""
    enable_knowledge: bool = False
    """Give the manager the built-in backend's knowledge store if none is configured."""
    enable_audit: bool = False
    """Give the manager the built-in backend's audit store if none is configured."""

    memory_store: MemoryStore | None = None
    memory_store_factory: Callable[[], MemoryStore] | None = None
    memory_store_class: type[MemoryStore] | None = None
    memory_store_kwargs: dict[str, Any] = field(default_factory=dict)

    conversation_store: ConversationStore | None = None
    conversation_store_factory: Callable[[], ConversationStore] | None = None
    conversation_store_class: type[ConversationStore] | None = None
    conversation_store_kwargs: dict[str, Any] = field(default_factory=dict)

    task_store: TaskStore | None = None
    task_store_factory: Callable[[], TaskStore] | None = None
    task_store_class: type[TaskStore] | None = None
    task_store_kwargs: dict[str, Any] = field(default_factory=dict)

    preferences_store: PreferencesStore | None = None
    preferences_store_factory: Callable[[], PreferencesStore] | None = None
    preferences_store_class: type[PreferencesStore] | None = None
    preferences_store_kwargs: dict[str, Any] = field(default_factory=dict)

    knowledge_store: KnowledgeStore | None = None
    knowledge_store_factory: Callable[[], KnowledgeStore] | None = None
    knowledge_store_class: type[KnowledgeStore] | None = None
    knowledge_store_kwargs: dict[str, Any] = field(default_factory=dict)

    audit_store: AuditStore | None = None
    audit_store_factory: Callable[[], AuditStore] | None = None
    audit_store_class: type[AuditStore] | None = None
    audit_store_kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.backend not in _BACKENDS:
            raise ConfigurationError(
                f"`backend` must be one of {', '.join(map(repr, _BACKENDS))}; got {self.backend!r}."
            )
        for name, (abc, _) in _STORES.items():
            instance = getattr(self, f"{name}_store")
            factory = getattr(self, f"{name}_store_factory")
            cls = getattr(self, f"{name}_store_class")
            kwargs = getattr(self, f"{name}_store_kwargs")
            given = [
                f"`{name}_store{suffix}`"
                for suffix, value in (("", instance), ("_factory", factory), ("_class", cls))
                if value is not None
            ]
            if len(given) > 1:
                raise ConfigurationError(
                    f"Give only one of {' and '.join(given)}: they are three ways to configure "
                    f"the same {name} store."
                )
            if instance is not None and not isinstance(instance, abc):
                raise ConfigurationError(
                    f"`{name}_store` must be a {abc.__name__}; got {type(instance).__name__}."
                )
            if factory is not None and not callable(factory):
                raise ConfigurationError(f"`{name}_store_factory` must be callable.")
            if cls is not None and not (isinstance(cls, type) and issubclass(cls, abc)):
                raise ConfigurationError(
                    f"`{name}_store_class` must be a subclass of {abc.__name__}; got {cls!r}."
                )
            if not isinstance(kwargs, dict):
                raise ConfigurationError(f"`{name}_store_kwargs` must be a dict.")
            if kwargs and cls is None:
                raise ConfigurationError(
                    f"`{name}_store_kwargs` is only used with `{name}_store_class`; set that too."
                )


def _builtin(backend: str, name: str) -> type[Any]:
    if backend == "sqlite":
        from . import sqlite as mod
    else:
        from . import file as mod  # type: ignore[no-redef]
    prefix = "SQLite" if backend == "sqlite" else "File"
    suffix = {
        "memory": "MemoryStore",
        "conversation": "ConversationStore",
        "task": "TaskStore",
        "preferences": "PreferencesStore",
        "knowledge": "KnowledgeStore",
        "audit": "AuditStore",
    }[name]
    cls: type[Any] = getattr(mod, prefix + suffix)
    return cls


class PersistenceManager:
    """One object to reach every store: `manager.memory`, `.conversations`, `.tasks`,
    `.preferences`, and the optional `.knowledge` and `.audit` (check `has_knowledge()` /
    `has_audit()` first).

    Stores are created on first access and kept. `await manager.close()` (or `async with
    manager:`) closes the stores it created or was given.
    """

    def __init__(self, config: PersistenceConfig | None = None) -> None:
        self.config = config if config is not None else PersistenceConfig()
        self._stores: dict[str, Any] = {}
        self._dirs: ScopeDirs | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"PersistenceManager(backend={self.config.backend!r}, stores={sorted(self._stores)})"

    @property
    def dirs(self) -> ScopeDirs:
        """Where the built-in backends keep each scope (resolved on first use)."""
        if self._dirs is None:
            cfg = self.config
            self._dirs = ScopeDirs.resolve(cfg.project_dir, cfg.global_dir, cfg.session_id)
        return self._dirs

    @property
    def session_id(self) -> str:
        """The id of this manager's session (SESSION scope)."""
        return self.dirs.session_id

    def _configured(self, name: str) -> bool:
        cfg = self.config
        return any(
            getattr(cfg, f"{name}_store{suffix}") is not None
            for suffix in ("", "_factory", "_class")
        )

    def _store(self, name: str) -> Any:
        store = self._stores.get(name)
        if store is not None:
            return store
        with self._lock:
            store = self._stores.get(name)
            if store is not None:
                return store
            store = self._create(name)
            self._stores[name] = store
            return store

    def _create(self, name: str) -> Any:
        cfg = self.config
        abc, required = _STORES[name]
        instance = getattr(cfg, f"{name}_store")
        factory = getattr(cfg, f"{name}_store_factory")
        cls = getattr(cfg, f"{name}_store_class")
        if instance is not None:
            return instance
        if factory is not None:
            store = factory()
            if not isinstance(store, abc):
                raise ConfigurationError(
                    f"`{name}_store_factory` returned a {type(store).__name__}, not a {abc.__name__}."
                )
            return store
        if cls is not None:
            return cls(**getattr(cfg, f"{name}_store_kwargs"))
        enabled = {"knowledge": cfg.enable_knowledge, "audit": cfg.enable_audit}.get(name, True)
        if not (required or enabled):
            raise ConfigurationError(
                f"No {name} store is configured. Pass `{name}_store` (or `_factory`, or `_class`), "
                f"or `enable_{name}=True` for the built-in one, and check `has_{name}()` first."
            )
        return _builtin(cfg.backend, name)(dirs=self.dirs)

    @property
    def memory(self) -> MemoryStore:
        """The key-value memory store."""
        store: MemoryStore = self._store("memory")
        return store

    @property
    def conversations(self) -> ConversationStore:
        """The conversation store."""
        store: ConversationStore = self._store("conversation")
        return store

    @property
    def tasks(self) -> TaskStore:
        """The task store."""
        store: TaskStore = self._store("task")
        return store

    @property
    def preferences(self) -> PreferencesStore:
        """The preferences store."""
        store: PreferencesStore = self._store("preferences")
        return store

    @property
    def knowledge(self) -> KnowledgeStore:
        """The knowledge store; `ConfigurationError` if none is configured (see `has_knowledge`)."""
        store: KnowledgeStore = self._store("knowledge")
        return store

    @property
    def audit(self) -> AuditStore:
        """The audit store; `ConfigurationError` if none is configured (see `has_audit`)."""
        store: AuditStore = self._store("audit")
        return store

    def has_knowledge(self) -> bool:
        """Whether a knowledge store is configured."""
        return self.config.enable_knowledge or self._configured("knowledge")

    def has_audit(self) -> bool:
        """Whether an audit store is configured."""
        return self.config.enable_audit or self._configured("audit")

    async def close(self) -> None:
        """Close every store created so far (each once, even if shared)."""
        stores, self._stores = list(self._stores.values()), {}
        seen: set[int] = set()
        for store in stores:
            if id(store) not in seen:
                seen.add(id(store))
                await store.close()

    async def __aenter__(self) -> PersistenceManager:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


_manager: PersistenceManager | None = None
_manager_lock = threading.Lock()
_CONFIG_FIELDS = frozenset(f.name for f in dataclasses.fields(PersistenceConfig))


def configure_persistence(
    config: PersistenceConfig | None = None, **kwargs: Any
) -> PersistenceManager:
    """Set the process-wide manager, from a `PersistenceConfig` or its fields as keywords.

    Returns the new manager. The previous one is replaced, not closed: close it yourself if it
    holds SQLite connections.
    """
    global _manager
    if config is not None and kwargs:
        raise ConfigurationError("Pass either a `PersistenceConfig` or keyword settings, not both.")
    unknown = set(kwargs) - _CONFIG_FIELDS
    if unknown:
        raise ConfigurationError(
            f"Unknown persistence setting(s): {', '.join(sorted(unknown))}. "
            f"Known settings: {', '.join(sorted(_CONFIG_FIELDS))}."
        )
    if config is None:
        config = PersistenceConfig(**kwargs)
    manager = PersistenceManager(config)
    with _manager_lock:
        _manager = manager
    return manager


def get_persistence_manager() -> PersistenceManager:
    """The process-wide manager; a default one (file backend, current directory) if
    `configure_persistence` was never called."""
    global _manager
    with _manager_lock:
        if _manager is None:
            _manager = PersistenceManager()
        return _manager


def _reset_persistence_manager() -> None:
    """Forget the process-wide manager (for tests)."""
    global _manager
    with _manager_lock:
        _manager = None
