"""The models: lossless JSON round-trips, UTC datetimes, coercion and validation."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import pytest

from agent_runtime_core.errors import UserError
from agent_runtime_core.persistence import (
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
    Scope,
    Summary,
    Task,
    TaskList,
    TaskState,
    ToolCall,
    ToolResult,
    coerce_scope,
    cosine_similarity,
)

IST = timezone(timedelta(hours=5, minutes=30))


def samples() -> list[Any]:
    cid = uuid4()
    call = ToolCall(id="c1", name="search", arguments={"q": "x"})
    msg = ConversationMessage(
        role="assistant",
        content={"parts": [1, "two"]},
        tool_calls=[call],
        tool_results=[ToolResult(tool_call_id="c1", result=[1], error="e")],
        parent_message_id=uuid4(),
        branch_id=uuid4(),
        timestamp=datetime(2024, 1, 1, 12, tzinfo=IST),
    )
    task = Task(
        name="t",
        dependencies=[uuid4()],
        due_at=datetime(2024, 12, 31),
        checkpoint_data={"step": 5},
        conversation_id=cid,
        state=TaskState.IN_PROGRESS,
    )
    return [
        call,
        ToolResult(tool_call_id="c1", result={"ok": True}),
        msg,
        Conversation(
            title="t", messages=[msg], parent_conversation_id=uuid4(), active_branch_id=uuid4()
        ),
        task,
        TaskList(name="l", tasks=[task], conversation_id=cid, run_id="r"),
        Fact(
            key="k",
            value=[1, {"a": None}],
            fact_type=FactType.USER,
            expires_at=datetime(2030, 1, 1),
        ),
        Summary(
            content="s",
            conversation_id=cid,
            start_time=datetime(2024, 1, 1),
            end_time=datetime(2024, 1, 2),
        ),
        Embedding(vector=[0.1, -2, 3e-8], content="x", source_id=uuid4()),
        AuditEntry(
            event_type=AuditEventType.TOOL_CALL, details={"q": "python docs"}, conversation_id=cid
        ),
        ErrorRecord(
            message="m",
            severity=ErrorSeverity.CRITICAL,
            resolved=True,
            resolved_at=datetime(2024, 1, 1),
        ),
        PerformanceMetric(name="llm_latency", value=1250.5, unit="ms", tags={"model": "gpt-4"}),
    ]


@pytest.mark.parametrize("record", samples(), ids=lambda r: type(r).__name__)
def test_json_round_trip_is_lossless(record: Any) -> None:
    data = record.to_dict()
    text = json.dumps(data)  # plain JSON: no custom encoder needed
    back = type(record).from_dict(json.loads(text))
    assert back == record
    assert type(record).from_json(record.to_json()) == record
    assert back.to_dict() == data


def test_types_survive_the_round_trip() -> None:
    task = Task(name="t", dependencies=[uuid4()], due_at=datetime(2024, 12, 31, tzinfo=IST))
    back = Task.from_json(task.to_json())
    assert isinstance(back.id, UUID) and isinstance(back.dependencies[0], UUID)
    assert back.state is TaskState.NOT_STARTED
    assert back.due_at == datetime(2024, 12, 30, 18, 30, tzinfo=UTC)
    assert back.due_at is not None and back.due_at.utcoffset() == timedelta(0)


def test_naive_datetimes_are_utc_and_aware_ones_converted() -> None:
    naive = datetime(2024, 12, 31, 10, 0)
    task = Task(name="t", due_at=naive, checkpoint_at=datetime(2024, 1, 1, 12, tzinfo=IST))
    assert task.due_at == datetime(2024, 12, 31, 10, 0, tzinfo=UTC)
    assert task.checkpoint_at is not None and task.checkpoint_at.tzinfo is UTC
    assert task.checkpoint_at.hour == 6 and task.checkpoint_at.minute == 30
    assert task.created_at.tzinfo is not None


def test_strings_are_coerced() -> None:
    tid = uuid4()
    task = Task(name="t", id=str(tid), state="complete", due_at="2024-12-31T00:00:00")  # type: ignore[arg-type]
    assert task.id == tid and task.state is TaskState.COMPLETE
    assert task.due_at == datetime(2024, 12, 31, tzinfo=UTC)


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: Task(name="t", state="finished"), "not_started"),
        (lambda: Task(name="t", id="../x"), "UUID"),
        (lambda: Task(name="t", due_at="tomorrow"), "ISO 8601"),
        (lambda: Task(name="t", dependencies="abc"), "list"),
        (lambda: Fact(key="k", value=1, fact_type="planet"), "preference"),
        (lambda: Embedding(vector=[1.0, math.nan]), "finite"),
        (lambda: Embedding(vector=[1.0, "x"]), "finite"),
        (lambda: Conversation(messages=[1]), "ConversationMessage"),
    ],
)
def test_bad_values_raise_clear_errors(factory: Any, match: str) -> None:
    with pytest.raises(UserError, match=match):
        factory()


def test_task_cannot_depend_on_itself() -> None:
    tid = uuid4()
    with pytest.raises(UserError, match="itself"):
        Task(id=tid, name="t", dependencies=[tid])


def test_message_alias_and_defaults() -> None:
    assert Message is ConversationMessage
    m = Message(role="user", content="Hello!")
    assert isinstance(m.id, UUID) and m.branch_id is None
    conv = Conversation(title="Chat 1")
    conv.messages.append(m)
    assert conv.messages == [m]


def test_callers_list_is_kept() -> None:
    msgs = [Message(role="user", content="a")]
    conv = Conversation(messages=msgs)
    msgs.append(Message(role="user", content="b"))
    assert len(conv.messages) == 2


def test_unknown_keys_are_ignored_by_from_dict() -> None:
    data = Task(name="t").to_dict()
    data["added_in_a_later_version"] = 1
    assert Task.from_dict(data).name == "t"


def test_branch_path_follows_nested_branches() -> None:
    q1, a1, q2 = (
        Message(role=r, content=c) for r, c in (("user", "q1"), ("assistant", "a1"), ("user", "q2"))
    )
    b1, b2 = uuid4(), uuid4()
    e1 = Message(role="user", content="q2 edit", parent_message_id=q2.id, branch_id=b1)
    r1 = Message(role="assistant", content="r1", branch_id=b1)
    e2 = Message(role="assistant", content="r1 regen", parent_message_id=r1.id, branch_id=b2)
    conv = Conversation(messages=[q1, a1, q2, e1, r1, e2], active_branch_id=b2)
    assert [m.content for m in conv.branch_path(None)] == ["q1", "a1", "q2"]
    assert [m.content for m in conv.branch_path(b1)] == ["q1", "a1", "q2 edit", "r1"]
    assert [m.content for m in conv.active_path()] == ["q1", "a1", "q2 edit", "r1 regen"]
    assert conv.branch_path(uuid4()) == []
    # A branch whose origin is not in this conversation (a fork) is just its own messages.
    orphan = Message(role="user", content="o", parent_message_id=uuid4(), branch_id=b1)
    assert [m.content for m in Conversation(messages=[orphan]).branch_path(b1)] == ["o"]


def test_scope_coercion() -> None:
    assert coerce_scope(None, Scope.PROJECT) is Scope.PROJECT
    assert coerce_scope("GLOBAL", Scope.PROJECT) is Scope.GLOBAL
    assert coerce_scope("session", Scope.PROJECT) is Scope.SESSION
    with pytest.raises(UserError, match=r"Scope\.GLOBAL.*Scope\.PROJECT.*Scope\.SESSION"):
        coerce_scope("planet", Scope.PROJECT)


def test_cosine_similarity() -> None:
    assert cosine_similarity([1, 0], [5, 0]) == pytest.approx(1.0)
    assert cosine_similarity([1, 0], [0, 2]) == pytest.approx(0.0)
    assert cosine_similarity([1, 0], [-1, 0]) == pytest.approx(-1.0)
    assert cosine_similarity([1, 2, 3], [4, 5, 6]) == pytest.approx(32 / math.sqrt(14 * 77))
    assert cosine_similarity([0, 0], [1, 1]) == 0.0
    assert cosine_similarity([1e-200, 0], [3e-200, 0]) == pytest.approx(1.0)  # no underflow
    assert cosine_similarity([1e200, 1e200], [1e200, 0]) == pytest.approx(2**-0.5)  # no overflow
    with pytest.raises(UserError, match="lengths"):
        cosine_similarity([1], [1, 2])
