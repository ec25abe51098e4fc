"""The shared conformance scenarios, built natively with Google ADK and run through `AgentRunner`
against the loopback server with ADK's real LiteLLM model."""

from __future__ import annotations

import asyncio
import time

from google.adk.agents import LlmAgent, ParallelAgent
from scenarios import (
    SEQUENTIAL_ANSWER,
    build_failing_tool_runtime,
    build_sequential_runtime,
    build_weather_runtime,
    make_model,
    sequential_model,
)

from agent_runtime_core import AgentRunner, EventType, RunnerConfig, RunStatus
from agent_runtime_core.events import Event
from agent_runtime_core.events.memory import InMemoryEventBus
from agent_runtime_core.state import InMemoryStateStore
from agent_runtime_core.testing import ScriptedModel, ScriptRequest, Turn, call_tool, reply
from agent_runtime_core.testing.conformance import (
    WEATHER_ANSWER,
    WEATHER_QUESTION,
    check_grammar,
    check_weather_run,
    core_sequence,
    failing_tool_model,
    get_weather,
    slow_model,
    tool_result_text,
    weather_model,
)
from agent_runtime_google_adk import GoogleADKRuntime


async def events_of(runner: AgentRunner, run_id: str | None) -> list[Event]:
    assert run_id is not None
    return await runner.event_bus.get_events(run_id)


def of_type(events: list[Event], kind: EventType) -> list[Event]:
    return [e for e in events if e.type is kind]


async def test_weather(serve, runner: AgentRunner) -> None:
    server = serve(weather_model())
    result = await runner.execute(build_weather_runtime(server.base_url), input_data=WEATHER_QUESTION)
    events = await events_of(runner, result.run_id)
    check_weather_run(result, events)
    check_grammar(events, strict=True)
    assert server.model_calls == 2
    assert all(r.path.endswith("/chat/completions") and r.body["stream"] is True for r in server.requests)
    assert [s.payload for s in of_type(events, EventType.STEP_STARTED)] == [{"name": "weather", "kind": "agent"}]
    deltas = "".join(e.payload["text"] for e in of_type(events, EventType.ASSISTANT_DELTA))
    assert deltas == result.final_output["response"]
    for completed in of_type(events, EventType.LLM_CALL_COMPLETED):
        assert completed.payload["model"] == "gpt-4o-mini"
        assert completed.payload["usage"]["input_tokens"] > 0 and completed.payload["usage"]["output_tokens"] > 0
    assert of_type(events, EventType.LLM_CALL_STARTED)[0].payload == {"model": "gpt-4o-mini", "provider": "openai"}
    assert result.final_output == {"response": "The weather in Paris: Sunny, 22°C in Paris.", "agent": "weather"}
    assert [m["role"] for m in result.final_messages or []] == ["user", "assistant", "tool", "assistant"]
    assert result.final_messages[2]["content"] == "Sunny, 22°C in Paris"  # ADK's {"result": ...} unwrapped


async def test_session_lives_in_the_state_store(serve, runner: AgentRunner) -> None:
    """The ADK session (its events) is kept in the runner's StateStore, under the run id."""
    server = serve(weather_model())
    result = await runner.execute(build_weather_runtime(server.base_url), "run-session", WEATHER_QUESTION)
    assert result.status is RunStatus.SUCCEEDED
    keys = await runner.state_store.list_keys("google-adk:session:")
    assert keys == ["google-adk:session:adk_weather:agent-runtime:run-session"]
    session = await runner.state_store.get(keys[0])
    assert [e["author"] for e in session["events"]][:3] == ["user", "weather", "weather"]


async def test_failing_tool_becomes_tool_result_error(serve, runner: AgentRunner) -> None:
    server = serve(failing_tool_model())
    result = await runner.execute(build_failing_tool_runtime(server.base_url), input_data=WEATHER_QUESTION)
    events = await events_of(runner, result.run_id)
    check_grammar(events, strict=True)
    assert result.status is RunStatus.SUCCEEDED, result.error  # the error goes to the model
    (tool_result,) = of_type(events, EventType.TOOL_RESULT)
    assert tool_result.payload["error"] == "ValueError: weather service has no data for Atlantis"
    assert "result" not in tool_result.payload
    assert result.final_output["response"] == "Sorry, I could not get the weather: ValueError: weather service has no data for Atlantis"
    assert core_sequence(events)[-2:] == [EventType.ASSISTANT_MESSAGE, EventType.RUN_SUCCEEDED]


