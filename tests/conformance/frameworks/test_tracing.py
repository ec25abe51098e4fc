"""One OpenTelemetry span tree per run, of the same shape for the native runtime and every adapter:
`invoke_agent {key}` -> (step spans) -> `chat {model}` and `execute_tool {name}`."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agent_runtime_core import AgentRunner
from agent_runtime_core.testing import OpenAICompatibleServer
from agent_runtime_core.testing.conformance import weather_model
from agent_runtime_core.testing.servers.otlp import format_span_tree, span_tree
from agent_runtime_core.tracing import OpenTelemetryTraceSink

from .test_frameworks import CONFIG, FRAMEWORKS, pytestmark, run_weather  # noqa: F401

CALLS = ["chat", "execute_tool get_weather", "chat"]  # chat spans carry each framework's model name


@pytest.mark.parametrize("framework", ["native", *FRAMEWORKS])
async def test_same_span_tree_for_every_runtime(framework: str) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    runner = AgentRunner(CONFIG, trace_sink=OpenTelemetryTraceSink(tracer_provider=provider))
    with OpenAICompatibleServer(weather_model()) as server:
        result = await run_weather(framework, server.base_url, runner, f"traced-{framework}")
    assert result.succeeded
    spans = exporter.get_finished_spans()
    tree = format_span_tree(spans)
    roots = [span for depth, span in span_tree(spans) if depth == 0]
    assert len(roots) == 1 and roots[0].name.startswith("invoke_agent "), tree
    root: Any = roots[0]
    assert root.attributes["agent_runtime.run_id"] == f"traced-{framework}", tree
    assert root.attributes["gen_ai.operation.name"] == "invoke_agent", tree
    calls = [s for _, s in span_tree(spans) if s.name.startswith(("chat ", "execute_tool "))]
    assert [s.name if s.name.startswith("execute_tool") else s.name.split()[0] for s in calls] == CALLS, tree
    chat: Any = calls[0]
    assert chat.attributes["gen_ai.operation.name"] == "chat"
    assert chat.name == f"chat {chat.attributes['gen_ai.request.model']}"
    assert chat.attributes["gen_ai.usage.input_tokens"] > 0 and chat.attributes["gen_ai.usage.output_tokens"] > 0
    tool: Any = calls[1]
    assert tool.attributes["gen_ai.tool.name"] == "get_weather" and tool.attributes["gen_ai.tool.call.id"]
    # every call span belongs to this run's tree
    assert {s.context.trace_id for s in spans} == {root.context.trace_id}
