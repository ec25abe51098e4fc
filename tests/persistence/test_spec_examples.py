"""Every snippet of the spec's "Persistence" section (and "Persistence Functions") runs as written.

The snippets are copied verbatim from the spec (agent-runtime-core-README.md, sections
"Persistence" and "API Reference > Persistence Functions"); `test_snippets_match_the_spec` checks
the copies against the spec file or our README when either is available. A few snippets use names
they never define (`Optional`, `Any`, `request`, `MyDatabaseConversationStore`, `original_msg`,
`task1`, `MyMemoryStore`, ...): the tests provide those in the snippet's namespace, the way the
surrounding application would, and run the text unchanged (top-level `await` included).
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Optional
from uuid import uuid4

import pytest

from agent_runtime_core.persistence import (
    Conversation,
    ConversationMessage,
    FileMemoryStore,
    MemoryStore,
    PersistenceConfig,
    PersistenceManager,
    Scope,
    Task,
    TaskState,
    get_persistence_manager,
)

# fmt: off
# ruff: noqa: E501, W291, W293
# -- verbatim copies of the spec's code blocks, in order -------------------------------------------

FILE_BASED = r"""from agent_runtime_core.persistence import (
    PersistenceManager,
    PersistenceConfig,
    Scope,
)
from pathlib import Path

# Create manager with file-based storage
config = PersistenceConfig(project_dir=Path.cwd())
manager = PersistenceManager(config)

# Store memory (key-value)
await manager.memory.set("user_name", "Alice", scope=Scope.PROJECT)
name = await manager.memory.get("user_name")

# Store conversations
from agent_runtime_core.persistence import Conversation, Message
conv = Conversation(title="Chat 1")
conv.messages.append(Message(role="user", content="Hello!"))
await manager.conversations.save(conv)

# Store tasks
from agent_runtime_core.persistence import Task, TaskState
task = Task(name="Review code", conversation_id=conv.id)
await manager.tasks.save(task)
await manager.tasks.update(task.id, state=TaskState.COMPLETE)

# Store preferences
await manager.preferences.set("theme", "dark")
"""

CUSTOM_BACKENDS = r"""from agent_runtime_core.persistence import (
    MemoryStore,
    ConversationStore,
    TaskStore,
    PreferencesStore,
    PersistenceConfig,
    PersistenceManager,
)

class MyDatabaseMemoryStore(MemoryStore):
    def __init__(self, user):
        self.user = user

    async def get(self, key: str, scope=None) -> Optional[Any]:
        # Your database logic here
        pass

    async def set(self, key: str, value: Any, scope=None) -> None:
        # Your database logic here
        pass

    # ... implement other methods

# Three ways to configure custom backends:

# 1. Pre-instantiated stores (recommended for request-scoped)
config = PersistenceConfig(
    memory_store=MyDatabaseMemoryStore(user=request.user),
    conversation_store=MyDatabaseConversationStore(user=request.user),
)

# 2. Factory functions (for lazy instantiation)
config = PersistenceConfig(
    memory_store_factory=lambda: MyDatabaseMemoryStore(user=get_current_user()),
)

# 3. Classes with kwargs
config = PersistenceConfig(
    memory_store_class=MyDatabaseMemoryStore,
    memory_store_kwargs={"user": request.user},
)

manager = PersistenceManager(config)
"""

DATA_MODELS = r"""from agent_runtime_core.persistence import (
    # Conversation models
    Conversation,         # Chat conversation with messages
    ConversationMessage,  # Single message with branching support
    ToolCall,             # Tool invocation within a message
    ToolResult,           # Result of a tool call

    # Task models (with dependencies and checkpoints)
    Task,                 # Task with state, dependencies, checkpoints
    TaskList,             # Collection of tasks
    TaskState,            # NOT_STARTED, IN_PROGRESS, COMPLETE, CANCELLED

    # Knowledge models (optional)
    Fact,                 # Learned facts about user/project
    FactType,             # USER, PROJECT, PREFERENCE, CONTEXT, CUSTOM
    Summary,              # Conversation summaries
    Embedding,            # Vector embeddings for semantic search

    # Audit models (optional)
    AuditEntry,           # Interaction logs
    AuditEventType,       # CONVERSATION_START, TOOL_CALL, AGENT_ERROR, etc.
    ErrorRecord,          # Error history with resolution tracking
    ErrorSeverity,        # DEBUG, INFO, WARNING, ERROR, CRITICAL
    PerformanceMetric,    # Timing, token usage, etc.

    Scope,                # GLOBAL, PROJECT, SESSION
)
"""

BRANCHING = r"""from agent_runtime_core.persistence import Conversation, ConversationMessage
from uuid import uuid4

