"""Benchmark 6: what OpenTelemetry tracing costs a run: `OpenTelemetryTraceSink` on vs off.

The run: the conformance weather scenario with the README's tool agent and the scripted model
in-process (`ScriptedLLMClient`: no HTTP), so each run has a model call, a tool call, another
model call and an answer: 9+ events, a root span and four child spans. Off: `AgentRunner` without
a trace sink. On: `OpenTelemetryTraceSink` on an SDK `TracerProvider` with a `BatchSpanProcessor`
exporting over OTLP/HTTP to a loopback `OTLPReceiver` in another process. The timed part of "on"
ends with `force_flush()`, so every span of the repeat has been exported, not left in a queue.

    python -m bench.tracing [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import subprocess
import sys
import time
from typing import Any

from agent_runtime_core import AgentRunner, RunnerConfig, Tool, ToolRegistry
from agent_runtime_core._demo import DemoToolAgent
from agent_runtime_core.events import InMemoryEventBus
from agent_runtime_core.llm import use_llm_client
from agent_runtime_core.state import InMemoryStateStore
from agent_runtime_core.testing import ScriptedLLMClient
from agent_runtime_core.testing.conformance import WEATHER_QUESTION, get_weather, weather_model
from bench._harness import ROOT, Row, Stat, Table, child_env, kill_pid, ratios, spawn

SPANS_PER_RUN = 4  # invoke_agent, chat, execute_tool, chat


def _provider(url: str) -> Any:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
    return provider


async def _runs(runner: AgentRunner, agent: DemoToolAgent, n: int, flush: Any = None) -> float:
    with use_llm_client(ScriptedLLMClient(weather_model())):
        t0 = time.perf_counter()
        for _ in range(n):
            await runner.execute(agent, input_data=WEATHER_QUESTION)
        if flush is not None:
            flush()
        return time.perf_counter() - t0


def run(quick: bool = False, repeats: int = 5) -> list[Table]:
    """Measure and return the table."""
    from agent_runtime_core.tracing.otel import OpenTelemetryTraceSink

    n = 50 if quick else 1_000
    receiver = spawn([sys.executable, "-m", "bench._otlp_receiver"], env=child_env(), cwd=ROOT,
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert receiver.stdout is not None and receiver.stdin is not None
        url = receiver.stdout.readline().decode().strip()
        if not url.startswith("http"):
            raise RuntimeError("the OTLP receiver did not start")
        provider = _provider(url)
        agent = DemoToolAgent(ToolRegistry([Tool.from_function(get_weather, name="get_weather")]))

        def runner(sink: Any) -> AgentRunner:
            return AgentRunner(RunnerConfig(max_retries=0), event_bus=InMemoryEventBus(),
                               state_store=InMemoryStateStore(), trace_sink=sink)

        def flush() -> None:
            if not provider.force_flush(30_000):
                raise RuntimeError("spans were not exported within 30 s")

        off_s: list[float] = []
        on_s: list[float] = []

        async def main() -> None:
            await _runs(runner(None), agent, min(n, 50))  # warm up
            await _runs(runner(OpenTelemetryTraceSink(provider)), agent, min(n, 50), flush)
            for _ in range(repeats):
                gc.collect()
                off_s.append(await _runs(runner(None), agent, n))
                gc.collect()
                on_s.append(await _runs(runner(OpenTelemetryTraceSink(provider)), agent, n, flush))

        asyncio.run(main())
        receiver.stdin.write(b"count\n")
        receiver.stdin.flush()
        spans = int(receiver.stdout.readline())
        provider.shutdown()
    finally:
        kill_pid(receiver)
    traced_runs = repeats * n + min(n, 50)
    table = Table("6. Tracing overhead: OpenTelemetry on (batch export to loopback OTLP) vs off", repeats=repeats)
    on = Stat([n / s for s in on_s])
    off = Stat([n / s for s in off_s])
    table.add(Row("runs/s", on, "runs/s", off, ratios(on.values, off.values)))
    table.add(Row("time per run", Stat([s / n * 1e6 for s in on_s]), "µs", Stat([s / n * 1e6 for s in off_s]),
                  ratios(on_s, off_s)))
    table.add(Row("added per run", Stat([(a - b) / n * 1e6 for a, b in zip(on_s, off_s, strict=True)]), "µs"))
    table.notes.append(f"{n:,} runs per repeat, one at a time; ours = tracing on, baseline = off. The receiver "
                       f"got {spans:,} spans for {traced_runs:,} traced runs ({spans / max(traced_runs, 1):.2f} per "
                       f"run; {SPANS_PER_RUN} expected: invoke_agent, chat, execute_tool, chat); fewer means "
                       "the batch processor dropped spans.")
    return [table]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    for t in run(parser.parse_args().quick):
        t.print()
