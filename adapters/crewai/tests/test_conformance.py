"""The shared conformance scenarios, built natively in CrewAI, run through `AgentRunner`."""

from __future__ import annotations

import asyncio
import time

import scenarios

from agent_runtime_core import AgentRunner, EventType, RunnerConfig, RunStatus
from agent_runtime_core.testing.conformance import (
    check_grammar,
    check_weather_run,
    failing_tool_model,
    weather_for,
)
from agent_runtime_crewai import CrewAIRuntime


def _types(events, *types):
    return [e for e in events if e.type in types]


async def test_weather_scenario(serve, runner):
    server = serve(scenarios.weather_model())
    runtime = scenarios.build_weather_runtime(server.base_url)
    result = await runner.execute(runtime, input_data="What's the weather in Paris?")
    events = await runner.event_bus.get_events(result.run_id)

    check_weather_run(result, events)
    assert server.model_calls == 2
    # Steps: the task, and the agent inside it.
    steps = [(e.payload["kind"], e.payload["name"]) for e in _types(events, EventType.STEP_STARTED)]
    assert steps == [("task", "task 1: What's the weather in Paris?"), ("agent", "Forecaster")]
    # LLM calls carry the model and CrewAI's reported usage (the server's token counts).
    completed = _types(events, EventType.LLM_CALL_COMPLETED)
    assert all(e.payload["model"] == scenarios.MODEL_NAME for e in completed)
    assert all(e.payload["usage"]["input_tokens"] > 0 and e.payload["usage"]["output_tokens"] > 0 for e in completed)
    assert "usage_reported" not in completed[0].payload
    # The model's own tool-call id, and events nested in the task step.
    call = _types(events, EventType.TOOL_CALL)[0]
    assert call.payload["tool_call_id"] == "call_0_get_weather"
    assert call.step == "task 1: What's the weather in Paris?"
    assert result.final_messages[-1] == {"role": "assistant", "content": result.final_output["response"]}
    assert result.final_output["tasks"][0]["agent"] == "Forecaster"


async def test_weather_scenario_streaming_emits_deltas(serve, runner):
    server = serve(scenarios.weather_model())
    runtime = scenarios.build_weather_runtime(server.base_url, stream=True)
    result = await runner.execute(runtime, input_data="What's the weather in Paris?")
    events = await runner.event_bus.get_events(result.run_id)

    check_weather_run(result, events)
    deltas = _types(events, EventType.ASSISTANT_DELTA)
    assert "".join(e.payload["text"] for e in deltas) == result.final_output["response"]
    # Usage is still reported when CrewAI streams.
    assert all(e.payload["usage"]["output_tokens"] > 0 for e in _types(events, EventType.LLM_CALL_COMPLETED))


async def test_two_step_workflow(serve, runner):
    server = serve(scenarios.two_step_model())
    runtime = scenarios.build_two_step_runtime(server.base_url)
    result = await runner.execute(runtime, input_data="What's the weather in Lisbon?")
    events = await runner.event_bus.get_events(result.run_id)

    check_grammar(events, strict=True)
    assert result.status is RunStatus.SUCCEEDED
    forecast = f"The weather in Lisbon: {weather_for('Lisbon')}."
    assert result.final_output["response"] == f"{scenarios.TWO_STEP_ANSWER_PREFIX} {forecast}"
    assert [t["raw"] for t in result.final_output["tasks"]] == [forecast, result.final_output["response"]]
    assert server.model_calls == 3
    tasks = [e.payload["name"] for e in _types(events, EventType.STEP_STARTED) if e.payload["kind"] == "task"]
    assert tasks == ["forecast", "summary"]
    messages = [e.payload["content"] for e in _types(events, EventType.ASSISTANT_MESSAGE)]
    assert messages == [forecast, result.final_output["response"]]
    # Each completed task is checkpointed before its step completes.
    kinds = [(e.type, e.payload.get("task_index")) for e in events
             if e.type is EventType.CHECKPOINT or (e.type is EventType.STEP_COMPLETED and e.payload["kind"] == "task")]
    assert kinds == [(EventType.CHECKPOINT, 0), (EventType.STEP_COMPLETED, 0),
                     (EventType.CHECKPOINT, 1), (EventType.STEP_COMPLETED, 1)]
    # Events of task 2 are tagged with its step.
    assert [e.step for e in _types(events, EventType.LLM_CALL_STARTED)] == ["forecast", "forecast", "summary"]