# Create a branched message (e.g., user edited their message)
branch_id = uuid4()
edited_msg = ConversationMessage(
    id=uuid4(),
    role="user",
    content="Updated question",
    parent_message_id=original_msg.id,  # Points to original
    branch_id=branch_id,
)

# Fork a conversation
forked_conv = Conversation(
    id=uuid4(),
    title="Forked conversation",
    parent_conversation_id=original_conv.id,
    active_branch_id=branch_id,
)
"""

ENHANCED_TASKS = r"""from agent_runtime_core.persistence import Task, TaskState
from uuid import uuid4
from datetime import datetime

task = Task(
    id=uuid4(),
    name="Process large dataset",
    description="Multi-step data processing",
    state=TaskState.IN_PROGRESS,

    # Dependencies - this task depends on others
    dependencies=[task1.id, task2.id],

    # Scheduling
    priority=10,  # Higher = more important
    due_at=datetime(2024, 12, 31),

    # Checkpoint for resumable operations
    checkpoint_data={"step": 5, "processed": 1000},
    checkpoint_at=datetime.utcnow(),

    # Execution tracking
    attempts=2,
    last_error="Temporary network failure",
)
"""

KNOWLEDGE = r"""from agent_runtime_core.persistence import (
    KnowledgeStore, Fact, FactType, Summary, Embedding,
    PersistenceConfig, PersistenceManager,
)

# Implement your own KnowledgeStore
class MyKnowledgeStore(KnowledgeStore):
    async def save_fact(self, fact, scope=Scope.PROJECT):
        # Save to database
        ...

    async def get_fact(self, fact_id, scope=Scope.PROJECT):
        ...

    # ... implement other abstract methods

# Configure with optional store
config = PersistenceConfig(
    knowledge_store=MyKnowledgeStore(),
)
manager = PersistenceManager(config)

# Check if available before using
if manager.has_knowledge():
    await manager.knowledge.save_fact(Fact(
        id=uuid4(),
        key="user.preferred_language",
        value="Python",
        fact_type=FactType.PREFERENCE,
    ))
"""

AUDIT = r"""from agent_runtime_core.persistence import (
    AuditStore, AuditEntry, AuditEventType,
    ErrorRecord, ErrorSeverity, PerformanceMetric,
)

# Implement your own AuditStore
class MyAuditStore(AuditStore):
    async def log_event(self, entry, scope=Scope.PROJECT):
        # Log to database/file
        ...

    async def log_error(self, error, scope=Scope.PROJECT):
        ...

    async def record_metric(self, metric, scope=Scope.PROJECT):
        ...

    # ... implement other abstract methods

# Use in manager
config = PersistenceConfig(
    audit_store=MyAuditStore(),
)
manager = PersistenceManager(config)

if manager.has_audit():
    # Log an event
    await manager.audit.log_event(AuditEntry(
        id=uuid4(),
        event_type=AuditEventType.TOOL_CALL,
        action="Called search tool",
        details={"query": "python docs"},
    ))

    # Record performance metric
    await manager.audit.record_metric(PerformanceMetric(
        id=uuid4(),
        name="llm_latency",
        value=1250.5,
        unit="ms",
        tags={"model": "gpt-4"},
    ))
"""

FUNCTIONS = r"""from agent_runtime_core.persistence import (
    configure_persistence,
    get_persistence_manager,
)

# Configure global persistence
configure_persistence(
    memory_store_class=MyMemoryStore,
    project_dir=Path.cwd(),
)

