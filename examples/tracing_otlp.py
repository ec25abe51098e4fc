"""Send a run's OpenTelemetry span tree to any OTLP/HTTP collector (Jaeger, Tempo, Langfuse, ...).

Offline by default: the model is scripted and the "collector" is the loopback `OTLPReceiver`, so
the script prints the tree it received. Point it at a real collector instead with
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://localhost:4318/v1/traces python examples/tracing_otlp.py`
(Jaeger: `docker run -p 16686:16686 -p 4318:4318 jaegertracing/all-in-one`, then open
http://localhost:16686).

Needs: pip install 'agent-runtime-core[otel]' opentelemetry-proto
"""

from __future__ import annotations

import asyncio
import os

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from agent_runtime_core import AgentRunner, Tool, ToolRegistry
from agent_runtime_core._demo import DemoToolAgent
from agent_runtime_core.llm import use_llm_client
from agent_runtime_core.testing import ScriptedLLMClient
from agent_runtime_core.testing.conformance import WEATHER_QUESTION, get_weather, weather_model
from agent_runtime_core.testing.servers.otlp import OTLPReceiver, format_span_tree
from agent_runtime_core.tracing import default_trace_sink


async def main() -> None:
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    receiver = None if endpoint else OTLPReceiver().start()
    # 1. The application configures OpenTelemetry once, as it would for any library.
    provider = TracerProvider(resource=Resource.create({"service.name": "weather-agent"}))
    exporter = OTLPSpanExporter(endpoint=endpoint or receiver.traces_url)  # type: ignore[union-attr]
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    # 2. The runner's default sink turns every run's events into a span tree on that provider.
    runner = AgentRunner(trace_sink=default_trace_sink())
    agent = DemoToolAgent(ToolRegistry([Tool.from_function(get_weather, name="get_weather")]))
    with use_llm_client(ScriptedLLMClient(weather_model())):
        result = await runner.execute(agent, input_data=WEATHER_QUESTION)
    print("run:", result.status.value, result.final_output)

    await asyncio.to_thread(provider.shutdown)  # sends what is queued
    if receiver is not None:
        spans = receiver.wait_for_spans(4)
        print(format_span_tree(spans, attributes=["gen_ai.usage.input_tokens", "gen_ai.tool.call.id"]))
        receiver.stop()
    else:
        print(f"spans sent to {endpoint}")


if __name__ == "__main__":
    asyncio.run(main())
