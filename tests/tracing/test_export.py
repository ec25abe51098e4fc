"""What really goes on the wire: OTLP/HTTP to a loopback receiver, and the Langfuse path."""

from __future__ import annotations

import asyncio
import base64
import socket
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from agent_runtime_core import AgentRunner, RunnerConfig, RunStatus, Tool, ToolRegistry, configure
from agent_runtime_core._demo import DemoToolAgent
from agent_runtime_core.errors import ConfigurationError
from agent_runtime_core.llm import use_llm_client
from agent_runtime_core.testing import ScriptedLLMClient
from agent_runtime_core.testing.conformance import WEATHER_QUESTION, get_weather, weather_model
from agent_runtime_core.testing.servers.otlp import OTLPReceiver, format_span_tree
from agent_runtime_core.tracing import (
    LangfuseTraceSink,
    MultiTraceSink,
    OpenTelemetryTraceSink,
    TraceSink,
    default_trace_sink,
)

CONFIG = RunnerConfig(run_timeout_seconds=30, max_retries=0)
PUBLIC = "pk-lf-test-public-0001"
SECRET = "sk-lf-test-secret-0123456789"
TREE = """\
invoke_agent tool-agent
  chat scripted-weather
  execute_tool get_weather
  chat scripted-weather"""


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as r:
        yield r


def agent() -> DemoToolAgent:
    return DemoToolAgent(ToolRegistry([Tool.from_function(get_weather, name="get_weather")]))


async def run(sink: TraceSink, run_id: str = "w") -> RunStatus:
    runner = AgentRunner(CONFIG, trace_sink=sink)
    with use_llm_client(ScriptedLLMClient(weather_model())):
        result = await runner.execute(agent(), run_id=run_id, input_data=WEATHER_QUESTION)
    return result.status


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_otlp_exporter_sends_the_tree_with_genai_attributes(receiver: OTLPReceiver) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "weather-svc"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=receiver.traces_url)))
    try:
        assert await run(OpenTelemetryTraceSink(provider)) is RunStatus.SUCCEEDED
        await asyncio.to_thread(provider.force_flush)
    finally:
        await asyncio.to_thread(provider.shutdown)
    spans = receiver.wait_for_spans(4)
    print("\n" + format_span_tree(spans))
    assert format_span_tree(spans) == TREE
    assert receiver.errors == []
    assert {s.resource["service.name"] for s in spans} == {"weather-svc"}
    assert {s.scope for s in spans} == {"agent_runtime_core"}
    chat = next(s for s in spans if s.name.startswith("chat"))
    assert chat.kind == "SPAN_KIND_CLIENT"
    assert chat.attributes["gen_ai.operation.name"] == "chat"
    assert chat.attributes["gen_ai.request.model"] == "scripted-weather"
    assert chat.attributes["gen_ai.usage.input_tokens"] > 0
    tool = next(s for s in spans if s.name == "execute_tool get_weather")
    assert tool.attributes["gen_ai.tool.call.id"] == "call_0_get_weather"
    root = next(s for s in spans if s.parent_span_id is None)
    assert root.attributes["agent_runtime.run_id"] == "w"
    assert root.attributes["gen_ai.agent.name"] == "tool-agent"


async def test_langfuse_sink_posts_to_the_otel_endpoint_with_basic_auth(
    receiver: OTLPReceiver,
) -> None:
    sink = LangfuseTraceSink(PUBLIC, SECRET, host=receiver.url, schedule_delay=0.05)
    assert SECRET not in repr(sink)
    try:
        assert await run(sink) is RunStatus.SUCCEEDED
        await sink.flush()
    finally:
        await sink.close()
    spans = receiver.wait_for_spans(4)
    assert format_span_tree(spans) == TREE
    assert {r.path for r in receiver.requests} == {"/api/public/otel/v1/traces"}
    expected = "Basic " + base64.b64encode(f"{PUBLIC}:{SECRET}".encode()).decode()
    assert {r.headers["authorization"] for r in receiver.requests} == {expected}
    assert {r.content_type for r in receiver.requests} == {"application/x-protobuf"}
    assert {s.resource["service.name"] for s in spans} == {"agent-runtime"}