# Get the global manager
manager = get_persistence_manager()
"""
# fmt: on

SNIPPETS = [
    FILE_BASED, CUSTOM_BACKENDS, DATA_MODELS, BRANCHING, ENHANCED_TASKS, KNOWLEDGE, AUDIT, FUNCTIONS
]


async def run(snippet: str, namespace: dict[str, Any]) -> dict[str, Any]:
    """Execute `snippet` in `namespace`, allowing top-level `await` like a notebook would."""
    code = compile(snippet, "<spec snippet>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, namespace)
    if inspect.iscoroutine(result):
        await result
    return namespace


async def close_managers(namespace: dict[str, Any]) -> None:
    for value in list(namespace.values()):
        if isinstance(value, PersistenceManager):
            await value.close()


def app_names(custom_store_classes: tuple[type, type]) -> dict[str, Any]:
    """What the application around the snippets would define."""
    _, conversation_store = custom_store_classes

    class MyMemoryStore(FileMemoryStore):
        """A user's own MemoryStore for `configure_persistence(memory_store_class=...)`."""

    return {
        "Optional": Optional,
        "Any": Any,
        "request": SimpleNamespace(user="alice"),
        "get_current_user": lambda: "alice",
        "MyDatabaseConversationStore": conversation_store,
        "MyMemoryStore": MyMemoryStore,
    }


async def test_file_based_storage(
    project_dir: Path, isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project_dir)  # the snippet uses Path.cwd()
    ns = await run(FILE_BASED, {})
    try:
        assert ns["name"] == "Alice"
        manager = ns["manager"]
        conv, task = ns["conv"], ns["task"]
        stored = await manager.conversations.get(conv.id)
        assert stored is not None and [m.content for m in stored.messages] == ["Hello!"]
        reloaded = await manager.tasks.get(task.id)
        assert reloaded is not None and reloaded.state is TaskState.COMPLETE
        assert reloaded.conversation_id == conv.id
        assert await manager.preferences.get("theme") == "dark"
        root = project_dir / ".agent_runtime"
        assert (root / "memory.json").is_file()
        assert (root / "conversations" / f"{conv.id}.json").is_file()
        assert (root / "tasks" / f"{task.id}.json").is_file()
        assert (isolated_home / "preferences.json").is_file()  # preferences default to GLOBAL
        assert not (tmp_path / "home").exists()  # the real home is never touched
    finally:
        await close_managers(ns)


async def test_custom_backends_three_ways(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch, custom_store_classes: tuple[type, type]
) -> None:
    monkeypatch.chdir(project_dir)
    ns = await run(CUSTOM_BACKENDS, app_names(custom_store_classes))
    try:
        store_cls = ns["MyDatabaseMemoryStore"]
        manager = ns["manager"]  # built from the third config: class + kwargs
        store = manager.memory
        assert isinstance(store, store_cls) and store.user == "alice"
        assert await store.get("anything") is None  # the snippet's `pass` bodies
        # The first two configs, as the snippet left them, work too.
        first = PersistenceManager(
            PersistenceConfig(
                memory_store=store_cls(user="bob"),
                conversation_store=custom_store_classes[1](user="bob"),
            )
        )
        assert first.memory.user == "bob"  # type: ignore[attr-defined]
        second = PersistenceManager(
            PersistenceConfig(memory_store_factory=lambda: store_cls(user=ns["get_current_user"]()))
        )
        assert second.memory.user == "alice"  # type: ignore[attr-defined]
    finally:
        await close_managers(ns)


async def test_data_model_imports() -> None:
    ns = await run(DATA_MODELS, {})
    for name in (
        "Conversation", "ConversationMessage", "ToolCall", "ToolResult", "Task", "TaskList",
        "TaskState", "Fact", "FactType", "Summary", "Embedding", "AuditEntry", "AuditEventType",
        "ErrorRecord", "ErrorSeverity", "PerformanceMetric", "Scope",
    ):
        assert name in ns
    assert [s.name for s in ns["Scope"]] == ["GLOBAL", "PROJECT", "SESSION"]
    assert [s.name for s in ns["TaskState"]] == ["NOT_STARTED", "IN_PROGRESS", "COMPLETE", "CANCELLED"]
    assert [f.name for f in ns["FactType"]] == ["USER", "PROJECT", "PREFERENCE", "CONTEXT", "CUSTOM"]
    assert [s.name for s in ns["ErrorSeverity"]] == ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
    assert {"CONVERSATION_START", "TOOL_CALL", "AGENT_ERROR"} <= {e.name for e in ns["AuditEventType"]}


