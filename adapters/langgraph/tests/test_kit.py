"""What the translation kit brings to this adapter: custom stream events, dict tool messages of
handoffs (and one LLM call pair per model request), every open closed exactly once on failure,
no configured secret in any event, checkpoint byte, result or log record, and `stream_tokens=False`."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import scenarios
from langchain_core.callbacks import adispatch_custom_event, dispatch_custom_event
from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.types import Command

from agent_runtime_core import AgentRunner, EventType, RunnerConfig, RunStatus, _secrets, configure
from agent_runtime_core.config import reset_config
from agent_runtime_core.events.base import Event
from agent_runtime_core.events.memory import InMemoryEventBus
from agent_runtime_core.state.memory import InMemoryStateStore
from agent_runtime_core.state.sqlite import SQLiteStateStore
from agent_runtime_core.testing.conformance import (
    WEATHER_ANSWER,
    WEATHER_QUESTION,
    check_grammar,
    slow_model,
)
from agent_runtime_core.testing.scripted import ScriptedModel, call_tool, fail, reply
from agent_runtime_langgraph import LangGraphRuntime, StateStoreSaver

E = EventType


def of_type(events: list[Event], kind: EventType) -> list[Event]:
    return [e for e in events if e.type is kind]


def closes_per_open(events: list[Event]) -> Counter[tuple[str, str]]:
    """How many times each opened step, model call and tool call was closed (by span id)."""
    opens = {E.STEP_STARTED: "step", E.LLM_CALL_STARTED: "llm", E.TOOL_CALL: "tool"}
    closes = {E.STEP_COMPLETED: "step", E.STEP_FAILED: "step", E.LLM_CALL_COMPLETED: "llm",
              E.LLM_CALL_FAILED: "llm", E.TOOL_RESULT: "tool"}
    count: Counter[tuple[str, str]] = Counter()
    for e in events:
        if e.type in opens:
            count[(opens[e.type], str(e.span_id))] += 0
        elif e.type in closes:
            count[(closes[e.type], str(e.span_id))] += 1
    return count


# -- custom events -------------------------------------------------------------------------------


def _custom_graph() -> Any:
    async def plan(state: MessagesState) -> dict[str, Any]:
        get_stream_writer()({"progress": 50})
        await adispatch_custom_event("plan_ready", {"steps": 2})
        return {"messages": [AIMessage("planned")]}

    def act(state: MessagesState) -> dict[str, Any]:  # a sync node: its callbacks come from a worker thread
        get_stream_writer()("acting")
        dispatch_custom_event("acted", {"ok": True})
        return {"messages": [AIMessage("done")]}

    builder = StateGraph(MessagesState)
    builder.add_node("plan", plan)
    builder.add_node("act", act)
    builder.add_edge(START, "plan")
    builder.add_edge("plan", "act")
    builder.add_edge("act", END)
    return builder.compile()


async def _custom_events(runner: AgentRunner, stream_tokens: bool) -> list[Event]:
    runtime = LangGraphRuntime(_custom_graph(), key="custom", stream_tokens=stream_tokens)
    result = await runner.execute(runtime, "lg-custom", "go")
    assert result.status is RunStatus.SUCCEEDED, result.error
    events = await runner.event_bus.get_events("lg-custom")
    check_grammar(events, strict=True)
    return of_type(events, E.CUSTOM)


@pytest.mark.parametrize("stream_tokens", [True, False])
async def test_stream_writer_items_are_custom_events(stream_tokens: bool, runner: AgentRunner) -> None:
    custom = await _custom_events(runner, stream_tokens)
    written = [e.payload["data"] for e in custom if e.payload["name"] == "stream"]
    assert written == [{"progress": 50}, "acting"]  # from an async node and a sync one (worker thread)


@pytest.mark.parametrize("stream_tokens", [True, False])
async def test_dispatched_custom_events_are_custom_events_of_their_node(stream_tokens: bool, runner: AgentRunner) -> None:
    custom = await _custom_events(runner, stream_tokens)
    dispatched = [(e.payload["name"], e.payload["data"], e.step) for e in custom if e.payload["name"] != "stream"]
    assert dispatched == [("plan_ready", {"steps": 2}, "plan"), ("acted", {"ok": True}, "act")]


async def test_a_text_completion_model_request_is_an_llm_call_pair(runner: AgentRunner) -> None:
    """A text-completion model (not a chat model) in a node: its request is reported too. (The
    loopback server has no legacy /completions endpoint: langchain-core's own fake LLM stands in.)"""
    from langchain_core.language_models.fake import FakeListLLM

    llm = FakeListLLM(responses=["a haiku"])

    async def write(state: MessagesState) -> dict[str, Any]:
        return {"messages": [AIMessage(await llm.ainvoke("write"))]}

    builder = StateGraph(MessagesState)
    builder.add_node("write", write)
    builder.add_edge(START, "write")
    result = await runner.execute(LangGraphRuntime(builder.compile(), key="llm"), "lg-llm", "go")
    assert result.final_output == {"response": "a haiku"}
    events = await runner.event_bus.get_events("lg-llm")
    check_grammar(events, strict=True)
    assert len(of_type(events, E.LLM_CALL_STARTED)) == len(of_type(events, E.LLM_CALL_COMPLETED)) == 1
    assert [e.payload["content"] for e in of_type(events, E.ASSISTANT_MESSAGE)] == ["a haiku"]  # once


# -- dict tool messages (Command handoffs) -------------------------------------------------------


@tool
def transfer_to_hotel_advisor() -> str:
    """Ask the hotel advisor for help."""
    return "transferred"


def _handoff_graph(base_url: str, *, through_parent: bool) -> Any:
    """Two agents; the travel advisor hands off to the hotel advisor as LangGraph's multi-agent
    guide does: a node returns `Command(goto=..., update={"messages": [ai, <OpenAI-style tool
    dict>]})`, to a sibling node or (agents as subgraphs) to the parent graph."""
    travel_model = scenarios.chat_model(base_url).bind_tools([transfer_to_hotel_advisor])
    hotel_model = scenarios.chat_model(base_url)

    async def travel(state: MessagesState) -> Any:
        ai = await travel_model.ainvoke(state["messages"])
        if not ai.tool_calls:
            return {"messages": [ai]}
        call = ai.tool_calls[0]
        tool_message = {"role": "tool", "content": "Successfully transferred to hotel_advisor",
                        "name": call["name"], "tool_call_id": call["id"]}
        return Command(goto="hotel_advisor", update={"messages": [ai, tool_message]},
                       graph=Command.PARENT if through_parent else None)

    async def hotel(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await hotel_model.ainvoke(state["messages"])]}

    def agent(name: str, fn: Any) -> Any:
        if not through_parent:
            return fn
        sub = StateGraph(MessagesState)
        sub.add_node(f"{name}_model", fn)
        sub.add_edge(START, f"{name}_model")
        return sub.compile()

    builder = StateGraph(MessagesState)
    builder.add_node("travel_advisor", agent("travel", travel), destinations=("hotel_advisor",))
    builder.add_node("hotel_advisor", agent("hotel", hotel))
    builder.add_edge(START, "travel_advisor")
    return builder.compile()


