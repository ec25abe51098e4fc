"""Persistence: memory, conversations, tasks and preferences (plus optional knowledge and audit
stores), with a file backend (the default), a SQLite backend, and room for your own.

Start with `PersistenceManager(PersistenceConfig(project_dir=...))`; see docs/persistence.md.
"""

from __future__ import annotations

from .audit import AuditStore
from .base import (
    LOOKUP_ORDER,
    CorruptStoreError,
    RecordNotFoundError,
    Scope,
    ScopeDirs,
    StoreVersionError,
    check_key,
    coerce_id,
    coerce_scope,
)
from .conversations import ConversationStore
from .file import (
    FileAuditStore,
    FileConversationStore,
    FileKnowledgeStore,
    FileMemoryStore,
    FilePreferencesStore,
    FileTaskStore,
)
from .knowledge import KnowledgeStore, cosine_similarity
from .manager import (
    PersistenceConfig,
    PersistenceManager,
    configure_persistence,
    get_persistence_manager,
)
from .memory import MemoryStore, PreferencesStore
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
    Message,
    PerformanceMetric,
    Summary,
    Task,
    TaskList,
    TaskState,
    ToolCall,
    ToolResult,
)
from .sqlite import (
    SQLiteAuditStore,
    SQLiteConversationStore,
    SQLiteKnowledgeStore,
    SQLiteMemoryStore,
    SQLitePreferencesStore,
    SQLiteTaskStore,
)
from .tasks import TaskStore

__all__ = [
    "LOOKUP_ORDER",
    "AuditEntry",
    "AuditEventType",
    "AuditStore",
    "Conversation",
    "ConversationMessage",
    "ConversationStore",
    "CorruptStoreError",
    "Embedding",
    "ErrorRecord",
    "ErrorSeverity",
    "Fact",
    "FactType",
    "FileAuditStore",
    "FileConversationStore",
    "FileKnowledgeStore",
    "FileMemoryStore",
    "FilePreferencesStore",
    "FileTaskStore",
    "KnowledgeStore",
    "MemoryStore",
    "Message",
    "PerformanceMetric",
    "PersistenceConfig",
    "PersistenceManager",
    "PreferencesStore",
    "RecordNotFoundError",
    "SQLiteAuditStore",
    "SQLiteConversationStore",
    "SQLiteKnowledgeStore",
    "SQLiteMemoryStore",
    "SQLitePreferencesStore",
    "SQLiteTaskStore",
    "Scope",
    "ScopeDirs",
    "StoreVersionError",
    "Summary",
    "Task",
    "TaskList",
    "TaskState",
    "TaskStore",
    "ToolCall",
    "ToolResult",
    "check_key",
    "coerce_id",
    "coerce_scope",
    "configure_persistence",
    "cosine_similarity",
    "get_persistence_manager",
]