async def test_conversation_branching(project_dir: Path) -> None:
    original_msg = ConversationMessage(role="user", content="Original question")
    original_conv = Conversation(title="Original", messages=[original_msg])
    ns = await run(BRANCHING, {"original_msg": original_msg, "original_conv": original_conv})
    edited, forked = ns["edited_msg"], ns["forked_conv"]
    original_conv.messages.append(edited)
    assert [m.content for m in original_conv.branch_path(ns["branch_id"])] == ["Updated question"]
    assert forked.parent_conversation_id == original_conv.id
    assert forked.active_branch_id == ns["branch_id"]
    async with PersistenceManager(PersistenceConfig(project_dir=project_dir)) as manager:
        await manager.conversations.save(original_conv)
        await manager.conversations.save(forked)
        assert await manager.conversations.get(original_conv.id) == original_conv
        assert await manager.conversations.get(forked.id) == forked


# The spec calls `datetime.utcnow()`, deprecated since Python 3.12: that warning is the spec's.
@pytest.mark.filterwarnings("ignore:datetime.datetime.utcnow:DeprecationWarning")
async def test_enhanced_tasks(project_dir: Path) -> None:
    ns = await run(ENHANCED_TASKS, {"task1": Task(name="one"), "task2": Task(name="two")})
    task = ns["task"]
    assert task.due_at is not None and task.due_at.tzinfo is not None  # naive taken as UTC
    assert task.checkpoint_at is not None and task.checkpoint_at.tzinfo is not None
    assert task.dependencies == [ns["task1"].id, ns["task2"].id]
    async with PersistenceManager(PersistenceConfig(project_dir=project_dir)) as manager:
        await manager.tasks.save(task)
        assert await manager.tasks.get(task.id) == task


async def test_knowledge_store(project_dir: Path) -> None:
    ns = await run(KNOWLEDGE, {"Scope": Scope, "uuid4": uuid4})
    try:
        manager = ns["manager"]
        assert manager.has_knowledge()
        assert isinstance(manager.knowledge, ns["MyKnowledgeStore"])
    finally:
        await close_managers(ns)


async def test_audit_store(project_dir: Path) -> None:
    ns = await run(
        AUDIT,
        # Names the snippet takes from the earlier snippets of the section.
        {
            "Scope": Scope,
            "uuid4": uuid4,
            "PersistenceConfig": PersistenceConfig,
            "PersistenceManager": PersistenceManager,
        },
    )
    try:
        manager = ns["manager"]
        assert manager.has_audit()
        assert not manager.has_knowledge()
        assert isinstance(manager.audit, ns["MyAuditStore"])
    finally:
        await close_managers(ns)


async def test_persistence_functions(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch, custom_store_classes: tuple[type, type]
) -> None:
    monkeypatch.chdir(project_dir)
    names = app_names(custom_store_classes)
    ns = await run(FUNCTIONS, {**names, "Path": Path})
    manager = ns["manager"]
    try:
        assert manager is get_persistence_manager()
        assert isinstance(manager.memory, names["MyMemoryStore"])
        assert isinstance(manager.memory, MemoryStore)
        assert manager.config.project_dir == project_dir
    finally:
        await manager.close()


SPEC = Path(__file__).resolve().parents[1] / "fixtures" / "spec-README.md"
"""A copy of the spec (shared/spec/agent-runtime-core-README.md), kept with the tests."""


def test_snippets_match_the_spec() -> None:
    text = SPEC.read_text(encoding="utf-8")
    section = text[text.index("## Persistence\n") :]
    section = section[: section.index("\n## ", 1)]
    functions = text[text.index("### Persistence Functions") :]
    functions = functions[: functions.index("\n## ")]
    blocks = re.findall(r"```python\n(.*?)```", section + functions, re.S)
    assert blocks == SNIPPETS
