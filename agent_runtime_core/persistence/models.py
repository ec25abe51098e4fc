"""The persistence data models: stdlib dataclasses with lossless JSON round-trips.

Every model converts to a JSON-ready dict with `to_dict()` and back with `from_dict()` (or to and
from text with `to_json()`/`from_json()`). The conversion is driven by the field annotations, so it
is lossless for every typed field: UUIDs come back as `UUID`, datetimes as time-zone-aware
`datetime`s, enums as enum members, nested models as models.

Datetimes are always aware and in UTC: a naive datetime (such as `datetime.utcnow()`, or
`datetime(2024, 12, 31)`) is taken to be UTC already; an aware one is converted to UTC. IDs may be
given as `UUID`s or UUID strings; enums as members or their values.

Free-form fields typed `Any` (message `content`, `metadata`, fact `value`, ...) must hold JSON values
(dicts, lists, strings, numbers, booleans, None): the stores refuse anything else instead of
silently turning it into a string.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeAlias
from uuid import UUID, uuid4

from agent_runtime_core.errors import UserError

from ._model import _Model, as_utc, utcnow

__all__ = [
    "AuditEntry",
    "AuditEventType",
    "Conversation",
    "ConversationMessage",
    "Embedding",
    "ErrorRecord",
    "ErrorSeverity",
    "Fact",
    "FactType",
    "Message",
    "PerformanceMetric",
    "Summary",
    "Task",
    "TaskList",
    "TaskState",
    "ToolCall",
    "ToolResult",
    "as_utc",
    "utcnow",
]


# -- conversations ---------------------------------------------------------------------------


@dataclass(kw_only=True, eq=True)
class ToolCall(_Model):
    """A tool invocation requested by an assistant message."""

    id: str
    """The provider's tool-call id (e.g. `call_abc123`); tool results refer to it."""
    name: str
    """The tool's name."""
    arguments: dict[str, Any] = field(default_factory=dict)
    """The arguments, as JSON values."""
    timestamp: datetime = field(default_factory=utcnow)
    """When the call was made (UTC)."""


@dataclass(kw_only=True, eq=True)
class ToolResult(_Model):
    """What a tool returned (or the error it raised) for one `ToolCall`."""

    tool_call_id: str
    """The `ToolCall.id` this answers."""
    result: Any = None
    """The tool's output, as a JSON value."""
    error: str | None = None
    """The error message if the tool failed."""
    timestamp: datetime = field(default_factory=utcnow)
    """When the result was produced (UTC)."""