@pytest.mark.parametrize("through_parent", [False, True], ids=["to a sibling", "to the parent graph"])
async def test_a_handoff_dict_tool_message_is_a_tool_call_and_every_request_one_llm_pair(
    through_parent: bool, runner: AgentRunner, serve
) -> None:
    server = serve(ScriptedModel([call_tool("transfer_to_hotel_advisor", {}), reply("Stay at the Ritz.")]))
    runtime = LangGraphRuntime(_handoff_graph(server.base_url, through_parent=through_parent), key="handoff")
    result = await runner.execute(runtime, "lg-handoff", "Find me a hotel in Paris.")
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.final_output == {"response": "Stay at the Ritz."}
    events = await runner.event_bus.get_events("lg-handoff")
    check_grammar(events, strict=True)
    (call,) = of_type(events, E.TOOL_CALL)
    (answer,) = of_type(events, E.TOOL_RESULT)
    assert call.payload["name"] == "transfer_to_hotel_advisor" and call.payload["arguments"] == {}
    assert answer.payload["tool_call_id"] == call.payload["tool_call_id"]
    assert answer.payload["result"] == "Successfully transferred to hotel_advisor"
    assert call.step == ("travel_model" if through_parent else "travel_advisor")
    started, completed = of_type(events, E.LLM_CALL_STARTED), of_type(events, E.LLM_CALL_COMPLETED)
    assert server.model_calls == 2
    assert len(started) == len(completed) == server.model_calls
    assert {e.span_id for e in started} == {e.span_id for e in completed}
    assert all(n == 1 for n in closes_per_open(events).values())


