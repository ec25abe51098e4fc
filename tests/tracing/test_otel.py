"""OpenTelemetryTraceSink: one span tree per run, from the events, asserted with an in-memory exporter."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from agent_runtime_core import AgentRunner, RunnerConfig, RunStatus, Tool, ToolRegistry
from agent_runtime_core._demo import DemoToolAgent
from agent_runtime_core.agent import AgentRuntime, RunResult
from agent_runtime_core.context import RunContext, _current_step
from agent_runtime_core.events.base import EventType
from agent_runtime_core.llm import get_llm_client, use_llm_client
from agent_runtime_core.testing import ScriptedLLMClient, ScriptedModel, call_tool, fail, reply
from agent_runtime_core.testing.conformance import (
    WEATHER_QUESTION,
    check_weather_run,
    get_weather,
    tool_arguments,
    weather_model,
)
from agent_runtime_core.testing.servers.otlp import format_span_tree
from agent_runtime_core.tracing import OpenTelemetryTraceSink, TraceSink
from agent_runtime_core.tracing._redact import CONTENT_ENV_VAR

CONFIG = RunnerConfig(run_timeout_seconds=30, max_retries=0)
SECRET = "sk-test-tracing-SECRET-0123456789"

NATIVE_TREE = """\
invoke_agent tool-agent
  chat scripted-weather
  execute_tool get_weather
  chat scripted-weather"""

STEPPED_TREE = """\
invoke_agent graph-agent
  agent
    chat scripted-weather
  tools
    execute_tool get_weather
  agent
    chat scripted-weather"""


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


def weather_agent() -> DemoToolAgent:
    return DemoToolAgent(ToolRegistry([Tool.from_function(get_weather, name="get_weather")]))


class GraphShapedAgent(AgentRuntime):
    """Emits what an adapter of a graph framework emits: node steps around model and tool calls
    (LangGraph's `agent` and `tools` nodes), with span ids on LLM calls."""

    def __init__(self, fail_tool: bool = False) -> None:
        self.tools = ToolRegistry([Tool.from_function(get_weather, name="get_weather")])
        self.fail_tool = fail_tool

    @property
    def key(self) -> str:
        return "graph-agent"

    async def run(self, ctx: RunContext) -> RunResult:
        llm = get_llm_client()
        messages = list(ctx.input_messages)
        for turn in range(4):
            await ctx.emit(EventType.STEP_STARTED, {"name": "agent", "kind": "node"}, step="agent")
            token = _current_step.set("agent")  # as adapters tag the node's model calls
            try:
                response = await llm.generate(messages, tools=self.tools.to_openai_format())
            finally:
                _current_step.reset(token)
            messages.append(response.message)
            if not response.tool_calls:
                await ctx.emit(
                    EventType.ASSISTANT_MESSAGE, {"content": response.content}, step="agent"
                )
                await ctx.emit(
                    EventType.STEP_COMPLETED, {"name": "agent", "kind": "node"}, step="agent"
                )
                return RunResult(
                    final_output={"response": response.content}, final_messages=messages
                )
            await ctx.emit(
                EventType.STEP_COMPLETED, {"name": "agent", "kind": "node"}, step="agent"
            )
            await ctx.emit(EventType.STEP_STARTED, {"name": "tools", "kind": "node"}, step="tools")
            for call in response.tool_calls:
                name, arguments = call["function"]["name"], call["function"]["arguments"]
                await ctx.emit(
                    EventType.TOOL_CALL,
                    {
                        "tool_call_id": call["id"],
                        "name": name,
                        "arguments": tool_arguments(arguments),
                    },
                    step="tools",
                    span_id=f"tool-{turn}",
                )
                result = await self.tools.execute(name, arguments)
                await ctx.emit(
                    EventType.TOOL_RESULT,
                    {"tool_call_id": call["id"], "name": name, "result": str(result)},
                    step="tools",
                    span_id=f"tool-{turn}",
                )
                messages.append(
                    {"role": "tool", "tool_call_id": call["id"], "content": str(result)}
                )
            await ctx.emit(
                EventType.STEP_COMPLETED, {"name": "tools", "kind": "node"}, step="tools"
            )
        raise RuntimeError("no answer")


async def run_weather(sink: TraceSink, agent: AgentRuntime, run_id: str, **kw: Any) -> RunResult:
    runner = AgentRunner(CONFIG, trace_sink=sink)
    with use_llm_client(ScriptedLLMClient(weather_model())):
        result = await runner.execute(
            agent, run_id=run_id, input_data=kw.pop("question", WEATHER_QUESTION)
        )
    check_weather_run(result, await runner.event_bus.get_events(run_id), **kw)
    return result


def by_name(spans: Any, name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


async def test_native_run_gives_the_genai_span_tree(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    await run_weather(OpenTelemetryTraceSink(provider), weather_agent(), "native-1")
    spans = exporter.get_finished_spans()
    print(
        "\n"
        + format_span_tree(spans, attributes=["gen_ai.usage.input_tokens", "gen_ai.tool.call.id"])
    )
    assert format_span_tree(spans) == NATIVE_TREE
    assert len({s.context.trace_id for s in spans}) == 1

    (root,) = by_name(spans, "invoke_agent tool-agent")
    assert root.attributes is not None
    assert root.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert root.attributes["gen_ai.agent.name"] == "tool-agent"
    assert root.attributes["agent_runtime.run_id"] == "native-1"
    assert root.attributes["agent_runtime.run.status"] == "succeeded"
    assert root.status.status_code is StatusCode.UNSET
    assert "agent_runtime.final_output" not in root.attributes, "content is opt-in"

    first, second = by_name(spans, "chat scripted-weather")
    for chat in (first, second):
        attrs = chat.attributes or {}
        assert attrs["gen_ai.operation.name"] == "chat"
        assert attrs["gen_ai.request.model"] == "scripted-weather"
        assert attrs["gen_ai.response.model"] == "scripted-weather"
        assert attrs["gen_ai.provider.name"] == "scripted"
        assert attrs["gen_ai.usage.input_tokens"] > 0 and attrs["gen_ai.usage.output_tokens"] > 0
        assert attrs["agent_runtime.run_id"] == "native-1"
        assert attrs["agent_runtime.agent_key"] == "tool-agent"
        assert chat.kind is trace.SpanKind.CLIENT
    assert (first.attributes or {})["gen_ai.response.finish_reasons"] == ("tool_calls",)

    (tool,) = by_name(spans, "execute_tool get_weather")
    attrs = tool.attributes or {}
    assert attrs["gen_ai.operation.name"] == "execute_tool"
    assert attrs["gen_ai.tool.name"] == "get_weather"
    assert attrs["gen_ai.tool.call.id"] == "call_0_get_weather"
    assert "gen_ai.tool.call.arguments" not in attrs and "gen_ai.tool.call.result" not in attrs
    # Spans use the events' times: each child lies within the root, in event order.
    assert root.start_time is not None and root.end_time is not None
    assert first.start_time is not None and second.end_time is not None
    assert root.start_time <= first.start_time < second.end_time <= root.end_time
    assert first.end_time is not None and tool.start_time is not None
    assert first.end_time <= tool.start_time


async def test_adapter_shaped_run_nests_calls_under_their_steps(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    await run_weather(OpenTelemetryTraceSink(provider), GraphShapedAgent(), "graph-1")
    spans = exporter.get_finished_spans()
    print("\n" + format_span_tree(spans))
    assert format_span_tree(spans) == STEPPED_TREE
    steps = by_name(spans, "agent")
    assert all((s.attributes or {})["agent_runtime.step.kind"] == "node" for s in steps)
    # Leaves carry the same GenAI attributes as in the native run.
    chat = by_name(spans, "chat scripted-weather")[0]
    assert (chat.attributes or {})["gen_ai.usage.output_tokens"] > 0


async def test_many_concurrent_runs_never_share_spans(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    sink = OpenTelemetryTraceSink(provider)
    cities = ["Paris", "Lyon", "Oslo", "Rome", "Lima", "Quito", "Cairo", "Delhi"]

    async def one(index: int, city: str) -> None:
        agent = GraphShapedAgent() if index % 2 else weather_agent()
        await run_weather(
            sink, agent, f"run-{city}", question=f"What's the weather in {city}?", city=city
        )

    await asyncio.gather(*(one(i, city) for i, city in enumerate(cities)))
    spans = exporter.get_finished_spans()
    roots = [s for s in spans if s.parent is None]
    assert len(roots) == len(cities)
    assert sink.open_runs == 0
    for root in roots:
        run_id = (root.attributes or {})["agent_runtime.run_id"]
        trace_id = root.context.trace_id
        members = [s for s in spans if s.context.trace_id == trace_id]
        assert all((s.attributes or {})["agent_runtime.run_id"] == run_id for s in members)
        expected = STEPPED_TREE if "graph" in root.name else NATIVE_TREE
        assert format_span_tree(members) == expected, run_id
        # Each run's tool span has its own run's call: the city is in the tool call id's run.
        (tool,) = [s for s in members if s.name == "execute_tool get_weather"]
        assert (tool.attributes or {})["agent_runtime.run_id"] == run_id
    # Every span has its parent in its own trace (no cross-run parenting).
    ids = {(s.context.trace_id, s.context.span_id) for s in spans}
    assert all(s.parent is None or (s.context.trace_id, s.parent.span_id) in ids for s in spans)


async def test_failed_run_and_failed_llm_call_are_error_spans_with_redacted_messages(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    model = ScriptedModel([fail(500, f"upstream exploded, key {SECRET}", times=None)], model="m")
    runner = AgentRunner(CONFIG, trace_sink=OpenTelemetryTraceSink(provider, record_content=True))
    with use_llm_client(ScriptedLLMClient(model)):
        result = await runner.execute(weather_agent(), run_id="bad", input_data=WEATHER_QUESTION)
    assert result.status is RunStatus.FAILED
    spans = exporter.get_finished_spans()
    assert format_span_tree(spans) == "invoke_agent tool-agent\n  chat m"
    for span in spans:
        assert span.status.status_code is StatusCode.ERROR
        assert "upstream exploded" in (span.status.description or "")
        (exception,) = [e for e in span.events if e.name == "exception"]
        assert "upstream exploded" in str((exception.attributes or {})["exception.message"])
    dumped = json.dumps([json.loads(s.to_json()) for s in spans])
    assert SECRET not in dumped and "***" in dumped
    chat = by_name(spans, "chat m")[0]
    assert (chat.attributes or {})["error.type"] == "ScriptedFailure"


async def test_retried_run_keeps_one_root_with_retry_events(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    class FlakyOnce(DemoToolAgent):
        attempts = 0

        async def run(self, ctx: RunContext) -> RunResult:
            FlakyOnce.attempts += 1
            if FlakyOnce.attempts == 1:
                await get_llm_client().generate([{"role": "user", "content": "x"}])
                raise ConnectionError("flaky network")
            return await super().run(ctx)

    runner = AgentRunner(
        RunnerConfig(run_timeout_seconds=30, max_retries=1, retry_backoff_seconds=0.0),
        trace_sink=OpenTelemetryTraceSink(provider),
    )
    model = ScriptedModel([call_tool("get_weather", {"city": "Paris"}), reply("done")], model="m")
    agent = FlakyOnce(ToolRegistry([Tool.from_function(get_weather, name="get_weather")]))
    with use_llm_client(ScriptedLLMClient(model)):
        result = await runner.execute(
            agent, run_id="retry", input_data="What's the weather in Paris?"
        )
    assert result.status is RunStatus.SUCCEEDED
    spans = exporter.get_finished_spans()
    roots = [s for s in spans if s.parent is None]
    assert len(roots) == 1
    root = roots[0]
    assert (root.attributes or {})["agent_runtime.run.attempts"] == 2
    names = [e.name for e in root.events]
    assert names[:2] == ["agent_runtime.run.retrying", "agent_runtime.run.attempt"]
    assert len(by_name(spans, "chat m")) == 3  # one in the failed attempt, two in the second
    assert "flaky network" in str((root.events[0].attributes or {})["exception.message"])


async def test_content_is_recorded_only_on_opt_in_and_redacted(
    provider: TracerProvider, exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    class LeakyTool(DemoToolAgent):
        pass

    def leaky_weather(city: str) -> str:
        """Weather, with a secret in it."""
        return f"Sunny in {city}; debug token {SECRET}"

    model = ScriptedModel(
        [call_tool("leaky_weather", {"city": "Paris"}), reply("Sunny.")], model="m"
    )
    agent = LeakyTool(ToolRegistry([Tool.from_function(leaky_weather)]))
    monkeypatch.setenv(CONTENT_ENV_VAR, "1")
    sink = OpenTelemetryTraceSink(provider)
    assert sink.record_content is True
    runner = AgentRunner(CONFIG, trace_sink=sink)
    with use_llm_client(ScriptedLLMClient(model)):
        await runner.execute(agent, run_id="content", input_data="weather?")
    spans = exporter.get_finished_spans()
    (tool,) = by_name(spans, "execute_tool leaky_weather")
    attrs = tool.attributes or {}
    assert json.loads(str(attrs["gen_ai.tool.call.arguments"])) == {"city": "Paris"}
    assert str(attrs["gen_ai.tool.call.result"]) == "Sunny in Paris; debug token ***"
    (root,) = [s for s in spans if s.parent is None]
    assert json.loads(str((root.attributes or {})["agent_runtime.final_output"])) == {
        "response": "Sunny."
    }
    (message,) = [e for e in root.events if e.name == "gen_ai.assistant.message"]
    assert (message.attributes or {})["content"] == "Sunny."

    exporter.clear()
    monkeypatch.delenv(CONTENT_ENV_VAR)
    runner = AgentRunner(CONFIG, trace_sink=OpenTelemetryTraceSink(provider))
    with use_llm_client(ScriptedLLMClient(model)):
        await runner.execute(agent, run_id="no-content", input_data="weather?")
    dumped = json.dumps([json.loads(s.to_json()) for s in exporter.get_finished_spans()])
    assert "Sunny in Paris" not in dumped and "Paris" not in dumped and "Sunny." not in dumped


async def test_without_a_tracer_provider_nothing_is_built() -> None:
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider), "tests set no global"
    sink = OpenTelemetryTraceSink()
    await run_weather(sink, weather_agent(), "noop")
    assert sink.open_runs == 0 and not sink._runs


def event(
    run_id: str, seq: int, kind: str, payload: dict[str, Any], ts: float, **extra: Any
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "seq": seq,
        "type": kind,
        "timestamp": ts,
        "payload": payload,
        **extra,
    }


def test_runs_that_never_end_are_abandoned_not_kept_forever(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    sink = OpenTelemetryTraceSink(provider, max_open_runs=2)
    for i in range(3):
        sink.handle(
            event(f"crashed-{i}", 1, "run.started", {"agent_key": "a", "attempt": 1}, 1000.0 + i)
        )
        sink.handle(event(f"crashed-{i}", 2, "llm.call.started", {"model": "m"}, 1000.5 + i))
    assert sink.open_runs == 2
    ended = exporter.get_finished_spans()
    assert sorted(s.name for s in ended) == ["chat m", "invoke_agent a"]
    assert all((s.attributes or {})["agent_runtime.run_id"] == "crashed-0" for s in ended)
    root = by_name(ended, "invoke_agent a")[0]
    assert (root.attributes or {})["agent_runtime.abandoned"] == "max_open_runs"

    sink.run_ttl_seconds = 0.0
    sink._sweep()
    assert sink.open_runs == 0
    assert len(exporter.get_finished_spans()) == 6


def test_resumed_run_links_to_the_interrupted_root(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    sink = OpenTelemetryTraceSink(provider)
    sink.handle(event("r", 1, "run.started", {"agent_key": "a", "attempt": 1}, 10.0))
    sink.handle(event("r", 2, "run.interrupted", {"interrupt": "approve?"}, 11.0))
    sink.handle(event("r", 3, "run.started", {"agent_key": "a", "attempt": 1}, 20.0))
    sink.handle(event("r", 4, "run.succeeded", {"final_output": {}}, 21.0))
    first, second = sorted(exporter.get_finished_spans(), key=lambda s: s.start_time or 0)
    assert (first.attributes or {})["agent_runtime.run.status"] == "interrupted"
    assert first.start_time == 10_000_000_000 and first.end_time == 11_000_000_000
    assert [link.context.span_id for link in second.links] == [first.context.span_id]
    assert (second.attributes or {})["agent_runtime.resumed"] is True


def test_step_failures_retries_and_unknown_parents(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    sink = OpenTelemetryTraceSink(provider)
    error = {"type": "ValueError", "message": f"bad {SECRET}"}
    sink.handle(event("s", 1, "run.started", {"agent_key": "a", "attempt": 1}, 1.0))
    sink.handle(event("s", 2, "step.started", {"name": "fetch", "kind": "step"}, 2.0, step="fetch"))
    sink.handle(
        event(
            "s",
            3,
            "step.retrying",
            {"name": "fetch", "attempt": 1, "error": error},
            3.0,
            step="fetch",
        )
    )
    sink.handle(event("s", 4, "step.failed", {"name": "fetch", "error": error}, 4.0, step="fetch"))
    sink.handle(event("s", 5, "step.skipped", {"name": "done-before"}, 4.5))
    sink.handle(
        event(
            "s",
            6,
            "tool.call",
            {"tool_call_id": "t1", "name": "x", "arguments": {}},
            5.0,
            step="gone",
        )
    )
    sink.handle(
        event("s", 7, "tool.result", {"tool_call_id": "t1", "name": "x", "error": "boom"}, 6.0)
    )
    sink.handle(event("s", 8, "run.failed", {"error": error}, 7.0))
    spans = exporter.get_finished_spans()
    assert format_span_tree(spans) == "invoke_agent a\n  fetch\n  done-before\n  execute_tool x"
    fetch = by_name(spans, "fetch")[0]
    assert fetch.status.status_code is StatusCode.ERROR
    assert [e.name for e in fetch.events] == ["agent_runtime.step.retrying", "exception"]
    assert (by_name(spans, "done-before")[0].attributes or {})["agent_runtime.step.skipped"] is True
    assert by_name(spans, "execute_tool x")[0].status.status_code is StatusCode.ERROR
    assert SECRET not in json.dumps([json.loads(s.to_json()) for s in spans])


def test_run_inside_an_application_span_joins_its_trace(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    sink = OpenTelemetryTraceSink(provider)
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("POST /chat") as request_span:
        sink.handle(event("ctx", 1, "run.started", {"agent_key": "a", "attempt": 1}, 1.0))
    sink.handle(event("ctx", 2, "run.succeeded", {}, 2.0))
    root = by_name(exporter.get_finished_spans(), "invoke_agent a")[0]
    assert (
        root.parent is not None and root.parent.span_id == request_span.get_span_context().span_id
    )
