"""The shared conformance scenarios, built natively in LangGraph, through `AgentRunner`."""

from __future__ import annotations

import asyncio
import time
import warnings

import scenarios

from agent_runtime_core import AgentRunner, EventType, RunStatus
from agent_runtime_core.testing.conformance import (
    WEATHER_QUESTION,
    check_grammar,
    check_weather_run,
    core_sequence,
    failing_tool_model,
    get_weather,
    slow_model,
    weather_model,
)
from agent_runtime_langgraph import LangGraphRuntime


async def _run(runner: AgentRunner, runtime: LangGraphRuntime, question: str = WEATHER_QUESTION):
    result = await runner.execute(runtime, input_data=question)
    return result, await runner.event_bus.get_events(result.run_id)


async def test_weather_scenario(runner, weather_server):
    result, events = await _run(runner, scenarios.build_weather_runtime(weather_server.base_url))
    check_weather_run(result, events)
    assert weather_server.model_calls == 2
    steps = [(e.type, e.payload["name"]) for e in events if e.type.name.startswith("STEP_")]
    assert steps == [
        (EventType.STEP_STARTED, "agent"),
        (EventType.STEP_COMPLETED, "agent"),
        (EventType.STEP_STARTED, "tools"),
        (EventType.STEP_COMPLETED, "tools"),
        (EventType.STEP_STARTED, "agent"),
        (EventType.STEP_COMPLETED, "agent"),
    ]
    assert all(e.payload["kind"] == "node" for e in events if e.type is EventType.STEP_STARTED)
    call = next(e for e in events if e.type is EventType.TOOL_CALL)
    assert call.payload["tool_call_id"] == "call_0_get_weather"  # the model's own id
    assert call.step == "tools"
    assert result.final_messages is not None
    assert [m["role"] for m in result.final_messages] == ["user", "assistant", "tool", "assistant"]
    assert result.final_messages[1]["tool_calls"][0]["id"] == "call_0_get_weather"


async def test_weather_with_langchain_create_agent(runner, weather_server):
    """`langchain.agents.create_agent` (LangGraph's current prebuilt agent) conforms too."""
    from langchain import agents  # the adapter's `test` extra installs langchain

    graph = agents.create_agent(scenarios.chat_model(weather_server.base_url), [scenarios.weather_tool()])
    result, events = await _run(runner, LangGraphRuntime(graph, key="create-agent"))
    check_weather_run(result, events)
    assert {e.payload["name"] for e in events if e.type is EventType.STEP_STARTED} == {"model", "tools"}


async def test_weather_with_create_react_agent(runner, weather_server):
    """The deprecated `langgraph.prebuilt.create_react_agent` still works."""
    from langgraph.prebuilt import create_react_agent

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = create_react_agent(scenarios.chat_model(weather_server.base_url), [get_weather])
    result, events = await _run(runner, LangGraphRuntime(graph, key="react-agent"))
    check_weather_run(result, events)


async def test_two_step_workflow(runner, serve):
    server = serve(scenarios.two_step_model())
    result, events = await _run(runner, scenarios.build_two_step_runtime(server.base_url))
    check_grammar(events, strict=True)
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.final_output == {"response": scenarios.two_step_answer("Paris")}
    assert [e.payload["name"] for e in events if e.type is EventType.STEP_STARTED] == [
        "agent",
        "tools",
        "agent",
        "writer",
    ]
    messages = [e.payload["content"] for e in events if e.type is EventType.ASSISTANT_MESSAGE]
    assert messages == ["The weather in Paris: Sunny, 22°C in Paris.", scenarios.two_step_answer("Paris")]
    writer_calls = [e for e in events if e.type is EventType.LLM_CALL_COMPLETED and e.step == "writer"]
    assert len(writer_calls) == 1 and writer_calls[0].payload["usage"]["input_tokens"] > 0
    assert server.model_calls == 3