@dataclass(kw_only=True, eq=True)
class ConversationMessage(_Model):
    """One message of a conversation, on the main line or on a branch.

    Branching (edit/regenerate): the first message of a branch has `branch_id` set and
    `parent_message_id` pointing at the message it is an alternative to (the original user
    message that was edited, or the assistant answer that was regenerated). The branch's path is
    the conversation up to, but not including, that original message, followed by the branch's
    own messages in order. Messages with `branch_id=None` form the main line.
    """

    id: UUID = field(default_factory=uuid4)
    """Unique id of the message."""
    role: str
    """`system`, `user`, `assistant` or `tool`."""
    content: Any = ""
    """The text, or structured content (a JSON dict or list, e.g. multimodal parts)."""
    timestamp: datetime = field(default_factory=utcnow)
    """When the message was created (UTC)."""
    tool_calls: list[ToolCall] = field(default_factory=list)
    """Tool calls requested by an assistant message."""
    tool_call_id: str | None = None
    """For a `tool` message: the `ToolCall.id` it answers."""
    tool_results: list[ToolResult] = field(default_factory=list)
    """Tool results carried by this message, if you keep them with the message."""
    model: str | None = None
    """The model that produced an assistant message."""
    usage: dict[str, Any] = field(default_factory=dict)
    """Token counts and similar, as reported by the provider."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """Anything else, as JSON values."""
    parent_message_id: UUID | None = None
    """For the first message of a branch: the message this one is an alternative to."""
    branch_id: UUID | None = None
    """The branch this message belongs to; None for the main line."""


Message: TypeAlias = ConversationMessage
"""Short name for `ConversationMessage`."""


def _branch_path(messages: list[ConversationMessage], branch_id: UUID | None) -> list[Message]:
    by_id = {m.id: i for i, m in enumerate(messages)}
    seen: set[UUID | None] = set()

    def path(bid: UUID | None) -> list[ConversationMessage]:
        own = [m for m in messages if m.branch_id == bid]
        if bid is None:
            return own
        if bid in seen:
            raise UserError(f"Branch {bid} is part of a cycle of `parent_message_id` links.")
        seen.add(bid)
        if not own or own[0].parent_message_id is None:
            return own
        origin_index = by_id.get(own[0].parent_message_id)
        if origin_index is None:
            return own  # the origin lives elsewhere (e.g. in the parent conversation)
        origin = messages[origin_index]
        prefix = path(origin.branch_id)
        cut = next((i for i, m in enumerate(prefix) if m.id == origin.id), len(prefix))
        return prefix[:cut] + own

    return path(branch_id)


@dataclass(kw_only=True, eq=True)
class Conversation(_Model):
    """A conversation: its messages (all branches), metadata and lineage."""

    id: UUID = field(default_factory=uuid4)
    """Unique id of the conversation."""
    title: str | None = None
    """A human-readable title."""
    messages: list[ConversationMessage] = field(default_factory=list)
    """Every message, of every branch, in the order they were added."""
    created_at: datetime = field(default_factory=utcnow)
    """When the conversation was created (UTC)."""
    updated_at: datetime = field(default_factory=utcnow)
    """When it last changed (UTC); `add_message` moves it forward."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """Anything else, as JSON values."""
    agent_key: str | None = None
    """The agent this conversation belongs to."""
    summary: str | None = None
    """A summary of a long conversation."""
    parent_conversation_id: UUID | None = None
    """For a fork: the conversation it was forked from."""
    active_branch_id: UUID | None = None
    """The branch the user is looking at; None for the main line."""

    def branch_path(self, branch_id: UUID | None = None) -> list[ConversationMessage]:
        """The messages a reader of branch `branch_id` sees, oldest first (None: main line)."""
        return _branch_path(self.messages, branch_id)

    def active_path(self) -> list[ConversationMessage]:
        """The messages of the active branch (`active_branch_id`), oldest first."""
        return _branch_path(self.messages, self.active_branch_id)


# -- tasks -----------------------------------------------------------------------------------


class TaskState(enum.StrEnum):
    """Where a task stands."""

    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    COMPLETE = "complete"
    CANCELLED = "cancelled"


@dataclass(kw_only=True, eq=True)
class Task(_Model):
    """A unit of work, with dependencies, scheduling, a checkpoint and execution tracking."""

    id: UUID = field(default_factory=uuid4)
    """Unique id of the task."""
    name: str
    """Short name."""
    description: str = ""
    """What the task is about."""
    state: TaskState = TaskState.NOT_STARTED
    """Where the task stands."""
    parent_id: UUID | None = None
    """The parent task, for sub-tasks."""
    conversation_id: UUID | None = None
    """The conversation this task belongs to."""
    task_list_id: UUID | None = None
    """The `TaskList` this task belongs to (set by `save_task_list`)."""
    dependencies: list[UUID] = field(default_factory=list)
    """Tasks that must be COMPLETE before this one is ready."""
    priority: int = 0
    """Higher is more important; ready tasks come highest first."""
    due_at: datetime | None = None
    """When the task is due (UTC)."""
    checkpoint_data: dict[str, Any] | None = None
    """Where a resumable operation got to, as JSON values."""
    checkpoint_at: datetime | None = None
    """When `checkpoint_data` was written (UTC)."""
    attempts: int = 0
    """How many times the task was attempted."""
    last_error: str | None = None
    """The error of the last failed attempt."""
    created_at: datetime = field(default_factory=utcnow)
    """When the task was created (UTC)."""
    updated_at: datetime = field(default_factory=utcnow)
    """When it last changed (UTC); `update` moves it forward."""
    started_at: datetime | None = None
    """When it first went IN_PROGRESS (set by `update`)."""
    completed_at: datetime | None = None
    """When it went COMPLETE (set by `update`)."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """Anything else, as JSON values."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.id in self.dependencies:
            raise UserError(f"Task {self.id} cannot depend on itself.")


