"""StateStoreSaver: LangGraph's checkpointer contract over the runtime's StateStore."""

from __future__ import annotations

import json
import operator
from typing import Annotated

import pytest
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt
from typing_extensions import TypedDict

from agent_runtime_core.state.memory import InMemoryStateStore
from agent_runtime_core.state.sqlite import SQLiteStateStore
from agent_runtime_langgraph import StateStoreSaver


def _config(thread: str, ns: str = "", checkpoint_id: str | None = None) -> dict:
    configurable = {"thread_id": thread, "checkpoint_ns": ns}
    if checkpoint_id:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


def _checkpoint(saver: StateStoreSaver, values: dict, previous: dict | None = None) -> tuple[dict, dict]:
    checkpoint = empty_checkpoint()
    versions = dict(previous["channel_versions"]) if previous else {}
    new_versions = {}
    for channel, value in values.items():
        versions[channel] = new_versions[channel] = saver.get_next_version(versions.get(channel), None)
        checkpoint["channel_values"][channel] = value
    checkpoint["channel_versions"] = versions
    return checkpoint, new_versions


async def test_put_get_list_and_writes():
    store = InMemoryStateStore()  # stores JSON text: anything not JSON-safe would fail here
    saver = StateStoreSaver(store)
    first, versions = _checkpoint(saver, {"a": 1, "b": {"x": [1, 2]}})
    cfg1 = await saver.aput(_config("t1"), first, {"source": "input", "step": -1}, versions)
    second, versions = _checkpoint(saver, {"a": 2}, first)
    cfg2 = await saver.aput(cfg1, second, {"source": "loop", "step": 0}, versions)

    latest = await saver.aget_tuple(_config("t1"))
    assert latest is not None
    assert latest.checkpoint["id"] == second["id"]
    assert latest.checkpoint["channel_values"] == {"a": 2, "b": {"x": [1, 2]}}
    assert latest.parent_config == cfg1
    assert latest.metadata["step"] == 0
    older = await saver.aget_tuple(cfg1)
    assert older is not None and older.checkpoint["channel_values"] == {"a": 1, "b": {"x": [1, 2]}}

    listed = [t.checkpoint["id"] async for t in saver.alist(_config("t1"))]
    assert listed == [second["id"], first["id"]]
    assert [t.checkpoint["id"] async for t in saver.alist(_config("t1"), limit=1)] == [second["id"]]
    assert [t.checkpoint["id"] async for t in saver.alist(_config("t1"), before=cfg2)] == [first["id"]]
    assert [t.checkpoint["id"] async for t in saver.alist(_config("t1"), filter={"source": "input"})] == [first["id"]]
    assert [t.checkpoint["id"] async for t in saver.alist(None)] == [second["id"], first["id"]]

    await saver.aput_writes(cfg2, [("a", 10), ("b", 20)], task_id="task-1", task_path="~1")
    await saver.aput_writes(cfg2, [("a", 99)], task_id="task-1")  # ordinary writes: first one wins
    await saver.aput_writes(cfg2, [("__error__", "boom")], task_id="task-1")
    await saver.aput_writes(cfg2, [("__error__", "boom again")], task_id="task-1")  # special: overwrites
    latest = await saver.aget_tuple(_config("t1"))
    assert latest is not None
    assert sorted(latest.pending_writes) == sorted(
        [("task-1", "a", 10), ("task-1", "b", 20), ("task-1", "__error__", "boom again")]
    )
    for key in await store.list_keys("langgraph:t1:"):
        json.dumps(await store.get(key))

    await saver.adelete_thread("t1")
    assert await saver.aget_tuple(_config("t1")) is None
    assert await store.list_keys("langgraph:t1:") == []


async def test_namespaces_and_threads_do_not_collide():
    saver = StateStoreSaver(InMemoryStateStore())
    for thread, ns, value in [("t", "", 1), ("t", "child:1", 2), ("t", "child", 3), ("t:x", "", 4)]:
        checkpoint, versions = _checkpoint(saver, {"v": value})
        await saver.aput(_config(thread, ns), checkpoint, {}, versions)
    for thread, ns, value in [("t", "", 1), ("t", "child:1", 2), ("t", "child", 3), ("t:x", "", 4)]:
        found = await saver.aget_tuple(_config(thread, ns))
        assert found is not None and found.checkpoint["channel_values"] == {"v": value}
    assert len([t async for t in saver.alist(_config("t", "child"))]) == 1


