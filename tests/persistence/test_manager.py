"""PersistenceConfig, PersistenceManager, configure_persistence, get_persistence_manager."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent_runtime_core.errors import ConfigurationError, UserError
from agent_runtime_core.persistence import (
    FileConversationStore,
    FileKnowledgeStore,
    FileMemoryStore,
    FileTaskStore,
    KnowledgeStore,
    MemoryStore,
    PersistenceConfig,
    PersistenceManager,
    Scope,
    SQLiteAuditStore,
    SQLiteMemoryStore,
    configure_persistence,
    get_persistence_manager,
)


async def test_defaults_are_file_stores_rooted_at_project_dir(project_dir: Path) -> None:
    m = PersistenceManager(PersistenceConfig(project_dir=project_dir))
    assert isinstance(m.memory, FileMemoryStore)
    assert isinstance(m.conversations, FileConversationStore)
    assert isinstance(m.tasks, FileTaskStore)
    assert m.memory is m.memory  # created once
    assert m.dirs.root(Scope.PROJECT) == project_dir / ".agent_runtime"
    assert m.dirs.root(Scope.SESSION) == project_dir / ".agent_runtime" / "sessions" / m.session_id
    assert not m.has_knowledge() and not m.has_audit()
    with pytest.raises(ConfigurationError, match="has_knowledge"):
        _ = m.knowledge
    with pytest.raises(ConfigurationError, match="has_audit"):
        _ = m.audit
    await m.close()


async def test_sqlite_backend_and_enabled_optional_stores(project_dir: Path) -> None:
    async with PersistenceManager(
        PersistenceConfig(project_dir=project_dir, backend="sqlite", enable_audit=True)
    ) as m:
        assert isinstance(m.memory, SQLiteMemoryStore)
        assert m.has_audit() and isinstance(m.audit, SQLiteAuditStore)
        await m.memory.set("k", 1)
    assert (project_dir / ".agent_runtime" / "persistence.db").is_file()


async def test_session_id_can_be_resumed(project_dir: Path) -> None:
    first = PersistenceManager(PersistenceConfig(project_dir=project_dir))
    await first.memory.set("draft", "x", scope=Scope.SESSION)
    again = PersistenceManager(
        PersistenceConfig(project_dir=project_dir, session_id=first.session_id)
    )
    assert await again.memory.get("draft") == "x"
    other = PersistenceManager(PersistenceConfig(project_dir=project_dir))
    assert other.session_id != first.session_id
    assert await other.memory.get("draft") is None


async def test_three_ways_to_configure(
    project_dir: Path, custom_store_classes: tuple[type[Any], type[Any]]
) -> None:
    mem_cls, _ = custom_store_classes
    instance = mem_cls(user="a")
    m1 = PersistenceManager(PersistenceConfig(memory_store=instance))
    assert m1.memory is instance

    calls: list[int] = []

    def factory() -> MemoryStore:
        calls.append(1)
        store: MemoryStore = mem_cls(user="b")
        return store

    m2 = PersistenceManager(PersistenceConfig(memory_store_factory=factory))
    assert calls == []  # lazy
    assert m2.memory.user == "b"  # type: ignore[attr-defined]
    assert m2.memory is m2.memory and calls == [1]

    m3 = PersistenceManager(
        PersistenceConfig(memory_store_class=mem_cls, memory_store_kwargs={"user": "c"})
    )
    assert m3.memory.user == "c"  # type: ignore[attr-defined]
    m4 = PersistenceManager(
        PersistenceConfig(
            knowledge_store_class=FileKnowledgeStore,
            knowledge_store_kwargs={"project_dir": project_dir},
        )
    )
    assert m4.has_knowledge() and isinstance(m4.knowledge, KnowledgeStore)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"backend": "postgres"}, "backend"),
        ({"memory_store": FileMemoryStore(), "memory_store_factory": FileMemoryStore}, "only one"),
        ({"memory_store_kwargs": {"user": 1}}, "memory_store_class"),
        ({"memory_store": object()}, "MemoryStore"),
        ({"memory_store_class": dict}, "subclass of MemoryStore"),
        ({"conversation_store": FileMemoryStore()}, "ConversationStore"),
        ({"task_store_factory": 3}, "callable"),
    ],
)
def test_bad_configs_are_rejected(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        PersistenceConfig(**kwargs)


def test_factory_returning_the_wrong_type_is_reported() -> None:
    m = PersistenceManager(PersistenceConfig(memory_store_factory=lambda: "nope"))  # type: ignore[arg-type,return-value]
    with pytest.raises(ConfigurationError, match="returned a str"):
        _ = m.memory


async def test_configure_and_get_persistence_manager(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project_dir)
    default = get_persistence_manager()
    assert get_persistence_manager() is default
    assert default.dirs.project_dir == project_dir
    configured = configure_persistence(memory_store_class=FileMemoryStore, project_dir=project_dir)
    assert get_persistence_manager() is configured is not default
    assert isinstance(configured.memory, FileMemoryStore)
    config = PersistenceConfig(project_dir=project_dir, backend="sqlite")
    assert configure_persistence(config).config is config
    with pytest.raises(ConfigurationError, match="Unknown persistence setting"):
        configure_persistence(projectdir=project_dir)
    with pytest.raises(ConfigurationError, match="not both"):
        configure_persistence(config, backend="file")
    await get_persistence_manager().close()


async def test_close_closes_sqlite_stores_once(project_dir: Path) -> None:
    m = PersistenceManager(PersistenceConfig(project_dir=project_dir, backend="sqlite"))
    await m.memory.set("k", 1)
    store = m.memory
    await m.close()
    with pytest.raises(Exception, match="closed"):
        await store.get("k")
    await m.close()  # idempotent


async def test_optional_methods_say_what_is_missing(project_dir: Path) -> None:
    class Minimal(KnowledgeStore):
        async def save_fact(self, fact: Any, scope: Any = Scope.PROJECT) -> None: ...
        async def get_fact(self, fact_id: Any, scope: Any = Scope.PROJECT) -> None: ...

    with pytest.raises(NotImplementedError, match=r"Minimal does not implement `list_facts\(\)`"):
        await Minimal().list_facts()


def test_scope_errors_are_user_errors() -> None:
    assert issubclass(ConfigurationError, UserError)