@dataclass(kw_only=True, eq=True)
class TaskList(_Model):
    """An ordered collection of tasks, e.g. the plan of one conversation or run."""

    id: UUID = field(default_factory=uuid4)
    """Unique id of the list."""
    name: str
    """Name of the list."""
    tasks: list[Task] = field(default_factory=list)
    """The tasks, in order."""
    conversation_id: UUID | None = None
    """The conversation this list belongs to."""
    run_id: str | None = None
    """The run this list belongs to."""
    created_at: datetime = field(default_factory=utcnow)
    """When the list was created (UTC)."""
    updated_at: datetime = field(default_factory=utcnow)
    """When it last changed (UTC)."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """Anything else, as JSON values."""


# -- knowledge -------------------------------------------------------------------------------


class FactType(enum.StrEnum):
    """What a fact is about."""

    USER = "user"
    PROJECT = "project"
    PREFERENCE = "preference"
    CONTEXT = "context"
    CUSTOM = "custom"


@dataclass(kw_only=True, eq=True)
class Fact(_Model):
    """Something learned about the user or the project, worth remembering."""

    id: UUID = field(default_factory=uuid4)
    """Unique id of the fact."""
    key: str
    """What the fact is about, e.g. `user.preferred_language`."""
    value: Any
    """The fact, as a JSON value."""
    fact_type: FactType = FactType.CUSTOM
    """The kind of fact."""
    confidence: float = 1.0
    """How sure the agent is, from 0 to 1."""
    source: str | None = None
    """Where the fact came from (a conversation, a tool, the user)."""
    created_at: datetime = field(default_factory=utcnow)
    """When the fact was learned (UTC)."""
    updated_at: datetime = field(default_factory=utcnow)
    """When it last changed (UTC)."""
    expires_at: datetime | None = None
    """When the fact stops being true, if known (UTC)."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """Anything else, as JSON values."""


@dataclass(kw_only=True, eq=True)
class Summary(_Model):
    """A summary of a conversation, or of part of one."""

    id: UUID = field(default_factory=uuid4)
    """Unique id of the summary."""
    content: str
    """The summary text."""
    conversation_id: UUID | None = None
    """The conversation summarised."""
    start_time: datetime | None = None
    """Start of the summarised span (UTC)."""
    end_time: datetime | None = None
    """End of the summarised span (UTC)."""
    created_at: datetime = field(default_factory=utcnow)
    """When the summary was written (UTC)."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """Anything else, as JSON values."""


@dataclass(kw_only=True, eq=True)
class Embedding(_Model):
    """A vector embedding of some content, for similarity search."""

    id: UUID = field(default_factory=uuid4)
    """Unique id of the embedding."""
    vector: list[float]
    """The vector; every embedding searched together must have the same length."""
    content: str = ""
    """The text that was embedded."""
    content_type: str = "text"
    """What kind of content it is (`message`, `fact`, `summary`, ...), to filter searches."""
    source_id: UUID | None = None
    """The record the content came from."""
    model: str | None = None
    """The embedding model."""
    created_at: datetime = field(default_factory=utcnow)
    """When the embedding was made (UTC)."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """Anything else, as JSON values."""

    def __post_init__(self) -> None:
        super().__post_init__()
        for i, x in enumerate(self.vector):
            if isinstance(x, bool) or not isinstance(x, int | float) or x != x or x in _INF:
                raise UserError(f"`Embedding.vector[{i}]` must be a finite number; got {x!r}.")


_INF = (float("inf"), float("-inf"))


# -- audit -----------------------------------------------------------------------------------


class AuditEventType(enum.StrEnum):
    """What happened."""

    CONVERSATION_START = "conversation_start"
    CONVERSATION_END = "conversation_end"
    MESSAGE_SENT = "message_sent"
    MESSAGE_RECEIVED = "message_received"
    TOOL_CALL = "tool_call"
    TOOL_RESULT = "tool_result"
    TOOL_ERROR = "tool_error"
    AGENT_START = "agent_start"
    AGENT_END = "agent_end"
    AGENT_ERROR = "agent_error"
    STATE_CHANGE = "state_change"
    CUSTOM = "custom"


@dataclass(kw_only=True, eq=True)
class AuditEntry(_Model):
    """One entry of the interaction log."""

    id: UUID = field(default_factory=uuid4)
    """Unique id of the entry."""
    event_type: AuditEventType
    """What happened."""
    action: str = ""
    """A short human-readable description."""
    details: dict[str, Any] = field(default_factory=dict)
    """Details, as JSON values. Do not put secrets here: audit logs are meant to be read."""
    timestamp: datetime = field(default_factory=utcnow)
    """When it happened (UTC)."""
    conversation_id: UUID | None = None
    """The conversation concerned."""
    run_id: str | None = None
    """The run concerned."""
    agent_key: str | None = None
    """The agent concerned."""
    actor: str | None = None
    """Who did it (a user id, an agent key, `system`)."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """Anything else, as JSON values."""


class ErrorSeverity(enum.StrEnum):
    """How bad an error is."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


@dataclass(kw_only=True, eq=True)
class ErrorRecord(_Model):
    """An error that happened, and whether (and how) it was resolved."""

    id: UUID = field(default_factory=uuid4)
    """Unique id of the record."""
    message: str
    """The error message."""
    error_type: str = ""
    """The exception class or error code."""
    severity: ErrorSeverity = ErrorSeverity.ERROR
    """How bad it is."""
    stack_trace: str | None = None
    """The traceback, if any."""
    timestamp: datetime = field(default_factory=utcnow)
    """When it happened (UTC)."""
    conversation_id: UUID | None = None
    """The conversation concerned."""
    run_id: str | None = None
    """The run concerned."""
    agent_key: str | None = None
    """The agent concerned."""
    context: dict[str, Any] = field(default_factory=dict)
    """What was going on, as JSON values."""
    resolved: bool = False
    """Whether the error was dealt with."""
    resolved_at: datetime | None = None
    """When it was resolved (UTC)."""
    resolution: str | None = None
    """How it was resolved."""


@dataclass(kw_only=True, eq=True)
class PerformanceMetric(_Model):
    """One measurement: a latency, a token count, a cost."""

    id: UUID = field(default_factory=uuid4)
    """Unique id of the measurement."""
    name: str
    """What was measured, e.g. `llm_latency`."""
    value: float
    """The measurement."""
    unit: str = ""
    """Its unit, e.g. `ms` or `tokens`."""
    timestamp: datetime = field(default_factory=utcnow)
    """When it was measured (UTC)."""
    conversation_id: UUID | None = None
    """The conversation concerned."""
    run_id: str | None = None
    """The run concerned."""
    agent_key: str | None = None
    """The agent concerned."""
    tags: dict[str, Any] = field(default_factory=dict)
    """Labels to group by, e.g. `{"model": "gpt-4"}`."""