def test_sync_api_and_bad_store_are_refused():
    saver = StateStoreSaver(InMemoryStateStore())
    with pytest.raises(NotImplementedError, match="async only"):
        saver.get_tuple(_config("t"))
    with pytest.raises(NotImplementedError, match="ainvoke"):
        saver.put(_config("t"), empty_checkpoint(), {}, {})
    with pytest.raises(TypeError, match="StateStore"):
        StateStoreSaver({})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="key_prefix"):
        StateStoreSaver(InMemoryStateStore(), key_prefix="a:b")


class Counter(TypedDict):
    total: Annotated[int, operator.add]
    asked: str


async def test_a_graph_on_sqlite_interrupts_and_resumes_across_savers(tmp_path):
    """Checkpoints, history and interrupt/resume of a plain graph through the saver (the second
    saver and store stand for another process)."""

    def add(state: Counter) -> dict:
        return {"total": 1}

    def ask(state: Counter) -> dict:
        return {"asked": interrupt({"question": "name?"})}

    builder = StateGraph(Counter)
    builder.add_node("add", add)
    builder.add_node("ask", ask)
    builder.add_edge(START, "add")
    builder.add_edge("add", "ask")
    builder.add_edge("ask", END)
    config = {"configurable": {"thread_id": "run-1"}}

    store = SQLiteStateStore(str(tmp_path / "s.db"))
    graph = builder.compile(checkpointer=StateStoreSaver(store))
    out = await graph.ainvoke({"total": 1}, config, durability="sync")
    assert out["__interrupt__"][0].value == {"question": "name?"}
    await store.close()

    store = SQLiteStateStore(str(tmp_path / "s.db"))
    graph = builder.compile(checkpointer=StateStoreSaver(store))
    state = await graph.aget_state(config)
    assert state.next == ("ask",) and state.values["total"] == 2
    out = await graph.ainvoke(Command(resume="Ada"), config, durability="sync")
    assert out == {"total": 2, "asked": "Ada"}
    history = [s async for s in graph.aget_state_history(config)]
    assert len(history) >= 4 and history[0].next == ()
    await store.close()


async def test_what_may_hold_a_secret_is_redacted_before_it_is_serialized():
    """The serde's bytes are base64 in the store, out of the store's redaction's sight: the saver
    redacts values first, keeping their types (messages, dataclasses, Send), and they still load."""
    import base64
    import re

    from langchain_core.messages import ToolMessage
    from langgraph.types import Interrupt, Send

    from agent_runtime_core import _secrets, configure
    from agent_runtime_core.config import reset_config

    key = "cfg-Saver7Qq8Ww9Ee0Rr1"
    known = set(_secrets._known)
    configure(openai_api_key=key)
    try:
        store = InMemoryStateStore()
        saver = StateStoreSaver(store)
        clean = {"plain": [["nothing to see", 1]]}
        dirty = [ToolMessage(f"refused {key}", tool_call_id="c1"), Interrupt(f"ok {key}?", id="i1"), Send("n", {"k": key})]
        checkpoint, versions = _checkpoint(saver, {"clean": clean, "dirty": dirty})
        config = await saver.aput(_config("t"), checkpoint, {"source": "loop", "step": 1}, versions)
        await saver.aput_writes(config, [("__error__", ValueError(f"bad {key}"))], task_id="task-1")
        stored = [json.dumps(await store.get(k)) for k in await store.list_keys("")]
        raw = "".join(stored) + "".join(  # and the serde's bytes the base64 holds
            base64.b64decode(b).decode("latin-1") for text in stored for b in re.findall(r'"b": "([^"]+)"', text)
        )
        saved = await saver.aget_tuple(_config("t"))
    finally:
        reset_config()
        _secrets._known.clear()
        _secrets._known.update(known)
    assert saved is not None and key not in raw
    message, question, send = saved.checkpoint["channel_values"]["dirty"]
    assert isinstance(message, ToolMessage) and message.content == "refused ***" and message.tool_call_id == "c1"
    assert question == Interrupt("ok ***?", id="i1")
    assert isinstance(send, Send) and send.arg == {"k": "***"}
    assert saved.checkpoint["channel_values"]["clean"] == clean
    assert saved.pending_writes == [("task-1", "__error__", "ValueError('bad ***')")]