async def test_failing_tool(serve, runner):
    server = serve(failing_tool_model())
    runtime = scenarios.build_failing_tool_runtime(server.base_url)
    result = await runner.execute(runtime, input_data="What's the weather in Atlantis?")
    events = await runner.event_bus.get_events(result.run_id)

    check_grammar(events, strict=True)
    assert result.status is RunStatus.SUCCEEDED
    call = _types(events, EventType.TOOL_CALL)[0].payload
    assert call["arguments"] == {"city": "Atlantis"}
    tool_result = _types(events, EventType.TOOL_RESULT)[0].payload
    assert "result" not in tool_result
    assert "weather service has no data for Atlantis" in tool_result["error"]
    assert tool_result["tool_call_id"] == call["tool_call_id"]
    assert "no data for Atlantis" in result.final_output["response"]


async def test_cancel_stops_model_calls(serve, runner):
    delay = 2.0
    server = serve(scenarios.slow_model(delay=delay))
    runtime = scenarios.build_weather_runtime(server.base_url)
    task = asyncio.create_task(runner.execute(runtime, "cancel-me", "What's the weather in Paris?"))
    deadline = time.monotonic() + 30
    while server.model_calls < 1:  # the first (slow) model call is in flight
        assert time.monotonic() < deadline, "the crew never called the model"
        await asyncio.sleep(0.02)
    cancelled_at = time.monotonic()
    assert await runner.cancel("cancel-me")
    result = await asyncio.wait_for(task, timeout=10)
    stopped_after = time.monotonic() - cancelled_at

    assert result.status is RunStatus.CANCELLED
    assert stopped_after < delay, f"cancel took {stopped_after:.2f}s: it waited for the model"
    events = await runner.event_bus.get_events("cancel-me")
    assert events[-1].type is EventType.RUN_CANCELLED
    assert not _types(events, EventType.TOOL_CALL)
    # The in-flight call finishes on CrewAI's worker thread; no second call may follow it.
    await asyncio.sleep(delay + 1.5)
    assert server.model_calls == 1
    assert (await runner.event_bus.get_events("cancel-me"))[-1].type is EventType.RUN_CANCELLED


async def test_concurrent_runs_never_mix(serve, runner):
    server = serve(scenarios.weather_model())
    runtime = scenarios.build_weather_runtime(server.base_url)
    cities = ["Paris", "London", "Berlin", "Madrid", "Rome", "Tokyo", "Oslo", "Vienna", "Lisbon", "Dublin"]
    results = await asyncio.gather(
        *(runner.execute(runtime, f"run-{city}", f"What's the weather in {city}?") for city in cities)
    )
    for city, result in zip(cities, results, strict=True):
        events = await runner.event_bus.get_events(result.run_id)
        check_weather_run(result, events, city=city)
        for event in events:  # nothing of another run's city leaks into this one
            text = repr(event.payload)
            assert not [other for other in cities if other != city and other in text], event
    assert server.model_calls == 2 * len(cities)


async def test_crew_exception_fails_run_and_retries(serve):
    from agent_runtime_core.testing.scripted import ScriptedModel, fail

    server = serve(ScriptedModel([fail(500, "the model is down", times=None)], model=scenarios.MODEL_NAME))
    runtime = scenarios.build_weather_runtime(server.base_url)
    runner = AgentRunner(RunnerConfig(max_retries=1, retry_backoff_seconds=0.01, run_timeout_seconds=60))
    result = await runner.execute(runtime, input_data="What's the weather in Paris?")
    events = await runner.event_bus.get_events(result.run_id)

    assert result.status is RunStatus.FAILED
    assert result.attempts == 2
    assert result.error is not None and "the model is down" in result.error.message
    assert result.error.type == "InternalServerError"
    assert [e.type for e in events if e.type.name.startswith("RUN_")] == [
        EventType.RUN_STARTED, EventType.RUN_RETRYING, EventType.RUN_STARTED, EventType.RUN_FAILED
    ]
    # CrewAI's own failure events are translated before RUN_FAILED.
    assert _types(events, EventType.LLM_CALL_FAILED)
    assert any(e.payload.get("kind") == "task" for e in _types(events, EventType.STEP_FAILED))
    check_grammar(events, strict=True)


async def test_crew_in_streaming_mode(serve, runner):
    """`Crew(stream=True)` makes `akickoff` return a stream; the runtime drains it."""
    server = serve(scenarios.weather_model())
    crew = scenarios.build_weather_crew(server.base_url)
    crew.stream = True
    result = await runner.execute(CrewAIRuntime(crew, key="streaming-crew"), input_data="What's the weather in Paris?")
    check_weather_run(result, await runner.event_bus.get_events(result.run_id))
