"""CrewAIRuntime's API, inputs, routing, ordering, cancellation hooks, telemetry and example."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import scenarios

from agent_runtime_core import RunContext, RunStatus, UserError
from agent_runtime_core.integration import RunRecorder
from agent_runtime_core.testing.conformance import check_weather_run, weather_for
from agent_runtime_crewai import CrewAIRuntime, _translate, default_inputs
from agent_runtime_crewai import runtime as runtime_module
from agent_runtime_crewai._state import Saved

ROOT = Path(__file__).resolve().parents[3]


# -- construction and inputs ---------------------------------------------------------------------


def test_rejects_what_is_not_a_crew():
    with pytest.raises(UserError, match="crewai.Crew"):
        CrewAIRuntime(object(), key="x")  # type: ignore[arg-type]
    with pytest.raises(UserError, match="key"):
        CrewAIRuntime(scenarios.build_weather_crew("http://127.0.0.1:1/v1"), key="")
    with pytest.raises(UserError, match="inputs"):
        CrewAIRuntime(scenarios.build_weather_crew("http://127.0.0.1:1/v1"), key="x", inputs=42)  # type: ignore[arg-type]


def test_default_inputs():
    ctx = RunContext(input_messages=[
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": [{"type": "text", "text": "Weather in "}, {"type": "text", "text": "Rome?"}]},
    ])
    ctx.input_data = {"messages": ctx.input_messages, "inputs": {"topic": "AI", "input": "override"}}
    inputs = default_inputs(ctx)
    assert inputs == {
        "input": "override",
        "messages": "system: Be brief.\nuser: Hi\nassistant: Hello\nuser: Weather in Rome?",
        "topic": "AI",
    }
    assert default_inputs(RunContext())["input"] == ""


async def test_inputs_from_input_data_and_mappers(serve, runner):
    from crewai import Task

    server = serve(scenarios.weather_model())
    crew = scenarios.build_weather_crew(server.base_url)
    crew.tasks[0] = Task(description="What's the weather in {city}?", expected_output="One sentence.",
                         agent=crew.agents[0])
    # `input_data["inputs"]` reaches the crew's kickoff inputs.
    result = await runner.execute(CrewAIRuntime(crew, key="a"), input_data={"messages": [], "inputs": {"city": "Rome"}})
    check_weather_run(result, await runner.event_bus.get_events(result.run_id), city="Rome")
    # A mapping is merged over the default; a callable replaces it.
    result = await runner.execute(CrewAIRuntime(crew, key="b", inputs={"city": "Oslo"}), input_data="hi")
    check_weather_run(result, await runner.event_bus.get_events(result.run_id), city="Oslo")
    seen: list[RunContext] = []

    def mapper(ctx: RunContext) -> dict[str, str]:
        seen.append(ctx)
        return {"city": ctx.input_messages[-1]["content"].upper()[:1] + "ienna"}

    result = await runner.execute(CrewAIRuntime(crew, key="c", inputs=mapper), input_data="v")
    check_weather_run(result, await runner.event_bus.get_events(result.run_id), city="Vienna")
    assert seen and seen[0].run_id == result.run_id
    assert all(task.output is None for task in crew.tasks)  # runs use copies: the crew is untouched


async def test_crew_factory(serve, runner):
    server = serve(scenarios.weather_model())
    built = []

    def factory():
        built.append(scenarios.build_weather_crew(server.base_url))
        return built[-1]

    runtime = CrewAIRuntime(factory, key="factory")
    result = await runner.execute(runtime, input_data="What's the weather in Paris?")
    check_weather_run(result, await runner.event_bus.get_events(result.run_id))
    assert len(built) == 1
    bad = await runner.execute(CrewAIRuntime(lambda: "not a crew", key="bad"), input_data="x")  # type: ignore[arg-type,return-value]
    assert bad.status is RunStatus.FAILED and "crewai.Crew" in bad.error.message


# -- routing and ordering ------------------------------------------------------------------------


def _event(seq, type="not_translated", **fields):
    return SimpleNamespace(**{"type": type, "emission_sequence": seq, "task_id": None, "agent_id": None,
                              "source_fingerprint": None, **fields})


async def _bridge_for_test(server_url: str) -> tuple[_translate.Translation, list[int]]:
    crew = scenarios.build_weather_crew(server_url).copy()
    ctx = RunContext()
    bridge = _translate.Translation(RunRecorder(ctx), crew, Saved(ctx, crew), gap_seconds=0.2)
    translated: list[int] = []

    async def record(source, event):
        translated.append(event.emission_sequence)

    bridge._translate = record  # type: ignore[method-assign]
    bridge.start()
    return bridge, translated


def _route_without_contextvar(event):
    return contextvars.Context().run(_translate._route, None, event)


async def test_events_are_released_in_emission_order():
    bridge, translated = await _bridge_for_test("http://127.0.0.1:1/v1")
    try:
        for seq in (3, 1, 2, 5):  # out of order, and 4 never arrives
            bridge._receive(None, _event(seq))
        await asyncio.sleep(0.05)
        assert translated == [1, 2, 3]
        await asyncio.sleep(0.5)  # the gap at 4 is skipped after gap_seconds
        assert translated == [1, 2, 3, 5]
        bridge._receive(None, _event(4))  # a late event is passed on, not lost
        await asyncio.sleep(0.05)
        assert translated == [1, 2, 3, 5, 4]
        bridge._receive(None, _event(7))
        bridge._receive(None, _event(6))
    finally:
        await bridge.finish(flush=True)  # finishing releases everything still held, in order
    assert translated == [1, 2, 3, 5, 4, 6, 7]


async def test_events_without_the_contextvar_are_routed_by_crew_ids():
    bridge, translated = await _bridge_for_test("http://127.0.0.1:1/v1")
    task_id = str(bridge.crew.tasks[0].id)
    try:
        # A handler thread with an empty context (no run contextvar), as if CrewAI had not copied it.
        def deliver():
            contextvars.Context().run(_translate._on_event, None, _event(1, task_id=task_id))

        thread = threading.Thread(target=deliver)
        thread.start()
        thread.join()
        await asyncio.sleep(0.05)
        assert translated == [1]
        assert _route_without_contextvar(_event(2, task_id="someone-else")) is None
        assert _route_without_contextvar(_event(2, agent_id=str(bridge.crew.agents[0].id))) is bridge
    finally:
        await bridge.finish(flush=False)
    assert _route_without_contextvar(_event(1, task_id=task_id)) is None  # unregistered when done


# -- cancellation --------------------------------------------------------------------------------


@pytest.mark.parametrize("cancel_orphans", [True, False], ids=["orphans-cancelled", "hooks-only"])
async def test_cancel_stops_orphaned_async_tasks(serve, runner, monkeypatch, cancel_orphans):
    """Cancelling `akickoff` does not stop an `async_execution` task it is not awaiting. The
    adapter cancels such orphans; and, even when it does not (`hooks-only`), its global
    `before_llm_call`/`before_tool_call` hooks keep them from calling the model or tools again."""
    from crewai import Agent, Crew, Task

    found: list[int] = []
    original = functools.partial(runtime_module._stop_orphans, cancel=cancel_orphans)
    monkeypatch.setattr(runtime_module, "_stop_orphans", lambda crew: found.append(original(crew)) or found[-1])
    delay = 1.5
    server = serve(scenarios.slow_model(delay=delay))
    llm = scenarios._llm(server.base_url)
    agents = [Agent(role=f"Forecaster {i}", goal="Weather.", backstory="Tools.", tools=[scenarios._weather_tool()],
                    llm=llm, max_iter=4, max_retry_limit=0) for i in range(2)]
    tasks = [Task(description=f"What's the weather in {city}?", expected_output="One sentence.", agent=agent,
                  async_execution=True) for city, agent in zip(["Paris", "Rome"], agents, strict=True)]
    tasks.append(Task(description="Summarize.", expected_output="One line.", agent=agents[0]))
    runtime = CrewAIRuntime(Crew(agents=agents, tasks=tasks), key="orphans")

    run = asyncio.create_task(runner.execute(runtime, "orphans", "go"))
    deadline = time.monotonic() + 30
    while server.model_calls < 2:  # both async tasks' first (slow) calls are in flight
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    await runner.cancel("orphans")
    result = await asyncio.wait_for(run, timeout=10)
    assert result.status is RunStatus.CANCELLED
    assert found == [1]  # the async task `akickoff` was not awaiting
    await asyncio.sleep(delay + 1.5)  # the in-flight calls return; nothing may follow them
    assert server.model_calls == 2


async def test_hooks_block_only_the_stopped_run():
    from crewai.hooks import get_before_llm_call_hooks, get_before_tool_call_hooks

    assert _translate._before_call in get_before_llm_call_hooks()
    assert _translate._before_call in get_before_tool_call_hooks()
    bridge, _ = await _bridge_for_test("http://127.0.0.1:1/v1")
    mine = SimpleNamespace(crew=bridge.crew, agent=None, task=None)
    other = SimpleNamespace(crew=SimpleNamespace(id="another-crew"), agent=None, task=None)
    try:
        assert _translate._before_call(mine) is None
        bridge.ctx.request_cancel()
        assert _translate._before_call(mine) is False
        assert _translate._before_call(mine) is False
        # Without the contextvar (a thread that did not copy the context): found by the crew's id.
        assert contextvars.Context().run(_translate._before_call, mine) is False
        assert contextvars.Context().run(_translate._before_call, other) is None
    finally:
        await bridge.finish(flush=False)
    assert bridge.should_block()  # a finished run stays blocked


# -- telemetry -----------------------------------------------------------------------------------

_TELEMETRY_PROBE = """
import json, os, sys
import agent_runtime_crewai
lazy = "crewai" not in sys.modules
before = {k: os.environ.get(k) for k in ("CREWAI_DISABLE_TELEMETRY", "CREWAI_DISABLE_TRACKING",
                                         "CREWAI_TRACING_ENABLED", "OTEL_SDK_DISABLED")}
