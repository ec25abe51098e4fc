"""Construction, configuration, telemetry and conversions of `OpenAIAgentsRuntime`."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from agents import Agent, ModelSettings, RunConfig, function_tool
from agents.tracing import TracingProcessor, get_trace_provider, set_trace_processors
from scenarios import build_weather_runtime, make_client

from agent_runtime_core import AgentRunner, RunStatus
from agent_runtime_core.errors import InvalidInputError
from agent_runtime_core.testing.conformance import (
    WEATHER_QUESTION,
    check_weather_run,
    get_weather,
    weather_model,
)
from agent_runtime_openai_agents import OpenAIAgentsRuntime
from agent_runtime_openai_agents._convert import items_to_messages, messages_to_items


class Recorder(TracingProcessor):
    """A local trace processor (instead of the exporter to OpenAI)."""

    def __init__(self) -> None:
        self.traces: list[Any] = []

    def on_trace_start(self, trace: Any) -> None:
        self.traces.append(trace)

    def on_trace_end(self, trace: Any) -> None: ...
    def on_span_start(self, span: Any) -> None: ...
    def on_span_end(self, span: Any) -> None: ...
    def shutdown(self) -> None: ...
    def force_flush(self) -> None: ...


@pytest.fixture
def recorder() -> Any:
    provider = get_trace_provider()
    before = list(getattr(getattr(provider, "_multi_processor", None), "_processors", ()))
    recorder = Recorder()
    set_trace_processors([recorder])  # no exporter to OpenAI in tests, whatever happens
    yield recorder
    set_trace_processors(before)


def test_wrong_object_names_what_is_expected() -> None:
    with pytest.raises(TypeError, match=r"agents\.Agent"):
        OpenAIAgentsRuntime(object())  # type: ignore[arg-type]
    agent = Agent(name="a")
    with pytest.raises(ValueError, match="max_turns"):
        OpenAIAgentsRuntime(agent, max_turns=0)
    with pytest.raises(TypeError, match="RunConfig"):
        OpenAIAgentsRuntime(agent, run_config={"model": "x"})  # type: ignore[arg-type]
    assert OpenAIAgentsRuntime(agent).key == "a"
    assert OpenAIAgentsRuntime(agent, key="k").key == "k"


def test_import_is_lazy() -> None:
    import subprocess

    code = "import sys, agent_runtime_openai_agents; print('agents' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "False", out.stderr


def test_user_run_config_is_copied_never_changed() -> None:
    config = RunConfig(model_settings=ModelSettings(temperature=0.1))
    runtime = OpenAIAgentsRuntime(Agent(name="a"), run_config=config)
    assert config.model_settings is not None and config.model_settings.include_usage is None
    assert config.tracing_disabled is False
    assert runtime.run_config.model_settings is not None
    assert runtime.run_config.model_settings.include_usage is True
    assert runtime.run_config.model_settings.temperature == 0.1
    explicit = OpenAIAgentsRuntime(Agent(name="a"), run_config=RunConfig(model_settings=ModelSettings(include_usage=False)))
    assert explicit.run_config.model_settings is not None and explicit.run_config.model_settings.include_usage is False


async def test_tracing_is_off_by_default(serve, runner: AgentRunner, recorder: Recorder) -> None:
    server = serve(weather_model())
    result = await runner.execute(build_weather_runtime(server.base_url), "run-quiet", WEATHER_QUESTION)
    assert result.status is RunStatus.SUCCEEDED
    assert recorder.traces == []


async def test_tracing_true_reaches_the_sdk_processors(serve, runner: AgentRunner, recorder: Recorder) -> None:
    server = serve(weather_model())
    runtime = build_weather_runtime(server.base_url, tracing=True)
    result = await runner.execute(runtime, "run-traced", WEATHER_QUESTION)
    assert result.status is RunStatus.SUCCEEDED
    (trace,) = recorder.traces
    exported = trace.export()
    assert exported["group_id"] == "run-traced"
    assert exported["metadata"]["run_id"] == "run-traced"


async def test_openai_client_binds_agents_with_model_names(serve, runner: AgentRunner) -> None:
    """An agent whose model is a name runs on the runtime's client: no env var, no global client."""
    server = serve(weather_model())
    agent = Agent(name="weather", instructions="x", tools=[function_tool(get_weather)], model="gpt-4o-mini")
    runtime = OpenAIAgentsRuntime(agent, openai_client=make_client(server.base_url))
    result = await runner.execute(runtime, "run-client", WEATHER_QUESTION)
    check_weather_run(result, await runner.event_bus.get_events("run-client"))
    assert all(r.path.endswith("/responses") for r in server.requests)

    chat = OpenAIAgentsRuntime(agent, key="chat", openai_client=make_client(server.base_url), use_responses=False)
    result = await runner.execute(chat, "run-chat", WEATHER_QUESTION)
    check_weather_run(result, await runner.event_bus.get_events("run-chat"))
    assert server.requests[-1].path.endswith("/chat/completions")


async def test_input_conversation_reaches_the_model(serve, runner: AgentRunner) -> None:
    """Input messages in OpenAI chat format reach the model as Responses items, in order."""
    server = serve(weather_model())
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": WEATHER_QUESTION},
    ]
    result = await runner.execute(build_weather_runtime(server.base_url), "run-msgs", {"messages": messages})
    assert result.status is RunStatus.SUCCEEDED
    assert server.requests[0].body["input"][:3] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
    ]
    assert (result.final_messages or [])[:4] == messages


async def test_no_input_fails_without_retry(serve, runner: AgentRunner) -> None:
    server = serve(weather_model())
    result = await runner.execute(build_weather_runtime(server.base_url), "run-empty", {"messages": []})
    assert result.status is RunStatus.FAILED and result.error is not None
    assert result.error.type == "InvalidInputError" and server.model_calls == 0


def test_conversions_round_trip() -> None:
    messages = [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}},
            {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "{}"}},
        ]},
        {"role": "tool", "tool_call_id": "c1", "content": "one"},
        {"role": "tool", "tool_call_id": "c2", "content": "two"},
        {"role": "assistant", "content": [{"type": "text", "text": "done"}]},
    ]
    items = messages_to_items(messages)
    assert [i.get("type", "message") for i in items] == [
        "message", "function_call", "function_call", "function_call_output", "function_call_output", "message"
    ]
    back = items_to_messages(items)
    assert back[:4] == messages[:4]
    assert back[4] == {"role": "assistant", "content": "done"}
    with pytest.raises(InvalidInputError, match="role"):
        messages_to_items([{"role": "robot", "content": "x"}])
    with pytest.raises(InvalidInputError, match="tool_call_id"):
        messages_to_items([{"role": "tool", "content": "x"}])
