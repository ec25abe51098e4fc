"""The contract every backend honours: file, SQLite, and a custom backend built the spec's 3 ways.

The `manager` fixture runs each test against every backend; `builtin` against file and SQLite only
(the knowledge and audit stores, which the custom backend does not provide).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from uuid import uuid4

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
    PersistenceManager,
    RecordNotFoundError,
    Scope,
    Summary,
    Task,
    TaskList,
    TaskState,
    ToolCall,
    ToolResult,
)

BAD_KEYS = ["../x", "/etc/passwd", "a\x00b", "", "..", "a/b", "a\\b"]
BAD_IDS = ["../x", "/etc/passwd", "a\x00b", "not-a-uuid"]


def rich_conversation() -> Conversation:
    tz = timezone(timedelta(hours=5, minutes=30))
    first = Message(role="user", content="Héllo 👋 wörld", metadata={"n": [1, 2.5, None, True]})
    call = ToolCall(id="call_1", name="search", arguments={"q": "python"})
    answer = ConversationMessage(
        role="assistant",
        content=[{"type": "text", "text": "Searching"}],
        tool_calls=[call],
        model="gpt-4",
        usage={"prompt_tokens": 3},
        timestamp=datetime(2024, 5, 1, 12, 0, tzinfo=tz),
    )
    tool = ConversationMessage(
        role="tool",
        content={"result": 42},
        tool_call_id="call_1",
        tool_results=[ToolResult(tool_call_id="call_1", result={"hits": 3})],
    )
    return Conversation(
        title="Rich",
        messages=[first, answer, tool],
        metadata={"k": "v"},
        agent_key="helper",
        summary="A rich conversation",
    )


# -- memory --------------------------------------------------------------------------------------


async def test_memory_set_get_round_trip(manager: PersistenceManager) -> None:
    values = ["Alice", 3, 2.5, True, None, [1, "two"], {"nested": {"list": [1, 2]}}, "ünïcödé"]
    for i, value in enumerate(values):
        await manager.memory.set(f"k{i}", value, scope=Scope.PROJECT)
    for i, value in enumerate(values):
        assert await manager.memory.get(f"k{i}") == value
    assert await manager.memory.get("missing") is None


async def test_memory_keeps_a_copy(manager: PersistenceManager) -> None:
    value = {"a": [1]}
    await manager.memory.set("k", value)
    value["a"].append(2)
    assert await manager.memory.get("k") == {"a": [1]}


async def test_memory_lookup_order_session_project_global(manager: PersistenceManager) -> None:
    await manager.memory.set("only_global", "g", scope=Scope.GLOBAL)
    assert await manager.memory.get("only_global") == "g"
    await manager.memory.set("k", "global", scope=Scope.GLOBAL)
    await manager.memory.set("k", "project", scope=Scope.PROJECT)
    assert await manager.memory.get("k") == "project"
    await manager.memory.set("k", "session", scope=Scope.SESSION)
    assert await manager.memory.get("k") == "session"
    assert await manager.memory.get("k", scope=Scope.GLOBAL) == "global"
    assert await manager.memory.get("k", scope="project") == "project"
    assert await manager.memory.get("only_global", scope=Scope.PROJECT) is None


async def test_memory_set_without_scope_writes_project(manager: PersistenceManager) -> None:
    await manager.memory.set("k", 1)
    assert await manager.memory.get("k", scope=Scope.PROJECT) == 1
    assert await manager.memory.get("k", scope=Scope.SESSION) is None


async def test_memory_delete_list_clear(manager: PersistenceManager) -> None:
    mem = manager.memory
    await mem.set("user.name", "A")
    await mem.set("user.age", 3)
    await mem.set("other", 1)
    await mem.set("g", 1, scope=Scope.GLOBAL)
    assert await mem.list_keys(Scope.PROJECT) == ["other", "user.age", "user.name"]
    assert await mem.list_keys(Scope.PROJECT, prefix="user.") == ["user.age", "user.name"]
    assert await mem.list_keys() == ["g", "other", "user.age", "user.name"]
    assert await mem.delete("other") is True
    assert await mem.delete("other") is False
    assert await mem.get("other") is None
    await mem.clear(Scope.PROJECT)
    assert await mem.list_keys(Scope.PROJECT) == []
    assert await mem.get("g") == 1


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_memory_rejects_bad_keys(manager: PersistenceManager, key: str) -> None:
    with pytest.raises(UserError, match="key"):
        await manager.memory.set(key, 1)
    with pytest.raises(UserError, match="key"):
        await manager.memory.get(key)


@pytest.mark.parametrize("scope", ["planet", 3, "PROJECTS"])
async def test_unknown_scope_is_rejected(manager: PersistenceManager, scope: object) -> None:
    with pytest.raises(UserError, match=r"(?s)global.*project.*session"):
        await manager.memory.set("k", 1, scope=scope)  # type: ignore[arg-type]
    with pytest.raises(UserError, match="scope"):
        await manager.memory.get("k", scope=scope)  # type: ignore[arg-type]
    with pytest.raises(UserError, match="scope"):
        await manager.conversations.save(Conversation(), scope=scope)  # type: ignore[arg-type]


async def test_memory_rejects_non_json_values(manager: PersistenceManager) -> None:
    with pytest.raises(UserError, match="JSON"):
        await manager.memory.set("k", {1, 2})
    with pytest.raises(UserError, match="JSON"):
        await manager.memory.set("k", float("nan"))


# -- preferences ---------------------------------------------------------------------------------


async def test_preferences_default_to_global_and_merge(manager: PersistenceManager) -> None:
    prefs = manager.preferences
    await prefs.set("theme", "dark")
    assert await prefs.get("theme", scope=Scope.GLOBAL) == "dark"
    assert await prefs.get("theme", scope=Scope.PROJECT) is None
    await prefs.set("theme", "light", scope=Scope.PROJECT)
    await prefs.set("lang", "fr")
    assert await prefs.get("theme") == "light"
    assert await prefs.get_all() == {"theme": "light", "lang": "fr"}
    assert await prefs.get_all(Scope.GLOBAL) == {"theme": "dark", "lang": "fr"}
    assert await prefs.delete("lang") is True
    assert await prefs.delete("lang") is False
    with pytest.raises(UserError):
        await prefs.set("../theme", "x")


# -- conversations -------------------------------------------------------------------------------


async def test_conversation_round_trip_is_lossless(manager: PersistenceManager) -> None:
    conv = rich_conversation()
    await manager.conversations.save(conv)
    got = await manager.conversations.get(conv.id)
    assert got == conv
    assert got is not None
    assert got.messages[1].timestamp == datetime(2024, 5, 1, 6, 30, tzinfo=UTC)
    assert got.messages[1].timestamp.tzinfo is not None
    assert got.messages[1].tool_calls[0] == ToolCall(
        id="call_1",
        name="search",
        arguments={"q": "python"},
        timestamp=conv.messages[1].tool_calls[0].timestamp,
    )
    assert await manager.conversations.get(str(conv.id)) == conv  # ids as strings work too


async def test_conversation_get_missing_and_delete(manager: PersistenceManager) -> None:
    convs = manager.conversations
    assert await convs.get(uuid4()) is None
    conv = Conversation(title="x")
    await convs.save(conv)
    assert await convs.delete(conv.id) is True
    assert await convs.delete(conv.id) is False
    assert await convs.get(conv.id) is None


async def test_conversation_save_replaces(manager: PersistenceManager) -> None:
    conv = Conversation(title="v1", messages=[Message(role="user", content="a")])
    await manager.conversations.save(conv)
    conv.title = "v2"
    conv.messages = [Message(role="user", content="b")]
    await manager.conversations.save(conv)
    got = await manager.conversations.get(conv.id)
    assert got is not None and got.title == "v2"
    assert [m.content for m in got.messages] == ["b"]


async def test_list_conversations_order_paging_filter(manager: PersistenceManager) -> None:
    base = datetime(2024, 1, 1, tzinfo=UTC)
    convs = [
        Conversation(
            title=f"c{i}", updated_at=base + timedelta(hours=i), agent_key="a" if i % 2 else "b"
        )
        for i in range(5)
    ]
    for c in convs:
        await manager.conversations.save(c)
    listed = await manager.conversations.list_conversations()
    assert [c.title for c in listed] == ["c4", "c3", "c2", "c1", "c0"]
    page = await manager.conversations.list_conversations(limit=2, offset=1)
    assert [c.title for c in page] == ["c3", "c2"]
    only_a = await manager.conversations.list_conversations(agent_key="a")
    assert [c.title for c in only_a] == ["c3", "c1"]
    assert await manager.conversations.list_conversations(Scope.SESSION) == []


async def test_add_message_and_get_messages(manager: PersistenceManager) -> None:
    convs = manager.conversations
    conv = Conversation(title="t", updated_at=datetime(2020, 1, 1, tzinfo=UTC))
    await convs.save(conv)
    base = datetime(2024, 1, 1, tzinfo=UTC)
    msgs = [
        Message(role="user", content=f"m{i}", timestamp=base + timedelta(minutes=i))
        for i in range(5)
    ]
    for m in msgs:
        await convs.add_message(conv.id, m)
    got = await convs.get(conv.id)
    assert got is not None
    assert got.messages == msgs
    assert got.updated_at > datetime(2020, 1, 1, tzinfo=UTC)
    assert [m.content for m in await convs.get_messages(conv.id, limit=2)] == ["m3", "m4"]
    before = await convs.get_messages(conv.id, before=base + timedelta(minutes=2))
    assert [m.content for m in before] == ["m0", "m1"]
    assert await convs.get_messages(uuid4()) == []
    with pytest.raises(UserError, match="already has a message"):
        await convs.add_message(conv.id, msgs[0])
    with pytest.raises(RecordNotFoundError):
        await convs.add_message(uuid4(), Message(role="user", content="x"))


async def test_concurrent_add_message_in_one_process(manager: PersistenceManager) -> None:
    conv = Conversation(title="busy")
    await manager.conversations.save(conv)
    msgs = [Message(role="user", content=str(i)) for i in range(30)]
    await asyncio.gather(*(manager.conversations.add_message(conv.id, m) for m in msgs))
    got = await manager.conversations.get(conv.id)
    assert got is not None
    assert {m.id for m in got.messages} == {m.id for m in msgs}


async def test_branch_paths(manager: PersistenceManager) -> None:
    convs = manager.conversations
    q1 = Message(role="user", content="q1")
    a1 = Message(role="assistant", content="a1")
    q2 = Message(role="user", content="q2")
    a2 = Message(role="assistant", content="a2")
    conv = Conversation(title="branches", messages=[q1, a1, q2, a2])
    await convs.save(conv)
    # The user edits q2: a branch that replaces q2 and continues.
    branch = uuid4()
    edited = ConversationMessage(
        role="user", content="q2 edited", parent_message_id=q2.id, branch_id=branch
    )
    reply = ConversationMessage(role="assistant", content="a2'", branch_id=branch)
    await convs.add_message(conv.id, edited)
    await convs.add_message(conv.id, reply)
    main = await convs.get_branch_path(conv.id)
    assert [m.content for m in main] == ["q1", "a1", "q2", "a2"]
    path = await convs.get_branch_path(conv.id, branch)
    assert [m.content for m in path] == ["q1", "a1", "q2 edited", "a2'"]
    # Regenerate a1 on the edited branch's ancestor: a branch off the main line at a1.
    regen_branch = uuid4()
    regen = ConversationMessage(
        role="assistant", content="a1 regen", parent_message_id=a1.id, branch_id=regen_branch
    )
    await convs.add_message(conv.id, regen)
    assert [m.content for m in await convs.get_branch_path(conv.id, str(regen_branch))] == [
        "q1",
        "a1 regen",
    ]
    # The active branch is what `get_branch_path` returns by default.
    got = await convs.get(conv.id)
    assert got is not None
    got.active_branch_id = branch
    await convs.save(got)
    assert [m.content for m in await convs.get_branch_path(conv.id)] == [
        "q1",
        "a1",
        "q2 edited",
        "a2'",
    ]


async def test_fork_keeps_lineage(manager: PersistenceManager) -> None:
    original = rich_conversation()
    await manager.conversations.save(original)
    branch = uuid4()
    fork = Conversation(title="Forked", parent_conversation_id=original.id, active_branch_id=branch)
    await manager.conversations.save(fork)
    got = await manager.conversations.get(fork.id)
    assert got is not None
    assert got.parent_conversation_id == original.id and got.active_branch_id == branch


async def test_search_conversations(manager: PersistenceManager) -> None:
    convs = manager.conversations
    await convs.save(Conversation(title="Python tips"))
    await convs.save(
        Conversation(title="x", messages=[Message(role="user", content="Ask about ÉCLAIRS")])
    )
    await convs.save(Conversation(title="y", summary="all about rust"))
    await convs.save(
        Conversation(title="z", messages=[Message(role="user", content={"python": 1})])
    )
    assert [c.title for c in await convs.search("python")] == ["Python tips"]
    assert [c.title for c in await convs.search("éclairs")] == ["x"]
    assert [c.title for c in await convs.search("RUST")] == ["y"]
    assert await convs.search("nothing-matches") == []


@pytest.mark.parametrize("bad", BAD_IDS)
async def test_conversation_rejects_bad_ids(manager: PersistenceManager, bad: str) -> None:
    with pytest.raises(UserError):
        await manager.conversations.get(bad)
    with pytest.raises(UserError):
        await manager.conversations.delete(bad)


async def test_scopes_are_separate(manager: PersistenceManager) -> None:
    conv = Conversation(title="session only")
    await manager.conversations.save(conv, scope=Scope.SESSION)
    assert await manager.conversations.get(conv.id) is None
    assert await manager.conversations.get(conv.id, scope=Scope.SESSION) == conv
    assert await manager.conversations.get(conv.id, scope="session") == conv


# -- tasks ---------------------------------------------------------------------------------------


async def test_task_round_trip_and_spec_fields(manager: PersistenceManager) -> None:
    dep1, dep2 = Task(name="dep1"), Task(name="dep2")
    task = Task(
        name="Process large dataset",
        description="Multi-step data processing",
        state=TaskState.IN_PROGRESS,
        dependencies=[dep1.id, dep2.id],
        priority=10,
        due_at=datetime(2024, 12, 31),
        checkpoint_data={"step": 5, "processed": 1000},
        checkpoint_at=datetime(2024, 6, 1, 12, 30),
        attempts=2,
        last_error="Temporary network failure",
    )
    assert task.due_at == datetime(2024, 12, 31, tzinfo=UTC)
    await manager.tasks.save(task)
    got = await manager.tasks.get(task.id)
    assert got == task
    assert await manager.tasks.get(uuid4()) is None
    assert await manager.tasks.delete(task.id) is True
    assert await manager.tasks.delete(task.id) is False


async def test_task_update(manager: PersistenceManager) -> None:
    tasks = manager.tasks
    task = Task(name="Review code", updated_at=datetime(2020, 1, 1, tzinfo=UTC))
    await tasks.save(task)
    started = await tasks.update(task.id, state=TaskState.IN_PROGRESS, attempts=1)
    assert started.state is TaskState.IN_PROGRESS and started.started_at is not None
    assert started.updated_at > task.updated_at
    done = await tasks.update(str(task.id), state="complete")
    assert done.state is TaskState.COMPLETE and done.completed_at is not None
    assert done.started_at == started.started_at
    assert await tasks.get(task.id) == done
    with pytest.raises(UserError, match="no field"):
        await tasks.update(task.id, colour="red")
    with pytest.raises(UserError, match="cannot be changed"):
        await tasks.update(task.id, id=uuid4())
    with pytest.raises(UserError, match="TaskState"):
        await tasks.update(task.id, state="finished")
    with pytest.raises(RecordNotFoundError):
        await tasks.update(uuid4(), state=TaskState.COMPLETE)


async def test_list_tasks_filters(manager: PersistenceManager) -> None:
    conv_id = uuid4()
    base = datetime(2024, 1, 1, tzinfo=UTC)
    t1 = Task(name="a", conversation_id=conv_id, created_at=base)
    t2 = Task(
        name="b", conversation_id=conv_id, state=TaskState.COMPLETE, created_at=base + timedelta(1)
    )
    t3 = Task(name="c", created_at=base + timedelta(2))
    for t in (t3, t1, t2):
        await manager.tasks.save(t)
    assert [t.name for t in await manager.tasks.list_tasks()] == ["a", "b", "c"]
    assert [t.name for t in await manager.tasks.list_tasks(conversation_id=conv_id)] == ["a", "b"]
    assert [t.name for t in await manager.tasks.list_tasks(state=TaskState.COMPLETE)] == ["b"]
    assert [t.name for t in await manager.tasks.list_tasks(state="not_started")] == ["a", "c"]


async def test_ready_tasks_respect_dependencies_and_priority(manager: PersistenceManager) -> None:
    tasks = manager.tasks
    done = Task(name="done", state=TaskState.COMPLETE)
    pending = Task(name="pending")
    cancelled = Task(name="cancelled", state=TaskState.CANCELLED)
    low = Task(name="low", priority=1, dependencies=[done.id])
    high = Task(name="high", priority=10)
    blocked = Task(name="blocked", priority=99, dependencies=[done.id, pending.id])
    blocked_cancelled = Task(name="blocked-cancelled", priority=99, dependencies=[cancelled.id])
    orphan = Task(name="orphan", priority=99, dependencies=[uuid4()])
    due_late = Task(name="due-late", priority=5, due_at=datetime(2030, 1, 1))
    due_soon = Task(name="due-soon", priority=5, due_at=datetime(2025, 1, 1))
    no_due = Task(name="no-due", priority=5)
    for t in (
        done,
        pending,
        cancelled,
        low,
        high,
        blocked,
        blocked_cancelled,
        orphan,
        due_late,
        due_soon,
        no_due,
    ):
        await tasks.save(t)
    ready = [t.name for t in await tasks.get_ready_tasks()]
    assert ready == ["high", "due-soon", "due-late", "no-due", "low", "pending"]
    await tasks.update(pending.id, state=TaskState.COMPLETE)
    ready = [t.name for t in await tasks.get_ready_tasks(limit=2)]
    assert ready == ["blocked", "high"]


async def test_task_lists(manager: PersistenceManager) -> None:
    conv_id = uuid4()
    steps = [Task(name=f"step{i}") for i in range(3)]
    tl = TaskList(name="plan", tasks=steps, conversation_id=conv_id, run_id="run-1")
    await manager.tasks.save_task_list(tl)
    got = await manager.tasks.get_task_list(tl.id)
    assert got is not None
    assert [t.name for t in got.tasks] == ["step0", "step1", "step2"]
    assert got.conversation_id == conv_id and got.run_id == "run-1"
    await manager.tasks.update(steps[1].id, state=TaskState.COMPLETE)
    got = await manager.tasks.get_task_list(tl.id)
    assert got is not None and got.tasks[1].state is TaskState.COMPLETE
    assert await manager.tasks.get_task_list(uuid4()) is None


# -- knowledge (built-in backends) -----------------------------------------------------------------


async def test_facts(builtin: PersistenceManager) -> None:
    assert builtin.has_knowledge()
    kn = builtin.knowledge
    f1 = Fact(key="user.preferred_language", value="Python", fact_type=FactType.PREFERENCE)
    f2 = Fact(
        key="project.name",
        value={"name": "x"},
        fact_type="project",
        updated_at=datetime(2020, 1, 1),
    )
    await kn.save_fact(f1)
    await kn.save_fact(f2)
    assert await kn.get_fact(f1.id) == f1
    assert [f.key for f in await kn.list_facts(fact_type=FactType.PREFERENCE)] == [
        "user.preferred_language"
    ]
    assert [f.key for f in await kn.list_facts()] == ["user.preferred_language", "project.name"]
    assert await kn.get_fact_by_key("project.name") == f2
    assert await kn.delete_fact(f1.id) is True
    assert await kn.get_fact(f1.id) is None


async def test_summaries(builtin: PersistenceManager) -> None:
    kn = builtin.knowledge
    cid = uuid4()
    s1 = Summary(content="first", conversation_id=cid, created_at=datetime(2024, 1, 1))
    s2 = Summary(content="second", conversation_id=cid, created_at=datetime(2024, 1, 2))
    s3 = Summary(content="other")
    for s in (s1, s2, s3):
        await kn.save_summary(s)
    assert await kn.get_summary(s1.id) == s1
    assert [s.content for s in await kn.list_summaries(conversation_id=cid)] == ["second", "first"]


async def test_similarity_search_is_cosine(builtin: PersistenceManager) -> None:
    kn = builtin.knowledge
    same = Embedding(vector=[1.0, 0.0, 0.0], content="same")
    scaled = Embedding(vector=[10.0, 0.0, 0.0], content="scaled")
    diagonal = Embedding(vector=[1.0, 1.0, 0.0], content="diagonal")
    orthogonal = Embedding(vector=[0.0, 0.0, 3.0], content="orthogonal")
    opposite = Embedding(vector=[-2.0, 0.0, 0.0], content="opposite")
    other_type = Embedding(vector=[1.0, 0.0, 0.0], content="fact", content_type="fact")
    for e in (same, scaled, diagonal, orthogonal, opposite, other_type):
        await kn.save_embedding(e)
    results = await kn.search_similar([2.0, 0.0, 0.0], content_type="text")
    names = [e.content for e, _ in results]
    scores = [s for _, s in results]
    assert set(names[:2]) == {"same", "scaled"}
    assert names[2:] == ["diagonal", "orthogonal", "opposite"]
    assert scores[0] == pytest.approx(1.0) and scores[1] == pytest.approx(1.0)
    assert scores[2] == pytest.approx(2**-0.5)
    assert scores[3] == pytest.approx(0.0)
    assert scores[4] == pytest.approx(-1.0)
    top = await kn.search_similar([0.0, 1.0, 0.0], limit=1, content_type="text")
    assert [e.content for e, _ in top] == ["diagonal"]
    positive = await kn.search_similar([1.0, 0.0, 0.0], min_score=0.5, content_type="text")
    assert {e.content for e, _ in positive} == {"same", "scaled", "diagonal"}
    assert len(await kn.search_similar([1.0, 0.0, 0.0])) == 6
    with pytest.raises(UserError, match="dimensions"):
        await kn.search_similar([1.0, 0.0])
    assert await kn.get_embedding(same.id) == same
    assert await kn.delete_embedding(same.id) is True


# -- audit (built-in backends) ---------------------------------------------------------------------


async def test_audit_events_by_type_and_time(builtin: PersistenceManager) -> None:
    assert builtin.has_audit()
    audit = builtin.audit
    base = datetime(2024, 1, 1, tzinfo=UTC)
    cid = uuid4()
    entries = [
        AuditEntry(
            event_type=AuditEventType.TOOL_CALL,
            action=f"call {i}",
            timestamp=base + timedelta(hours=i),
            conversation_id=cid if i < 2 else None,
        )
        for i in range(4)
    ]
    entries.append(
        AuditEntry(event_type="agent_error", action="boom", timestamp=base + timedelta(hours=1))
    )
    for e in reversed(entries):
        await audit.log_event(e)
    calls = await audit.get_events(event_type=AuditEventType.TOOL_CALL)
    assert [e.action for e in calls] == ["call 0", "call 1", "call 2", "call 3"]
    window = await audit.get_events(since=datetime(2024, 1, 1, 1), until=base + timedelta(hours=3))
    assert [e.action for e in window] == ["call 1", "boom", "call 2"] or [
        e.action for e in window
    ] == ["boom", "call 1", "call 2"]
    assert len(window) == 3
    assert [e.action for e in await audit.get_events(conversation_id=cid)] == ["call 0", "call 1"]
    assert len(await audit.get_events(limit=2)) == 2
    assert await audit.get_events(event_type="agent_error") == [entries[-1]]


async def test_audit_errors_and_metrics(builtin: PersistenceManager) -> None:
    audit = builtin.audit
    err = ErrorRecord(message="Timeout", error_type="TimeoutError", severity=ErrorSeverity.WARNING)
    crit = ErrorRecord(message="Crash", severity="critical")
    await audit.log_error(err)
    await audit.log_error(crit)
    assert {e.message for e in await audit.get_errors()} == {"Timeout", "Crash"}
    assert [e.message for e in await audit.get_errors(severity=ErrorSeverity.CRITICAL)] == ["Crash"]
    resolved = await audit.resolve_error(err.id, "Raised the timeout")
    assert resolved.resolved and resolved.resolved_at is not None
    assert [e.message for e in await audit.get_errors(resolved=False)] == ["Crash"]
    [stored] = await audit.get_errors(resolved=True)
    assert stored.resolution == "Raised the timeout"
    with pytest.raises(RecordNotFoundError):
        await audit.resolve_error(uuid4(), "x")

    base = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(3):
        await audit.record_metric(
            PerformanceMetric(
                name="llm_latency",
                value=1000 + i,
                unit="ms",
                tags={"model": "gpt-4"},
                timestamp=base + timedelta(minutes=i),
            )
        )
    await audit.record_metric(PerformanceMetric(name="tokens", value=12, timestamp=base))
    latency = await audit.get_metrics(name="llm_latency")
    assert [m.value for m in latency] == [1000, 1001, 1002]
    assert latency[0].tags == {"model": "gpt-4"}
    assert [
        m.value
        for m in await audit.get_metrics(name="llm_latency", since=base + timedelta(minutes=1))
    ] == [1001, 1002]
