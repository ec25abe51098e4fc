"""LangGraphRuntime: inputs and outputs, event details, errors and retries, telemetry, imports."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
import scenarios
from langgraph.graph import END, START, MessagesState, StateGraph
from typing_extensions import TypedDict

from agent_runtime_core import AgentRunner, EventType, RunnerConfig, RunStatus
from agent_runtime_core.events.memory import InMemoryEventBus
from agent_runtime_core.state.memory import InMemoryStateStore
from agent_runtime_core.testing import create_test_context
from agent_runtime_core.testing.conformance import (
    WEATHER_ANSWER,
    WEATHER_QUESTION,
    check_grammar,
    weather_for,
)
from agent_runtime_core.testing.scripted import ScriptedModel, call_tool, call_tools, fail, reply
from agent_runtime_langgraph import LangGraphRecursionError, LangGraphRuntime


def _answer(request: Any) -> str:
    return f"The weather in Paris: {request.tool_results[-1].content}."


# -- construction ------------------------------------------------------------------------------


def test_rejects_what_is_not_a_graph():
    with pytest.raises(TypeError, match="compiled LangGraph graph"):
        LangGraphRuntime(object(), key="x")
    with pytest.raises(TypeError, match="`key`"):
        LangGraphRuntime(scenarios.build_react_graph(scenarios.chat_model("http://127.0.0.1:9/v1"), []), key="")


class QA(TypedDict):
    question: str
    answer: str


def _qa_builder() -> StateGraph:
    builder = StateGraph(QA)
    builder.add_node("answer", lambda state: {"answer": f"echo: {state['question']}"})
    builder.add_edge(START, "answer")
    builder.add_edge("answer", END)
    return builder


def test_non_messages_graph_needs_an_input_mapper():
    with pytest.raises(TypeError, match="input_mapper"):
        LangGraphRuntime(_qa_builder(), key="qa")


async def test_builder_with_input_and_output_mappers(runner):
    runtime = LangGraphRuntime(
        _qa_builder(),  # a StateGraph builder: compiled by the runtime
        key="qa",
        input_mapper=lambda ctx: {"question": ctx.input_messages[-1]["content"]},
        output_mapper=lambda state: state["answer"],
    )
    result = await runner.execute(runtime, input_data="hello")
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.final_output == {"response": "echo: hello"}
    assert result.final_messages is None
    events = await runner.event_bus.get_events(result.run_id)
    check_grammar(events, strict=True)
    assert [e.payload["name"] for e in events if e.type is EventType.STEP_STARTED] == ["answer"]


async def test_default_output_of_a_non_messages_graph_keeps_the_state(runner):
    runtime = LangGraphRuntime(_qa_builder(), key="qa", input_mapper=lambda ctx: {"question": "q"})
    result = await runner.execute(runtime, input_data="x")
    assert result.final_output == {"response": "", "state": {"question": "q", "answer": "echo: q"}}


async def test_input_messages_reach_the_model_as_a_conversation(runner, serve):
    server = serve(ScriptedModel([reply("fine")], count_turns_from="last_user"))
    runtime = scenarios.build_weather_runtime(server.base_url)
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "How are you?"},
    ]
    result = await runner.execute(runtime, input_data={"messages": messages})
    assert result.final_output == {"response": "fine"}
    sent = server.requests[-1].body["messages"]
    assert [(m["role"], m["content"]) for m in sent] == [(m["role"], m["content"]) for m in messages]
    assert result.final_messages == [*messages, {"role": "assistant", "content": "fine"}]


async def test_runs_on_a_bare_test_context(weather_server):
    """A context without a state store still runs (checkpoints stay in this process)."""
    runtime = scenarios.build_weather_runtime(weather_server.base_url)
    ctx = create_test_context([{"role": "user", "content": WEATHER_QUESTION}])
    result = await runtime.run(ctx)
    assert result.final_output == {"response": WEATHER_ANSWER}


# -- event details -----------------------------------------------------------------------------


async def test_event_details(runner, weather_server):
    result = await runner.execute(scenarios.build_weather_runtime(weather_server.base_url), "lg-ev-1", WEATHER_QUESTION)
    events = await runner.event_bus.get_events("lg-ev-1")
    deltas = "".join(e.payload["text"] for e in events if e.type is EventType.ASSISTANT_DELTA)
    assert deltas == WEATHER_ANSWER
    completed = [e.payload for e in events if e.type is EventType.LLM_CALL_COMPLETED]
    assert [p["model"] for p in completed] == [scenarios.MODEL_NAME] * 2
    assert all(p["usage"]["input_tokens"] > 0 and p["usage"]["output_tokens"] > 0 for p in completed)
    assert [p["finish_reason"] for p in completed] == ["tool_calls", "stop"]
    started = [e for e in events if e.type is EventType.LLM_CALL_STARTED]
    assert all(e.step == "agent" and e.payload["provider"] == "openai" for e in started)
    # Each LLM call's events share its span id; steps' events carry the node name.
    llm_spans = {e.span_id for e in events if e.type.name.startswith("LLM_CALL")}
    assert len(llm_spans) == 2
    assert len([e for e in events if e.type is EventType.ASSISTANT_MESSAGE]) == 1
    # One CHECKPOINT per stored checkpoint, naming what is in the StateStore.
    checkpoint_ids = {e.payload["checkpoint_id"] for e in events if e.type is EventType.CHECKPOINT}
    stored = await runner.state_store.list_keys("langgraph:lg-ev-1:cp:")
    assert {key.rsplit(":", 1)[1] for key in stored} == checkpoint_ids
    assert result.status is RunStatus.SUCCEEDED


async def test_parallel_tool_calls_keep_their_ids(runner, serve):
    model = ScriptedModel(
        [
            call_tools([("get_weather", {"city": "Paris"}, "call_paris"), ("get_weather", {"city": "Lyon"}, "call_lyon")]),
            reply("Both done."),
        ]
    )
    server = serve(model)
    result = await runner.execute(scenarios.build_weather_runtime(server.base_url), "lg-par", WEATHER_QUESTION)
    assert result.status is RunStatus.SUCCEEDED
    events = await runner.event_bus.get_events("lg-par")
    check_grammar(events, strict=True)
    calls = {e.payload["tool_call_id"]: e.payload["arguments"] for e in events if e.type is EventType.TOOL_CALL}
    assert calls == {"call_paris": {"city": "Paris"}, "call_lyon": {"city": "Lyon"}}
    results = {e.payload["tool_call_id"]: e.payload["result"] for e in events if e.type is EventType.TOOL_RESULT}
    assert results == {"call_paris": weather_for("Paris"), "call_lyon": weather_for("Lyon")}


# -- errors and retries ------------------------------------------------------------------------


async def test_failed_model_call_emits_llm_call_failed(runner, serve):
    server = serve(ScriptedModel([fail(400, "the prompt is not acceptable", times=None)]))
    result = await runner.execute(scenarios.build_weather_runtime(server.base_url), "lg-fail", WEATHER_QUESTION)
    assert result.status is RunStatus.FAILED
    assert result.error is not None and result.error.type == "OpenAIInvalidRequestError"  # langchain-openai wraps 400s
    events = await runner.event_bus.get_events("lg-fail")
    check_grammar(events, strict=True)
    failed = [e for e in events if e.type is EventType.LLM_CALL_FAILED]
    assert len(failed) == 1
    assert failed[0].payload["model"] == scenarios.MODEL_NAME
    assert "the prompt is not acceptable" in failed[0].payload["error"]["message"]
    assert [e.payload["name"] for e in events if e.type is EventType.STEP_FAILED] == ["agent"]
    assert [e.type for e in events][-3:] == [EventType.LLM_CALL_FAILED, EventType.STEP_FAILED, EventType.RUN_FAILED]


async def test_retry_continues_from_the_last_super_step(serve):
    """The runner's retry policy applies, and a retried attempt resumes from the checkpoint: the
    tool that already ran is not run again, the first model call is not repeated."""
    model = ScriptedModel([call_tool("get_weather", {"city": "Paris"}), fail(500, "overloaded", times=1), reply(_answer)])
    server = serve(model)
    tool_runs: list[str] = []

    def get_weather(city: str) -> str:
        """Get the weather."""
        tool_runs.append(city)
        return weather_for(city)

    graph = scenarios.build_react_graph(scenarios.chat_model(server.base_url), [scenarios.weather_tool(get_weather)])
    runner = AgentRunner(
        RunnerConfig(max_retries=2, retry_backoff_seconds=0.01, retry_jitter=0),
        event_bus=InMemoryEventBus(),
        state_store=InMemoryStateStore(),
    )
    result = await runner.execute(LangGraphRuntime(graph, key="retry"), "lg-retry", WEATHER_QUESTION)
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.attempts == 2
    assert result.final_output == {"response": WEATHER_ANSWER}
    assert tool_runs == ["Paris"]
    assert server.model_calls == 3  # call 1, the failed call 2, its retry
    events = await runner.event_bus.get_events("lg-retry")
    assert [e.type for e in events].count(EventType.RUN_RETRYING) == 1
    assert [e.type for e in events].count(EventType.LLM_CALL_FAILED) == 1


async def test_recursion_limit_is_not_retried(serve):
    server = serve(ScriptedModel([call_tool("get_weather", {"city": "Paris"}), reply(_answer)]))
    runtime = scenarios.build_weather_runtime(server.base_url, config={"recursion_limit": 2})
    runner = AgentRunner(RunnerConfig(max_retries=3, retry_backoff_seconds=0.01), state_store=InMemoryStateStore())
    result = await runner.execute(runtime, input_data=WEATHER_QUESTION)
    assert result.status is RunStatus.FAILED
    assert result.attempts == 1
    assert result.error is not None and result.error.type == LangGraphRecursionError.__name__


async def test_finished_run_reexecuted_returns_its_result_without_running(runner, weather_server):
    runtime = scenarios.build_weather_runtime(weather_server.base_url)
    first = await runner.execute(runtime, "lg-done", WEATHER_QUESTION)
    again = await runner.execute(runtime, "lg-done", WEATHER_QUESTION)
    assert again.final_output == first.final_output
    assert again.final_messages == first.final_messages
    assert weather_server.model_calls == 2


# -- telemetry and imports ---------------------------------------------------------------------


def test_langsmith_tracing_stays_off_unless_the_user_turns_it_on(monkeypatch, weather_server):
    from langsmith import utils as ls_utils

    for name in ("LANGSMITH_TRACING", "LANGCHAIN_TRACING_V2", "LANGSMITH_TRACING_V2", "LANGCHAIN_TRACING"):
        monkeypatch.delenv(name, raising=False)
    ls_utils.get_env_var.cache_clear()
    before = dict(os.environ)
    scenarios.build_weather_runtime(weather_server.base_url)
    assert dict(os.environ) == before  # the adapter sets no switch
    assert not ls_utils.tracing_is_enabled()
    monkeypatch.setenv("LANGSMITH_TRACING", "true")  # the documented way to turn it on
    ls_utils.get_env_var.cache_clear()
    scenarios.build_weather_runtime(weather_server.base_url)
    assert os.environ["LANGSMITH_TRACING"] == "true"
    assert ls_utils.tracing_is_enabled()
    ls_utils.get_env_var.cache_clear()


def test_import_is_lazy():
    code = "import sys, agent_runtime_langgraph as m; assert 'langgraph' not in sys.modules; m.LangGraphRuntime; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_messages_state_graph_from_messages_state_subclass(weather_server):
    class State(MessagesState):
        note: str

    builder = StateGraph(State)
    builder.add_node("noop", lambda state: {"note": "x"})
    builder.add_edge(START, "noop")
    LangGraphRuntime(builder, key="sub")  # has `messages`: no input_mapper needed


async def test_timeout_closes_open_calls_and_steps(serve):
    from agent_runtime_core.testing.conformance import slow_model

    server = serve(slow_model(delay=3.0))
    runner = AgentRunner(RunnerConfig(run_timeout_seconds=0.5, max_retries=0), state_store=InMemoryStateStore())
    result = await runner.execute(scenarios.build_weather_runtime(server.base_url), "lg-timeout", WEATHER_QUESTION)
    assert result.status is RunStatus.FAILED
    assert result.error is not None and result.error.type == "RunTimeoutError"
    events = await runner.event_bus.get_events("lg-timeout")
    check_grammar(events, strict=True)
    assert [e.type for e in events][-3:] == [EventType.LLM_CALL_FAILED, EventType.STEP_FAILED, EventType.RUN_FAILED]


async def test_subgraph_nodes_are_nested_steps_and_interrupts_reach_the_run(runner):
    from langchain_core.messages import AIMessage
    from langgraph.types import interrupt

    def inner(state: MessagesState) -> dict:
        return {"messages": [AIMessage(f"inner says {interrupt('go on?')}")]}

    sub = StateGraph(MessagesState)
    sub.add_node("inner", inner)
    sub.add_edge(START, "inner")
    builder = StateGraph(MessagesState)
    builder.add_node("outer", sub.compile())
    builder.add_node("after", lambda state: {"messages": [AIMessage("done")]})
    builder.add_edge(START, "outer")
    builder.add_edge("outer", "after")
    runtime = LangGraphRuntime(builder, key="nested")

    first = await runner.execute(runtime, "lg-sub", "hi")
    assert first.status is RunStatus.INTERRUPTED
    assert first.interrupt is not None and first.interrupt["question"] == "go on?"
    resumed = await runner.resume("lg-sub", "yes", agent=runtime)
    assert resumed.final_output == {"response": "done"}
    events = await runner.event_bus.get_events("lg-sub")
    second = events[[e.type for e in events].index(EventType.RUN_INTERRUPTED) + 1 :]
    check_grammar(second, strict=True)
    assert [(e.type.name, e.payload.get("name")) for e in second if e.type.name.startswith("STEP_")] == [
        ("STEP_STARTED", "outer"),
        ("STEP_STARTED", "inner"),
        ("STEP_COMPLETED", "inner"),
        ("STEP_COMPLETED", "outer"),
        ("STEP_STARTED", "after"),
        ("STEP_COMPLETED", "after"),
    ]
    messages = [e.payload["content"] for e in second if e.type is EventType.ASSISTANT_MESSAGE]
    assert messages == ["inner says yes", "done"]  # once each, though the subgraph returns it too