# -- a failure inside a step ---------------------------------------------------------------------


def _nested_react_runtime(base_url: str, *, failing_tool: bool) -> LangGraphRuntime:
    """The ReAct graph as a subgraph node `outer`: a failure inside it is two steps deep."""
    from agent_runtime_core.testing.conformance import get_weather, get_weather_failing

    inner = scenarios.build_react_graph(
        scenarios.chat_model(base_url), [scenarios.weather_tool(get_weather_failing if failing_tool else get_weather)]
    )
    builder = StateGraph(MessagesState)
    builder.add_node("outer", inner)
    builder.add_edge(START, "outer")
    return LangGraphRuntime(builder.compile(), key="nested-fail")


@pytest.mark.parametrize("where", ["a tool raises", "a model call fails", "the run times out in a model call"])
async def test_a_failure_inside_a_step_closes_every_open_step_call_and_tool_once(where: str, serve) -> None:
    scripts = {
        "a tool raises": ScriptedModel([call_tool("get_weather", {"city": "Atlantis"}), reply("never")]),
        "a model call fails": ScriptedModel([call_tool("get_weather", {"city": "Paris"}), fail(400, "refused", times=None)]),
        "the run times out in a model call": slow_model(delay=3.0),
    }
    server = serve(scripts[where])
    timeout = 0.5 if where.startswith("the run times out") else 30
    runner = AgentRunner(RunnerConfig(max_retries=0, run_timeout_seconds=timeout), state_store=InMemoryStateStore())
    runtime = _nested_react_runtime(server.base_url, failing_tool=where == "a tool raises")
    result = await runner.execute(runtime, "lg-nested-fail", WEATHER_QUESTION)
    assert result.status is RunStatus.FAILED
    events = await runner.event_bus.get_events("lg-nested-fail")
    check_grammar(events, strict=True)
    counts = closes_per_open(events)
    assert counts and all(n == 1 for n in counts.values()), counts
    failed_steps = [e.payload["name"] for e in of_type(events, E.STEP_FAILED)]
    assert failed_steps == (["tools", "outer"] if where == "a tool raises" else ["agent", "outer"])
    if where != "a tool raises":
        assert len(of_type(events, E.LLM_CALL_FAILED)) == 1
    else:
        (failed_tool,) = [e for e in of_type(events, E.TOOL_RESULT) if "error" in e.payload]
        assert failed_tool.step == "tools"


# -- secrets -------------------------------------------------------------------------------------

KEY = "cfg-Lg7Pq2Wm9Xz4Lk8Rt3Vb"  # not key-shaped: only the configuration says it is a secret


@pytest.fixture
def configured_key() -> Iterator[str]:
    known = set(_secrets._known)
    configure(openai_api_key=KEY)
    yield KEY
    reset_config()
    _secrets._known.clear()
    _secrets._known.update(known)


def leaks(text: str) -> bool:
    return any(KEY[i : i + 10] in text for i in range(len(KEY) - 9))


def _stored(folder: Path) -> str:
    """The SQLite file's raw bytes, its -wal and -shm too, and what base64 hides in them."""
    import base64
    import re

    raw = b"".join(p.read_bytes() for p in folder.glob("state.db*")).decode("utf-8", "replace")
    decoded = [base64.b64decode(b).decode("latin-1") for b in re.findall(r'"b": ?"([A-Za-z0-9+/=]{8,})"', raw)]
    return raw + "".join(decoded)


def _failing_weather(city: str) -> str:
    """Get the weather."""
    raise ValueError(f"weather service refused key {KEY} for {city}")


