"""The runtime's options and conversions: structured output, output_mapper, deps, input history,
argument checks, secrets, and no telemetry."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from pydantic_ai import Agent, RunContext
from scenarios import Forecast, build_structured_runtime, build_weather_runtime, make_model

from agent_runtime_core import EventType, RunStatus
from agent_runtime_core.testing import ScriptedModel, ScriptRequest, call_tool, reply
from agent_runtime_core.testing.conformance import (
    WEATHER_ANSWER,
    WEATHER_QUESTION,
    check_grammar,
    weather_model,
)
from agent_runtime_pydantic_ai import PydanticAIRuntime

FORECAST = {"city": "Paris", "summary": "Sunny", "temperature_c": 22}


def structured_model() -> ScriptedModel:
    return ScriptedModel([call_tool("get_weather", {"city": "Paris"}), call_tool("final_result", FORECAST)])


async def test_structured_output_is_the_final_output(serve, runner) -> None:
    server = serve(structured_model())
    result = await runner.execute(build_structured_runtime(server.base_url), "run-struct", WEATHER_QUESTION)
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.final_output == {"response": json.dumps(FORECAST), "output": FORECAST}
    json.dumps(result.final_output)  # JSON-serialisable
    events = await runner.event_bus.get_events("run-struct")
    check_grammar(events, strict=True)
    # The output tool is the answer, not a tool call of the agent's.
    assert [e.payload["name"] for e in events if e.type is EventType.TOOL_CALL] == ["get_weather"]
    assert server.requests[0].body["tools"][-1]["function"]["name"] == "final_result"


async def test_output_mapper_builds_the_final_output(serve, runner) -> None:
    server = serve(structured_model())

    def mapper(output: Forecast) -> dict[str, object]:
        return {"response": f"{output.summary} in {output.city}", "temperature": output.temperature_c}

    runtime = build_structured_runtime(server.base_url, output_mapper=mapper)
    result = await runner.execute(runtime, "run-map", WEATHER_QUESTION)
    assert result.final_output == {"response": "Sunny in Paris", "temperature": 22}


@dataclass
class Units:
    unit: str


async def test_deps_per_run_reach_the_tools(serve, runner) -> None:
    server = serve(weather_model())
    agent = Agent(make_model(server.base_url), name="weather", deps_type=Units)

    @agent.tool
    def get_weather(ctx: RunContext[Units], city: str) -> str:
        """Get the weather.

        Args:
            city: The city.
        """
        return f"Sunny, 22°{ctx.deps.unit} in {city}"

    runtime = PydanticAIRuntime(agent, key="deps", deps=lambda run_ctx: Units("C" if run_ctx.run_id.endswith("c") else "F"))
    celsius = await runner.execute(runtime, "run-c", WEATHER_QUESTION)
    fahrenheit = await runner.execute(runtime, "run-f", WEATHER_QUESTION)
    assert celsius.final_output["response"] == WEATHER_ANSWER
    assert fahrenheit.final_output["response"] == "The weather in Paris: Sunny, 22°F in Paris."


async def test_earlier_messages_become_the_history(serve, runner) -> None:
    def answer(request: ScriptRequest) -> str:
        return f"{len(request.messages)} messages"

    server = serve(ScriptedModel([reply(answer)]))
    runtime = build_weather_runtime(server.base_url)
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": WEATHER_QUESTION},
    ]
    result = await runner.execute(runtime, "run-history", messages)
    assert result.status is RunStatus.SUCCEEDED, result.error
    sent = server.requests[0].body["messages"]
    assert [(m["role"], m["content"]) for m in sent if m["role"] != "system"] == [
        ("user", "Hi"), ("assistant", "Hello!"), ("user", WEATHER_QUESTION)
    ]
    assert any(m["role"] == "system" and m["content"] == "Be brief." for m in sent)


def test_arguments_are_checked() -> None:
    with pytest.raises(TypeError, match="pydantic_ai.Agent"):
        PydanticAIRuntime(object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="key"):
        PydanticAIRuntime(Agent("test"))
    with pytest.raises(TypeError, match="output_mapper"):
        PydanticAIRuntime(Agent("test", name="a"), output_mapper="x")  # type: ignore[arg-type]
    assert PydanticAIRuntime(Agent("test", name="a")).key == "a"


async def test_no_telemetry_by_default(serve, runner) -> None:
    """Pydantic AI instruments only when asked (`instrument`); the runtime never asks."""
    server = serve(weather_model())
    runtime = build_weather_runtime(server.base_url)
    assert runtime.agent.instrument is None
    result = await runner.execute(runtime, "run-otel", WEATHER_QUESTION)
    assert result.status is RunStatus.SUCCEEDED
    assert runtime.agent.instrument is None
    assert all(r.path.endswith("/chat/completions") for r in server.requests)  # nothing else called


async def test_output_mapper_error_fails_the_run_and_closes_the_step(serve, runner) -> None:
    server = serve(weather_model())

    def mapper(output: str) -> object:
        return 42

    result = await runner.execute(build_weather_runtime(server.base_url, output_mapper=mapper), "run-badmap", WEATHER_QUESTION)
    assert result.status is RunStatus.FAILED and result.error is not None
    assert "output_mapper must return a dict or a string" in result.error.message
    events = await runner.event_bus.get_events("run-badmap")
    check_grammar(events, strict=True)
    assert [e.type for e in events[-2:]] == [EventType.STEP_FAILED, EventType.RUN_FAILED]


async def test_external_deferred_calls_fail_clearly(serve, runner) -> None:
    from pydantic_ai.exceptions import CallDeferred

    server = serve(weather_model())
    agent = Agent(make_model(server.base_url), name="weather")

    @agent.tool_plain
    def get_weather(city: str) -> str:
        """Get the weather.

        Args:
            city: The city.
        """
        raise CallDeferred

    result = await runner.execute(PydanticAIRuntime(agent), "run-ext", WEATHER_QUESTION)
    assert result.status is RunStatus.FAILED and result.error is not None
    assert "external execution (get_weather)" in result.error.message and not result.error.retriable
    check_grammar(await runner.event_bus.get_events("run-ext"), strict=True)
