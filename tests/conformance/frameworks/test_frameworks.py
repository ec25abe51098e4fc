"""The conformance suite across frameworks: the same scenarios built natively in LangGraph, CrewAI,
the OpenAI Agents SDK and Google ADK (and as a plain AgentRuntime), run through one AgentRunner against the
loopback OpenAI-compatible server, must produce the same grammar of events, the same final answer
shape and the same tool-call payloads.

Runs in the environment with every adapter installed (`make test` builds it); the core's own
environment does not collect this folder.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from agent_runtime_core import (
    AgentRunner,
    AgentRuntime,
    EventType,
    RunnerConfig,
    RunStatus,
    Tool,
    ToolRegistry,
)
from agent_runtime_core._demo import DemoToolAgent
from agent_runtime_core.events import Event
from agent_runtime_core.llm import use_llm_client
from agent_runtime_core.llm.openai import OpenAIClient
from agent_runtime_core.testing import OpenAICompatibleServer, ScriptedModel
from agent_runtime_core.testing.conformance import (
    WEATHER_QUESTION,
    check_grammar,
    check_weather_run,
    core_sequence,
    get_weather,
    slow_model,
    weather_model,
)

# The frameworks' own import-time and deprecation warnings are not ours to fix (each adapter's
# pyproject filters the same ones); every other warning still fails the test.
pytestmark = [
    pytest.mark.filterwarnings("ignore::ImportWarning:importlib._bootstrap"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:crewai.*"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning:crewai.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:openai.*"),
    pytest.mark.filterwarnings("ignore::langgraph.warnings.LangGraphDeprecatedSinceV10"),
]

ROOT = Path(__file__).resolve().parents[3]
FRAMEWORKS = ["langgraph", "crewai", "openai_agents", "pydantic_ai", "google_adk"]
CONFIG = RunnerConfig(run_timeout_seconds=60, max_retries=0, cancel_grace_seconds=0.5)


def scenarios(framework: str) -> ModuleType:
    """The adapter's own scenario builders (adapters/<framework>/tests/scenarios.py)."""
    path = ROOT / "adapters" / framework / "tests" / "scenarios.py"
    spec = importlib.util.spec_from_file_location(f"conformance_scenarios_{framework}", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Native:
    """The plain AgentRuntime, through our OpenAI client, as a fourth 'framework'."""

    def __init__(self, base_url: str) -> None:
        self.client = OpenAIClient(api_key="sk-test-conformance", base_url=base_url, default_model="scripted-weather")

    def runtime(self) -> AgentRuntime:
        return DemoToolAgent(ToolRegistry([Tool.from_function(get_weather)]))


async def run_weather(name: str, base_url: str, runner: AgentRunner, run_id: str, question: str = WEATHER_QUESTION) -> Any:
    if name == "native":
        native = Native(base_url)
        with use_llm_client(native.client):
            result = await runner.execute(native.runtime(), run_id=run_id, input_data=question)
        await native.client.aclose()
        return result
    module = scenarios(name)
    runtime = module.build_weather_runtime(base_url)
    try:
        return await runner.execute(runtime, run_id=run_id, input_data=question)
    finally:
        close = getattr(module, "close_clients", None)  # adapters whose clients hold sockets
        if close is not None:
            await close()


@pytest.fixture
async def server() -> AsyncIterator[OpenAICompatibleServer]:
    with OpenAICompatibleServer(weather_model()) as s:
        yield s


def tool_payloads(events: list[Event]) -> list[tuple[str, Any]]:
    return [(e.type.value, {k: v for k, v in e.payload.items() if k != "tool_call_id"})
            for e in events if e.type in (EventType.TOOL_CALL, EventType.TOOL_RESULT)]


async def test_all_frameworks_speak_the_same_grammar(server: OpenAICompatibleServer) -> None:
    runner = AgentRunner(CONFIG)
    sequences, payloads, outputs = {}, {}, {}
    for name in ["native", *FRAMEWORKS]:
        result = await run_weather(name, server.base_url, runner, run_id=f"weather-{name}")
        events = await runner.event_bus.get_events(f"weather-{name}")
        check_weather_run(result, events)
        sequences[name] = core_sequence(events)
        payloads[name] = tool_payloads(events)
        outputs[name] = result.final_output["response"]
        assert any(e.type is EventType.STEP_STARTED for e in events) or name == "native", name
    assert len({tuple(s) for s in sequences.values()}) == 1, sequences
    assert len({repr(p) for p in payloads.values()}) == 1, payloads
    assert len(set(outputs.values())) == 1, outputs


@pytest.mark.parametrize("framework", FRAMEWORKS)
async def test_ten_concurrent_runs_in_one_process(framework: str, server: OpenAICompatibleServer) -> None:
    runner = AgentRunner(CONFIG)
    cities = ["Paris", "Lyon", "Oslo", "Rome", "Lima", "Quito", "Cairo", "Delhi", "Tokyo", "Perth"]
    results = await asyncio.gather(*(
        run_weather(framework, server.base_url, runner, f"{framework}-{c}", f"What's the weather in {c}?") for c in cities
    ))
    for city, result in zip(cities, results, strict=True):
        check_weather_run(result, await runner.event_bus.get_events(f"{framework}-{city}"), city=city)


@pytest.mark.parametrize("framework", FRAMEWORKS)
async def test_cancel_stops_the_framework_before_another_model_call(framework: str) -> None:
    model: ScriptedModel = slow_model(delay=3.0)
    with OpenAICompatibleServer(model) as slow:
        runner = AgentRunner(CONFIG)
        task = asyncio.create_task(run_weather(framework, slow.base_url, runner, "cancel-me"))
        for _ in range(600):
            if model.calls >= 1:
                break
            await asyncio.sleep(0.01)
        assert await runner.cancel("cancel-me")
        result = await asyncio.wait_for(task, 10)
        assert result.status is RunStatus.CANCELLED
        await asyncio.sleep(0.5)
        assert model.calls == 1
        events = await runner.event_bus.get_events("cancel-me")
        assert events[-1].type is EventType.RUN_CANCELLED
        check_grammar(events)
