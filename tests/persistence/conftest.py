"""Fixtures of the persistence tests: an isolated home, and the backends of the contract suite.

Nothing here may write outside `tmp_path`: GLOBAL scope goes to `tmp_path/global` through
`AGENT_RUNTIME_GLOBAL_DIR`, and `HOME` points into `tmp_path` too, as a second guard.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from agent_runtime_core.errors import UserError
from agent_runtime_core.persistence import (
    LOOKUP_ORDER,
    Conversation,
    ConversationStore,
    MemoryStore,
    PersistenceConfig,
    PersistenceManager,
    Scope,
    check_key,
    coerce_id,
    coerce_scope,
)
from agent_runtime_core.persistence import manager as manager_module


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """GLOBAL scope and `~` inside tmp_path; no process-wide manager left behind."""
    global_dir = tmp_path / "global"
    monkeypatch.setenv("AGENT_RUNTIME_GLOBAL_DIR", str(global_dir))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    manager_module._reset_persistence_manager()
    yield global_dir
    manager_module._reset_persistence_manager()


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    path = tmp_path / "project"
    path.mkdir()
    return path


# -- a custom backend, as a user would write one (dicts in memory) -------------------------------


def _json_copy(value: Any) -> Any:
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise UserError(f"Values must be JSON values: {e}") from None


class DictMemoryStore(MemoryStore):
    """A custom MemoryStore keyed by user, like the spec's `MyDatabaseMemoryStore`."""

    def __init__(self, user: str | None = None) -> None:
        self.user = user
        self.data: dict[Scope, dict[str, Any]] = {s: {} for s in Scope}

    async def get(self, key: str, scope: Scope | str | None = None) -> Any | None:
        check_key(key)
        scopes = LOOKUP_ORDER if scope is None else (coerce_scope(scope, Scope.PROJECT),)
        for s in scopes:
            if key in self.data[s]:
                return copy.deepcopy(self.data[s][key])
        return None

    async def set(self, key: str, value: Any, scope: Scope | str | None = None) -> None:
        check_key(key)
        self.data[coerce_scope(scope, Scope.PROJECT)][key] = _json_copy(value)

    async def delete(self, key: str, scope: Scope | str | None = None) -> bool:
        check_key(key)
        return self.data[coerce_scope(scope, Scope.PROJECT)].pop(key, None) is not None

    async def list_keys(
        self, scope: Scope | str | None = None, prefix: str | None = None
    ) -> list[str]:
        scopes = list(Scope) if scope is None else [coerce_scope(scope, Scope.PROJECT)]
        keys = {k for s in scopes for k in self.data[s]}
        return sorted(k for k in keys if prefix is None or k.startswith(prefix))

    async def clear(self, scope: Scope | str | None = None) -> None:
        self.data[coerce_scope(scope, Scope.PROJECT)].clear()


class DictConversationStore(ConversationStore):
    """A custom ConversationStore implementing only the four required methods."""

    def __init__(self, user: str | None = None) -> None:
        self.user = user
        self.data: dict[Scope, dict[UUID, dict[str, Any]]] = {s: {} for s in Scope}

    async def save(self, conversation: Conversation, scope: Scope | str = Scope.PROJECT) -> None:
        self.data[coerce_scope(scope, Scope.PROJECT)][conversation.id] = _json_copy(
            conversation.to_dict()
        )

    async def get(
        self, conversation_id: UUID | str, scope: Scope | str = Scope.PROJECT
    ) -> Conversation | None:
        raw = self.data[coerce_scope(scope, Scope.PROJECT)].get(coerce_id(conversation_id))
        return None if raw is None else Conversation.from_dict(raw)

    async def delete(self, conversation_id: UUID | str, scope: Scope | str = Scope.PROJECT) -> bool:
        store = self.data[coerce_scope(scope, Scope.PROJECT)]
        return store.pop(coerce_id(conversation_id), None) is not None

    async def list_conversations(
        self,
        scope: Scope | str = Scope.PROJECT,
        limit: int | None = 100,
        offset: int = 0,
        agent_key: str | None = None,
    ) -> list[Conversation]:
        convs = [
            Conversation.from_dict(raw)
            for raw in self.data[coerce_scope(scope, Scope.PROJECT)].values()
        ]
        convs = [c for c in convs if agent_key is None or c.agent_key == agent_key]
        convs.sort(key=lambda c: (c.updated_at, str(c.id)), reverse=True)
        return convs[offset:] if limit is None else convs[offset : offset + limit]


BACKENDS = ["file", "sqlite", "custom-instance", "custom-factory", "custom-class"]
BUILTIN = ["file", "sqlite"]


def make_config(kind: str, project: Path, **extra: Any) -> PersistenceConfig:
    """The config for one backend of the contract suite, built the way the spec shows."""
    if kind in BUILTIN:
        return PersistenceConfig(project_dir=project, backend=kind, **extra)  # type: ignore[arg-type]
    if kind == "custom-instance":
        return PersistenceConfig(
            project_dir=project,
            memory_store=DictMemoryStore(user="alice"),
            conversation_store=DictConversationStore(user="alice"),
            **extra,
        )
    if kind == "custom-factory":
        return PersistenceConfig(
            project_dir=project,
            memory_store_factory=lambda: DictMemoryStore(user="alice"),
            conversation_store_factory=lambda: DictConversationStore(user="alice"),
            **extra,
        )
    assert kind == "custom-class"
    return PersistenceConfig(
        project_dir=project,
        memory_store_class=DictMemoryStore,
        memory_store_kwargs={"user": "alice"},
        conversation_store_class=DictConversationStore,
        conversation_store_kwargs={"user": "alice"},
        **extra,
    )


@pytest.fixture(params=BACKENDS)
async def manager(
    request: pytest.FixtureRequest, project_dir: Path
) -> AsyncIterator[PersistenceManager]:
    """A manager over each backend of the contract suite (closed afterwards)."""
    m = PersistenceManager(make_config(request.param, project_dir))
    try:
        yield m
    finally:
        await m.close()


@pytest.fixture(params=BUILTIN)
async def builtin(
    request: pytest.FixtureRequest, project_dir: Path
) -> AsyncIterator[PersistenceManager]:
    """A manager over each built-in backend, with knowledge and audit enabled (closed afterwards)."""
    m = PersistenceManager(
        make_config(request.param, project_dir, enable_knowledge=True, enable_audit=True)
    )
    try:
        yield m
    finally:
        await m.close()


@pytest.fixture
def custom_store_classes() -> tuple[type[DictMemoryStore], type[DictConversationStore]]:
    """The dict-based custom store classes (test modules cannot import conftest directly)."""
    return DictMemoryStore, DictConversationStore