async def test_failing_tool_fails_the_run_when_not_handled(serve, runner: AgentRunner) -> None:
    server = serve(failing_tool_model())
    runtime = build_failing_tool_runtime(server.base_url, handle_tool_errors=False)
    result = await runner.execute(runtime, input_data=WEATHER_QUESTION)
    events = await events_of(runner, result.run_id)
    check_grammar(events, strict=True)
    assert result.status is RunStatus.FAILED
    assert result.error is not None and "weather service has no data for Atlantis" in result.error.message
    assert server.model_calls == 1
    assert [e.type for e in events[-3:]] == [EventType.TOOL_RESULT, EventType.STEP_FAILED, EventType.RUN_FAILED]


async def test_cancel_stops_the_model_loop(serve) -> None:
    server = serve(slow_model(delay=5.0))
    runtime = build_weather_runtime(server.base_url)
    # A long grace: the run must stop by itself, not because the runner cancels its task.
    runner = AgentRunner(
        RunnerConfig(max_retries=0, cancel_grace_seconds=60), event_bus=InMemoryEventBus(), state_store=InMemoryStateStore()
    )
    task = asyncio.create_task(runner.execute(runtime, "run-cancel", WEATHER_QUESTION))
    deadline = time.monotonic() + 20
    while server.model_calls < 1 or not of_type(await runner.event_bus.get_events("run-cancel"), EventType.LLM_CALL_STARTED):
        assert time.monotonic() < deadline, "the model call never started"
        await asyncio.sleep(0.02)  # noqa: ASYNC110 - polling another thread's server counter
    assert await runner.cancel("run-cancel")
    result = await asyncio.wait_for(task, timeout=4)  # well before the slow reply (5 s) and the grace
    assert result.status is RunStatus.CANCELLED
    await asyncio.sleep(0.5)  # a second model call would have come by now
    assert server.model_calls == 1
    events = await events_of(runner, "run-cancel")
    check_grammar(events, strict=True)
    assert not of_type(events, EventType.TOOL_CALL)
    assert [e.type for e in events[-3:]] == [EventType.LLM_CALL_FAILED, EventType.STEP_FAILED, EventType.RUN_CANCELLED]


async def test_ten_concurrent_runs_never_mix(serve, runner: AgentRunner) -> None:
    server = serve(weather_model())
    runtime = build_weather_runtime(server.base_url)  # one runtime, one agent, ten runs at once
    cities = ["Paris", "Berlin", "Rome", "Madrid", "Oslo", "Vienna", "Lisbon", "Prague", "Dublin", "Athens"]
    results = await asyncio.gather(
        *(runner.execute(runtime, f"run-{city}", f"What's the weather in {city}?") for city in cities)
    )
    for city, result in zip(cities, results, strict=True):
        events = await events_of(runner, result.run_id)
        assert {e.run_id for e in events} == {f"run-{city}"}
        check_weather_run(result, events, city=city)
        check_grammar(events, strict=True)
    assert server.model_calls == 20


async def test_sequential_agent_sub_agents_are_steps(serve, runner: AgentRunner) -> None:
    server = serve(sequential_model())
    result = await runner.execute(build_sequential_runtime(server.base_url), "run-seq", WEATHER_QUESTION)
    events = await events_of(runner, "run-seq")
    check_grammar(events, strict=True)
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.final_output == {"response": SEQUENTIAL_ANSWER, "agent": "writer"}
    steps = [(e.type.name, e.payload["name"], e.payload.get("parent_step")) for e in events if e.type.name.startswith("STEP_")]
    assert steps == [
        ("STEP_STARTED", "pipeline", None),
        ("STEP_STARTED", "researcher", "pipeline"),
        ("STEP_COMPLETED", "researcher", None),
        ("STEP_STARTED", "writer", "pipeline"),
        ("STEP_COMPLETED", "writer", None),
        ("STEP_COMPLETED", "pipeline", None),
    ]
    assert of_type(events, EventType.STEP_STARTED)[0].payload["agent_type"] == "SequentialAgent"
    assert [e.step for e in of_type(events, EventType.LLM_CALL_STARTED)] == ["researcher", "researcher", "writer"]
    assert [e.step for e in of_type(events, EventType.TOOL_CALL)] == ["researcher"]
    assert server.model_calls == 3
    # The writer was told what the researcher found.
    assert "Sunny, 22°C in Paris" in str(server.requests[2].body["messages"])