agent_runtime_crewai.enable_crewai_telemetry()
after = {k: os.environ.get(k) for k in before}
print(json.dumps({"before": before, "after": after, "lazy": lazy}))
"""


def _probe(**env: str) -> dict[str, Any]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("CREWAI_", "OTEL_SDK")) and k != "AGENT_RUNTIME_CREWAI_TELEMETRY"}
    out = subprocess.run([sys.executable, "-c", _TELEMETRY_PROBE], env={**clean, **env},
                         capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_telemetry_off_by_default_and_switchable():
    default = _probe()
    assert default["lazy"]  # importing the adapter does not import CrewAI (about 4 s)
    assert default["before"] == {"CREWAI_DISABLE_TELEMETRY": "true", "CREWAI_DISABLE_TRACKING": "true",
                                 "CREWAI_TRACING_ENABLED": "false", "OTEL_SDK_DISABLED": None}
    assert default["after"] == dict.fromkeys(default["before"])  # enable_crewai_telemetry() undoes them
    # An explicit choice is never overridden (nor removed).
    explicit = _probe(CREWAI_TRACING_ENABLED="true")
    assert explicit["before"]["CREWAI_TRACING_ENABLED"] == explicit["after"]["CREWAI_TRACING_ENABLED"] == "true"
    assert explicit["before"]["CREWAI_DISABLE_TELEMETRY"] == "true"
    # Opting in leaves CrewAI's settings alone.
    opted = _probe(AGENT_RUNTIME_CREWAI_TELEMETRY="on")
    assert opted["before"] == dict.fromkeys(opted["before"])


# -- the example ---------------------------------------------------------------------------------


@pytest.mark.subprocess
def test_example_runs_offline():
    example = ROOT / "examples" / "crewai_agent.py"
    out = subprocess.run([sys.executable, str(example)], capture_output=True, text=True, timeout=90, check=True)
    assert "run.succeeded" in out.stdout
    assert "tool.call" in out.stdout and "get_weather" in out.stdout
    assert f"answer: The weather in Paris: {weather_for('Paris')}." in out.stdout
    assert "model calls: 2" in out.stdout
