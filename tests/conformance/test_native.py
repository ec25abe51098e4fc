"""The conformance contract for a plain `AgentRuntime` (the README's tool agent): in-process, and
through the real OpenAI SDK against the loopback server. Adapters meet the same contract."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from agent_runtime_core import AgentRunner, EventType, RunnerConfig, RunStatus, Tool, ToolRegistry
from agent_runtime_core._demo import DemoToolAgent
from agent_runtime_core.llm import LLMClient, use_llm_client
from agent_runtime_core.llm.openai import OpenAIClient
from agent_runtime_core.testing import OpenAICompatibleServer, ScriptedLLMClient, ScriptedModel
from agent_runtime_core.testing.conformance import (
    WEATHER_QUESTION,
    check_grammar,
    check_weather_run,
    failing_tool_model,
    get_weather,
    get_weather_failing,
    slow_model,
    tool_result_text,
    weather_model,
)

CONFIG = RunnerConfig(run_timeout_seconds=30, max_retries=0, cancel_grace_seconds=0.1)


def agent(failing: bool = False) -> DemoToolAgent:
    return DemoToolAgent(ToolRegistry([Tool.from_function(get_weather_failing if failing else get_weather, name="get_weather")]))


@pytest.fixture(params=["in-process", "openai-sdk"])
async def client_for(request: pytest.FixtureRequest) -> AsyncIterator[object]:
    servers: list[OpenAICompatibleServer] = []
    clients: list[OpenAIClient] = []

    def make(model: ScriptedModel) -> LLMClient:
        if request.param == "in-process":
            return ScriptedLLMClient(model)
        server = OpenAICompatibleServer(model).start()
        servers.append(server)
        client = OpenAIClient(api_key="sk-test-conformance-000", base_url=server.base_url, default_model=model.name)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()
    for server in servers:
        server.stop()


async def test_weather(client_for) -> None:  # type: ignore[no-untyped-def]
    runner = AgentRunner(CONFIG)
    with use_llm_client(client_for(weather_model())):
        result = await runner.execute(agent(), run_id="w", input_data=WEATHER_QUESTION)
    check_weather_run(result, await runner.event_bus.get_events("w"))


async def test_failing_tool_becomes_a_tool_result_error(client_for) -> None:  # type: ignore[no-untyped-def]
    runner = AgentRunner(CONFIG)
    with use_llm_client(client_for(failing_tool_model())):
        result = await runner.execute(agent(failing=True), run_id="f", input_data=WEATHER_QUESTION)
    events = await runner.event_bus.get_events("f")
    check_grammar(events)
    assert result.status is RunStatus.SUCCEEDED
    tool_result = next(e for e in events if e.type is EventType.TOOL_RESULT).payload
    assert "no data for Atlantis" in tool_result["result"]  # the demo agent passes errors on as text
    assert str(result.final_output["response"]).startswith("Sorry, I could not get the weather")


async def test_ten_concurrent_runs_never_mix(client_for) -> None:  # type: ignore[no-untyped-def]
    runner = AgentRunner(CONFIG)
    cities = ["Paris", "Lyon", "Oslo", "Rome", "Lima", "Quito", "Cairo", "Delhi", "Tokyo", "Perth"]
    with use_llm_client(client_for(weather_model())):
        results = await asyncio.gather(
            *(runner.execute(agent(), run_id=f"c-{city}", input_data=f"What's the weather in {city}?") for city in cities)
        )
    for city, result in zip(cities, results, strict=True):
        check_weather_run(result, await runner.event_bus.get_events(f"c-{city}"), city=city)


async def test_cancel_stops_before_another_model_call(client_for) -> None:  # type: ignore[no-untyped-def]
    model = slow_model(delay=5.0)
    runner = AgentRunner(CONFIG)
    with use_llm_client(client_for(model)):
        task = asyncio.create_task(runner.execute(agent(), run_id="x", input_data=WEATHER_QUESTION))
        while not any(e.type is EventType.LLM_CALL_STARTED for e in await runner.event_bus.get_events("x")):
            await asyncio.sleep(0.01)
        await runner.cancel("x")
        result = await asyncio.wait_for(task, 5)
    assert result.status is RunStatus.CANCELLED
    await asyncio.sleep(0.2)
    assert model.calls == 1
    events = await runner.event_bus.get_events("x")
    check_grammar(events[:-1] + events[-1:])
    assert events[-1].type is EventType.RUN_CANCELLED


def test_tool_result_text_unwraps_adks_envelope() -> None:
    """Google ADK sends a tool's return value as {"result": value} (an error as {"error": ...}):
    the scenario models answer from the value, so every framework gives the same answer."""
    assert tool_result_text('{"result": "Sunny, 22°C in Paris"}') == "Sunny, 22°C in Paris"
    assert tool_result_text('{"error": "ValueError: no data"}') == "ValueError: no data"
    assert tool_result_text("Sunny, 22°C in Paris") == "Sunny, 22°C in Paris"
    assert tool_result_text('{"result": 3}') == '{"result": 3}'
    assert tool_result_text('{"result": "a", "other": 1}') == '{"result": "a", "other": 1}'
    assert tool_result_text("{not json") == "{not json"