async def test_transfer_to_a_sub_agent_is_a_handoff_step(serve, runner: AgentRunner) -> None:
    def route(request: ScriptRequest) -> Turn:
        if "get_weather" not in request.tool_names:  # the triage agent
            return call_tool("transfer_to_agent", {"agent_name": "weather_agent"})
        if not request.tool_results or request.tool_results[-1].name != "get_weather":
            return call_tool("get_weather", {"city": "Paris"})
        return reply(f"The weather in Paris: {tool_result_text(request.tool_results[-1].content)}.")

    server = serve(ScriptedModel([route] * 8))
    model = make_model(server.base_url)
    weather = LlmAgent(name="weather_agent", model=model, instruction="Use get_weather.", tools=[get_weather], description="Weather.")
    triage = LlmAgent(name="triage", model=model, instruction="Transfer weather questions.", sub_agents=[weather])
    result = await runner.execute(GoogleADKRuntime(triage), "run-transfer", WEATHER_QUESTION)
    events = await events_of(runner, "run-transfer")
    check_grammar(events, strict=True)
    assert result.final_output == {"response": WEATHER_ANSWER, "agent": "weather_agent"}
    started = [(e.payload["name"], e.payload["kind"], e.payload.get("parent_step")) for e in of_type(events, EventType.STEP_STARTED)]
    assert started == [
        ("triage", "agent", None),
        ("handoff:triage->weather_agent", "handoff", "triage"),
        ("weather_agent", "agent", "triage"),
    ]
    assert [e.step for e in of_type(events, EventType.LLM_CALL_STARTED)] == ["triage", "weather_agent", "weather_agent"]
    assert server.model_calls == 3


async def test_parallel_agent_branches_keep_their_own_steps(serve, runner: AgentRunner) -> None:
    def route(request: ScriptRequest) -> Turn:
        branch = "north" if "North" in str(request.messages[0]) else "south"
        if not request.tool_results:
            city = "Oslo" if branch == "north" else "Rome"
            return call_tool("get_weather", {"city": city}, id=f"call_{branch}", delay=0.05)
        return reply(f"{branch}: {tool_result_text(request.tool_results[-1].content)}")

    server = serve(ScriptedModel([route] * 8))
    model = make_model(server.base_url)
    north = LlmAgent(name="north", model=model, instruction="North desk.", tools=[get_weather])
    south = LlmAgent(name="south", model=model, instruction="South desk.", tools=[get_weather])
    result = await runner.execute(GoogleADKRuntime(ParallelAgent(name="desks", sub_agents=[north, south])), "run-par", WEATHER_QUESTION)
    events = await events_of(runner, "run-par")
    check_grammar(events, strict=True)
    assert result.status is RunStatus.SUCCEEDED, result.error
    for branch, city in (("north", "Oslo"), ("south", "Rome")):
        mine = [e for e in events if e.step == branch]
        assert [e.type for e in mine if e.type in (EventType.TOOL_CALL, EventType.TOOL_RESULT)] == [EventType.TOOL_CALL, EventType.TOOL_RESULT]
        assert [e.payload["content"] for e in mine if e.type is EventType.ASSISTANT_MESSAGE] == [f"{branch}: Sunny, 22°C in {city}"]
        assert len([e for e in mine if e.type is EventType.LLM_CALL_STARTED]) == 2
    assert {e.payload.get("parent_step") for e in of_type(events, EventType.STEP_STARTED)} == {None, "desks"}
    assert server.model_calls == 4