async def test_configure_langfuse_enables_it_in_the_default_sink(receiver: OTLPReceiver) -> None:
    configure(
        langfuse_enabled=True,
        langfuse_public_key=PUBLIC,
        langfuse_secret_key=SECRET,
        langfuse_host=receiver.url,
    )
    sink = default_trace_sink()
    # No application TracerProvider is set in this process: Langfuse alone.
    assert isinstance(sink, LangfuseTraceSink)
    assert default_trace_sink() is sink  # shared by every runner of the process
    try:
        assert await run(sink, "configured") is RunStatus.SUCCEEDED
    finally:
        await sink.close()  # sends the queue
    spans = receiver.wait_for_spans(4)
    assert {s.attributes["agent_runtime.run_id"] for s in spans} == {"configured"}


def test_langfuse_needs_both_keys() -> None:
    configure(langfuse_enabled=True, langfuse_public_key=PUBLIC)
    with pytest.raises(ConfigurationError, match="needs both keys"):
        default_trace_sink()
    with pytest.raises(ConfigurationError, match="http"):
        LangfuseTraceSink(PUBLIC, SECRET, host="ftp://example")


class GatedExporter(SpanExporter):
    """Holds every export until released, then hands it to the real exporter."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.started = threading.Event()
        self.release = threading.Event()
        self.results: list[SpanExportResult] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.started.set()
        self.release.wait(30)
        result = self.inner.export(spans)
        self.results.append(result)
        return result

    def shutdown(self) -> None:
        self.release.set()
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


async def test_a_langfuse_host_that_is_down_never_slows_or_fails_runs() -> None:
    host = f"http://127.0.0.1:{closed_port()}"
    real = OTLPSpanExporter(endpoint=host + "/api/public/otel/v1/traces", timeout=5)
    gated = GatedExporter(real)
    sink = LangfuseTraceSink(
        PUBLIC, SECRET, host=host, export_timeout=5, schedule_delay=0.01, exporter=gated
    )
    # Exports cannot finish while the gate is closed: had the run waited on one, it would hang.
    statuses = await asyncio.wait_for(
        asyncio.gather(*(run(sink, f"down-{i}") for i in range(3))), 20
    )
    assert statuses == [RunStatus.SUCCEEDED] * 3
    assert await asyncio.to_thread(gated.started.wait, 10), "the export thread picked up spans"
    assert gated.results == [], "the runs returned while their export was still pending"
    gated.release.set()
    await asyncio.wait_for(sink.close(), 30)  # the down host is retried within export_timeout
    assert gated.results and all(r is SpanExportResult.FAILURE for r in gated.results)


async def test_a_failing_sink_does_not_stop_the_others() -> None:
    seen: list[str] = []

    class Broken(TraceSink):
        async def trace(self, event: dict[str, Any]) -> None:
            raise RuntimeError("sink down")

    class Recorder(TraceSink):
        async def trace(self, event: dict[str, Any]) -> None:
            seen.append(event["type"])

    assert await run(MultiTraceSink([Broken(), Recorder()])) is RunStatus.SUCCEEDED
    assert seen[0] == "run.started" and seen[-1] == "run.succeeded"


def test_receiver_rejects_what_is_not_otlp(receiver: OTLPReceiver) -> None:
    import urllib.request

    request = urllib.request.Request(
        receiver.traces_url,
        data=b"\xff\x00garbage",
        headers={"Content-Type": "application/x-protobuf"},
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=5)  # noqa: S310 - loopback only
    info.value.close()
    assert info.value.code == 400
    assert receiver.errors and receiver.spans == []


async def test_default_sink_includes_opentelemetry_only_when_the_app_set_a_provider(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from opentelemetry import trace

    import agent_runtime_core.tracing as tracing

    assert tracing._otel_provider_configured() is False  # the API's default proxy provider
    assert default_trace_sink() is None  # nothing to trace to: no per-event cost in the runner
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: TracerProvider())
    assert tracing._otel_provider_configured() is True
    sink = default_trace_sink()
    assert isinstance(sink, OpenTelemetryTraceSink)
    configure(langfuse_enabled=True, langfuse_public_key=PUBLIC, langfuse_secret_key=SECRET, langfuse_host="http://127.0.0.1:9")
    both = default_trace_sink()
    assert isinstance(both, MultiTraceSink)
    assert [type(s) for s in both.sinks] == [OpenTelemetryTraceSink, LangfuseTraceSink]
    await both.sinks[1].close()