async def test_failing_tool_handled(runner, serve):
    """ToolNode(handle_tool_errors=True): TOOL_RESULT carries `error`, the model answers from it."""
    server = serve(failing_tool_model())
    result, events = await _run(runner, scenarios.build_failing_tool_runtime(server.base_url))
    check_grammar(events, strict=True)
    assert result.status is RunStatus.SUCCEEDED, result.error
    tool_results = [e.payload for e in events if e.type is EventType.TOOL_RESULT]
    assert len(tool_results) == 1  # on_tool_error and the error ToolMessage are one result
    tool_result = tool_results[0]
    assert "result" not in tool_result
    assert "weather service has no data for Atlantis" in tool_result["error"]
    assert tool_result["tool_call_id"] == "call_0_get_weather"
    assert result.final_output["response"].startswith("Sorry, I could not get the weather")
    assert core_sequence(events)[-3:] == [
        EventType.LLM_CALL_COMPLETED,
        EventType.ASSISTANT_MESSAGE,
        EventType.RUN_SUCCEEDED,
    ]


async def test_failing_tool_unhandled_fails_the_run(runner, serve):
    """LangGraph's default ToolNode re-raises: TOOL_RESULT with `error`, STEP_FAILED, RUN_FAILED."""
    server = serve(failing_tool_model())
    runtime = scenarios.build_failing_tool_runtime(server.base_url, handle_tool_errors=False)
    result, events = await _run(runner, runtime)
    check_grammar(events, strict=True)
    assert result.status is RunStatus.FAILED
    assert result.error is not None and result.error.type == "ValueError"
    tool_result = next(e for e in events if e.type is EventType.TOOL_RESULT).payload
    assert tool_result["error"] == "ValueError: weather service has no data for Atlantis"  # the kit's "<Type>: <message>"
    failed = [e.payload for e in events if e.type is EventType.STEP_FAILED]
    assert [p["name"] for p in failed] == ["tools"]
    assert failed[0]["error"]["type"] == "ValueError"
    assert events[-1].type is EventType.RUN_FAILED
    assert server.model_calls == 1


async def test_cancellation_stops_the_model_calls(runner, serve):
    server = serve(slow_model(delay=60.0))
    runtime = scenarios.build_weather_runtime(server.base_url)
    run_id = "lg-cancel-1"
    task = asyncio.create_task(runner.execute(runtime, run_id, WEATHER_QUESTION))
    deadline = time.monotonic() + 10
    while server.model_calls < 1:  # the slow model call has reached the server
        assert time.monotonic() < deadline, "the model call never started"
        await asyncio.sleep(0.02)
    assert await runner.cancel(run_id)
    result = await asyncio.wait_for(task, 10)  # the model call takes 60 s: only a real cancel ends it
    assert result.status is RunStatus.CANCELLED
    await asyncio.sleep(0.5)
    assert server.model_calls == 1
    events = await runner.event_bus.get_events(run_id)
    check_grammar(events, strict=True)
    assert events[-1].type is EventType.RUN_CANCELLED
    failed = next(e for e in events if e.type is EventType.LLM_CALL_FAILED).payload
    assert failed["error"]["type"] == "RunCancelledError"
    assert not any(e.type is EventType.TOOL_CALL for e in events)


async def test_concurrent_runs_never_mix(runner, weather_server):
    runtime = scenarios.build_weather_runtime(weather_server.base_url)
    cities = ["Paris", "Lyon", "Nice", "Oslo", "Rome", "Lima", "Kyiv", "Cairo", "Quito", "Seoul"]
    results = await asyncio.gather(
        *(runner.execute(runtime, f"lg-city-{city}", f"What's the weather in {city}?") for city in cities)
    )
    for city, result in zip(cities, results, strict=True):
        events = await runner.event_bus.get_events(result.run_id)
        check_weather_run(result, events, city=city)
        assert {e.run_id for e in events} == {f"lg-city-{city}"}
        assert all(city in e.payload.get("content", city) for e in events if e.type is EventType.ASSISTANT_MESSAGE)
    assert weather_server.model_calls == 20


async def test_weather_model_serves_each_conformance_runtime_alike(runner, serve):
    """Same scripted server, two builds (hand-built graph, StateGraph builder): equal payloads."""
    server = serve(weather_model())
    first, first_events = await _run(runner, scenarios.build_weather_runtime(server.base_url))
    second, second_events = await _run(runner, scenarios.build_weather_runtime(server.base_url, key="again"))

    def payloads(events):
        keep = (EventType.TOOL_CALL, EventType.TOOL_RESULT, EventType.LLM_CALL_COMPLETED, EventType.ASSISTANT_MESSAGE)
        return [(e.type, e.payload) for e in events if e.type in keep]

    assert payloads(first_events) == payloads(second_events)
    assert first.final_output == second.final_output
