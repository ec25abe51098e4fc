"""Benchmark 5: each framework's conformance scenario, natively vs through its adapter and AgentRunner.

The weather scenario (the model asks for `get_weather`, then answers) on the loopback
`OpenAICompatibleServer`, each framework with its real OpenAI client, built by the adapter's own
`tests/scenarios.py` builders so both sides run the very same graph, crew or agent:

- LangGraph: native `graph.ainvoke(...)` vs `runner.execute(LangGraphRuntime(graph))`;
- CrewAI: native `crew.copy().akickoff(...)` vs `runner.execute(CrewAIRuntime(crew))`;
- OpenAI Agents SDK: native `Runner.run(agent, ...)` vs `runner.execute(OpenAIAgentsRuntime(agent))`;
- Pydantic AI: native `agent.run(...)` vs `runner.execute(PydanticAIRuntime(agent))`.

The runner has in-memory backends. Wall time per run, K runs per block, blocks interleaved
(native, adapter, native, ...). Target: under 5% added wall time; the added time is also given
per event the adapter emitted. Needs the frameworks: run with `.venv-all/bin/python`.

    python -m bench.adapters [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import logging
import time
import warnings
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any

from agent_runtime_core import AgentRunner, RunnerConfig, RunStatus
from agent_runtime_core.events.memory import InMemoryEventBus
from agent_runtime_core.state.memory import InMemoryStateStore
from agent_runtime_core.testing import OpenAICompatibleServer
from agent_runtime_core.testing.conformance import (
    WEATHER_ANSWER,
    WEATHER_QUESTION,
    check_weather_run,
    weather_model,
)
from bench._harness import ROOT, Row, Stat, Table, ratios

TARGET_PCT = 5.0


def _scenarios(framework: str) -> ModuleType:
    """`adapters/<framework>/tests/scenarios.py`, loaded under a name of its own (all three
    adapters call theirs `scenarios`)."""
    path = ROOT / "adapters" / framework / "tests" / "scenarios.py"
    spec = importlib.util.spec_from_file_location(f"bench_scenarios_{framework}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


Case = tuple[Callable[[], Awaitable[str]], Any, Any]
"""(native run returning the answer, the adapter's runtime, the scripted model to serve)."""


def _langgraph(base_url: str) -> tuple[Callable[[], Awaitable[str]], Any]:
    from agent_runtime_langgraph import LangGraphRuntime

    s = _scenarios("langgraph")
    graph = s.build_react_graph(s.chat_model(base_url), [s.weather_tool()])

    async def native() -> str:
        state = await graph.ainvoke({"messages": [{"role": "user", "content": WEATHER_QUESTION}]})
        return str(state["messages"][-1].content)

    return native, LangGraphRuntime(graph, key="bench-langgraph")


def _crewai(base_url: str) -> tuple[Callable[[], Awaitable[str]], Any]:
    s = _scenarios("crewai")
    from agent_runtime_crewai import CrewAIRuntime

    crew = s.build_weather_crew(base_url)

    async def native() -> str:
        output = await crew.copy().akickoff(inputs={"input": WEATHER_QUESTION})
        return str(output.raw)

    return native, CrewAIRuntime(crew, key="bench-crewai")


def _openai_agents(base_url: str) -> tuple[Callable[[], Awaitable[str]], Any]:
    s = _scenarios("openai_agents")
    from agents import Agent, Runner, function_tool

    from agent_runtime_core.testing.conformance import get_weather
    from agent_runtime_openai_agents import OpenAIAgentsRuntime

    agent = Agent(name="weather", instructions="Answer weather questions with the get_weather tool.",
                  tools=[function_tool(get_weather)], model=s.make_model(base_url))

    async def native() -> str:
        result = await Runner.run(agent, WEATHER_QUESTION)
        return str(result.final_output)

    native.close = s.close_clients  # type: ignore[attr-defined]
    return native, OpenAIAgentsRuntime(agent, key="bench-openai-agents")


def _pydantic_ai(base_url: str) -> tuple[Callable[[], Awaitable[str]], Any]:
    s = _scenarios("pydantic_ai")
    runtime = s.build_weather_runtime(base_url, key="bench-pydantic-ai")

    async def native() -> str:
        result = await runtime.agent.run(WEATHER_QUESTION)
        return str(result.output)

    native.close = s.close_clients  # type: ignore[attr-defined]
    return native, runtime


FRAMEWORKS: list[tuple[str, Callable[[str], tuple[Callable[[], Awaitable[str]], Any]], Callable[[], Any]]] = [
    ("LangGraph", _langgraph, weather_model),
    ("CrewAI", _crewai, lambda: _scenarios("crewai").weather_model()),
    ("OpenAI Agents", _openai_agents, weather_model),
    ("Pydantic AI", _pydantic_ai, weather_model),
]


def _no_nagle() -> None:
    """Answer without Nagle's delay on the loopback server's sockets.

    `OpenAICompatibleServer` writes a JSON response's headers and body in two writes; with Nagle
    on, the body waits for the client's delayed ACK (about 40 ms on Linux loopback). Streamed
    responses dodge it, plain ones do not, so without this the native runs of LangGraph and the
    OpenAI Agents SDK (plain requests) would pay a stall their adapter runs (streamed) do not.
    `disable_nagle_algorithm` is the standard library's switch for it (TCP_NODELAY)."""
    from agent_runtime_core.testing.servers import _http

    _http.RequestHandler.disable_nagle_algorithm = True


async def _measure(name: str, build: Callable[[str], tuple[Callable[[], Awaitable[str]], Any]], model: Any,
                   per_block: int, repeats: int) -> tuple[list[float], list[float], int]:
    """Seconds per run (native, adapter) for each repeat, and events per adapter run."""
    _no_nagle()
    server = OpenAICompatibleServer(model).start()
    try:
        native, runtime = build(server.base_url)
        runner = AgentRunner(RunnerConfig(run_timeout_seconds=60, max_retries=0),
                             event_bus=InMemoryEventBus(), state_store=InMemoryStateStore())

        async def adapter() -> int:
            result = await runner.execute(runtime, input_data=WEATHER_QUESTION)
            if result.status is not RunStatus.SUCCEEDED:
                raise RuntimeError(f"{name} adapter run failed: {result.error}")
            return len(await runner.event_bus.get_events(str(result.run_id)))

        # Warm up both paths, and check that they do the scenario right.
        answer = await native()
        if "Sunny, 22°C in Paris" not in answer:
            raise RuntimeError(f"{name} native run answered {answer!r}, not {WEATHER_ANSWER!r}")
        result = await runner.execute(runtime, input_data=WEATHER_QUESTION)
        check_weather_run(result, await runner.event_bus.get_events(str(result.run_id)))
        events = 0
        native_s: list[float] = []
        adapter_s: list[float] = []
        for _ in range(repeats):
            gc.collect()
            t0 = time.perf_counter()
            for _ in range(per_block):
                await native()
            native_s.append((time.perf_counter() - t0) / per_block)
            gc.collect()
            t0 = time.perf_counter()
            for _ in range(per_block):
                events = await adapter()
            adapter_s.append((time.perf_counter() - t0) / per_block)
        close = getattr(native, "close", None)
        if close is not None:
            await close()  # the SDK clients' sockets, before the loop closes
        return native_s, adapter_s, events
    finally:
        server.stop()


def run(quick: bool = False, repeats: int = 5, frameworks: list[str] | None = None) -> list[Table]:
    """Measure and return the table."""
    per_block = 1 if quick else 8
    table = Table("5. Adapter overhead: conformance scenario on the loopback model server", repeats=repeats)
    warnings.simplefilter("ignore")  # frameworks' deprecation chatter is not ours to show here
    logging.getLogger("crewai").setLevel(logging.ERROR)  # "approximate token count" per call
    logging.getLogger("openai.agents").setLevel(logging.ERROR)  # "OPENAI_API_KEY is not set"

    async def main() -> None:
        for name, build, model in FRAMEWORKS:
            if frameworks is not None and name not in frameworks:
                continue
            native_s, adapter_s, events = await _measure(name, build, model(), per_block, repeats)
            added_pct = Stat([(a - n) / n * 100 for n, a in zip(native_s, adapter_s, strict=True)])
            per_event = Stat([(a - n) / events * 1e6 for n, a in zip(native_s, adapter_s, strict=True)])
            table.add(Row(f"{name}: wall time per run", Stat([a * 1e3 for a in adapter_s]), "ms",
                          Stat([n * 1e3 for n in native_s]), ratios(adapter_s, native_s)))
            table.add(Row(f"{name}: added wall time", added_pct, "%", target=f"< {TARGET_PCT:.0f}%",
                          met=added_pct.median < TARGET_PCT))
            table.add(Row(f"{name}: added per event ({events} events)", per_event, "µs"))
            # Let the frameworks' background work (CrewAI's event handlers) settle between frameworks.
            await asyncio.sleep(0.2)

    asyncio.run(main())
    table.notes.append(f"{per_block} runs per block, one at a time; baseline = the same graph/crew/agent run "
                       "natively; ours = through the adapter and AgentRunner (in-memory bus and store).")
    return [table]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    parser.add_argument("--only", action="append", help="LangGraph, CrewAI, OpenAI Agents or Pydantic AI (repeatable)")
    args = parser.parse_args()
    for t in run(args.quick, frameworks=args.only):
        t.print()