@pytest.mark.parametrize("where", ["tool exception", "tool exception fed to the model", "model error body"])
async def test_the_configured_key_reaches_no_event_checkpoint_result_or_log(
    where: str, configured_key: str, serve, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    if where == "model error body":
        model = ScriptedModel([fail(401, f"Incorrect API key provided: {KEY}.", times=None)])
    else:
        model = ScriptedModel([
            call_tool("get_weather", {"city": "Paris"}),
            reply(lambda r: f"Sorry: {r.tool_results[-1].content}" if r.tool_results else "Sorry."),
        ])
    server = serve(model)
    store = SQLiteStateStore(tmp_path / "state.db")
    runner = AgentRunner(RunnerConfig(max_retries=0), event_bus=InMemoryEventBus(), state_store=store)
    client = ChatOpenAI(base_url=server.base_url, api_key=KEY, model=scenarios.MODEL_NAME,  # type: ignore[arg-type]
                        stream_usage=True, max_retries=0, timeout=30)
    graph = scenarios.build_react_graph(client, [scenarios.weather_tool(_failing_weather)],
                                        handle_tool_errors=where.endswith("model"))
    caplog.set_level(logging.DEBUG)
    try:
        result = await runner.execute(LangGraphRuntime(graph, key="lg-secret"), "run-secret", WEATHER_QUESTION)
        saved = await StateStoreSaver(store).aget_tuple({"configurable": {"thread_id": "run-secret"}})
    finally:
        await store.close()
    events = await runner.event_bus.get_events("run-secret")
    assert saved is not None  # what was stored still loads
    if where == "tool exception fed to the model":
        assert result.status is RunStatus.SUCCEEDED, result.error
        assert "refused key ***" in result.final_output["response"]
        tool_message = saved.checkpoint["channel_values"]["messages"][2]
        assert tool_message.type == "tool" and "refused key ***" in tool_message.content
        (tool_result,) = [e.payload for e in of_type(events, E.TOOL_RESULT)]
        assert "refused key ***" in tool_result["error"]
    else:
        assert result.status is RunStatus.FAILED and result.error is not None
        expected = "refused key ***" if where == "tool exception" else "Incorrect API key provided: ***"
        assert expected in result.error.message
        errors = [w for w in saved.pending_writes if w[1] == "__error__"]
        assert errors and all(expected in str(w[2]) for w in errors)  # the stored exception, redacted
    assert not leaks(json.dumps([e.to_dict() for e in events], ensure_ascii=False))
    raw = _stored(tmp_path)
    assert raw and not leaks(raw)
    assert not leaks(json.dumps([result.final_output, result.final_messages, result.error.to_dict() if result.error else None]))
    ours = [r for r in caplog.records if r.name.startswith("agent_runtime")]
    assert not any(leaks(r.getMessage()) or leaks(r.exc_text or "") for r in ours)


# -- stream_tokens=False -------------------------------------------------------------------------


async def test_stream_tokens_false_runs_without_streaming_and_keeps_every_call(runner: AgentRunner, weather_server) -> None:
    runtime = scenarios.build_weather_runtime(weather_server.base_url, stream_tokens=False)
    result = await runner.execute(runtime, "lg-nostream", WEATHER_QUESTION)
    assert result.final_output == {"response": WEATHER_ANSWER}
    events = await runner.event_bus.get_events("lg-nostream")
    check_grammar(events, strict=True)
    assert not of_type(events, E.ASSISTANT_DELTA)
    assert not any(request.body.get("stream") for request in weather_server.requests)
    completed = of_type(events, E.LLM_CALL_COMPLETED)
    assert len(of_type(events, E.LLM_CALL_STARTED)) == len(completed) == weather_server.model_calls == 2
    assert all(e.payload["usage"]["input_tokens"] > 0 for e in completed)
    assert [e.payload["content"] for e in of_type(events, E.ASSISTANT_MESSAGE)] == [WEATHER_ANSWER]
    assert len(of_type(events, E.TOOL_CALL)) == len(of_type(events, E.TOOL_RESULT)) == 1
    # The default streams: deltas, and streamed requests.
    streamed = await runner.execute(scenarios.build_weather_runtime(weather_server.base_url), "lg-stream", WEATHER_QUESTION)
    assert streamed.final_output == result.final_output
    assert of_type(await runner.event_bus.get_events("lg-stream"), E.ASSISTANT_DELTA)
    assert weather_server.requests[-1].body.get("stream") is True
