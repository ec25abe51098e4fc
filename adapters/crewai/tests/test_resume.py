"""Completed task outputs survive a crash: a re-executed run does not redo finished tasks."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import scenarios

from agent_runtime_core import AgentRunner, EventType, RunnerConfig, RunStatus
from agent_runtime_core.events.memory import InMemoryEventBus
from agent_runtime_core.state.memory import InMemoryStateStore
from agent_runtime_core.state.sqlite import SQLiteStateStore
from agent_runtime_core.testing.conformance import check_grammar, weather_for
from agent_runtime_core.testing.scripted import ScriptedModel, fail
from agent_runtime_crewai import state_key

FORECAST = f"The weather in Lisbon: {weather_for('Lisbon')}."
ANSWER = f"{scenarios.TWO_STEP_ANSWER_PREFIX} {FORECAST}"


@pytest.mark.subprocess
async def test_resume_after_sigkill_skips_finished_task(serve, tmp_path: Path):
    server = serve(scenarios.two_step_model(writer_delay=60.0))
    db_path = tmp_path / "state.db"
    run_id = "crash-run"
    log_path = tmp_path / "child.log"
    with log_path.open("wb") as log:
        child = await asyncio.create_subprocess_exec(
            sys.executable, str(Path(__file__).parent / "_resume_child.py"), server.base_url, str(db_path), run_id,
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    store = None
    try:
        deadline = time.monotonic() + 60
        while server.model_calls < 3:  # task 1: two calls; task 2: its (slow) call is in flight
            assert child.returncode is None, log_path.read_text(errors="replace")
            assert time.monotonic() < deadline, "the child never reached task 2"
            await asyncio.sleep(0.05)
        store = SQLiteStateStore(db_path)
        while await store.get(state_key(run_id, 0)) is None:  # task 1's output is stored
            assert time.monotonic() < deadline, "task 1's output was never stored"
            await asyncio.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        await asyncio.wait_for(child.wait(), timeout=10)
    finally:
        if child.returncode is None:
            child.kill()
            await asyncio.wait_for(child.wait(), timeout=10)
    assert child.returncode == -signal.SIGKILL
    assert await store.get(state_key(run_id, 1)) is None  # task 2 never finished

    calls_before = server.model_calls
    runner = AgentRunner(RunnerConfig(max_retries=0), state_store=store)
    result = await runner.execute(scenarios.build_two_step_runtime(server.base_url), run_id, "What's the weather in Lisbon?")
    events = await runner.event_bus.get_events(run_id)
    await store.close()

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert server.model_calls - calls_before == 1  # only task 2's model call: task 1 is not redone
    assert result.final_output["response"] == ANSWER  # task 2 got task 1's stored output as context
    assert [t["raw"] for t in result.final_output["tasks"]] == [FORECAST, ANSWER]
    check_grammar(events, strict=True)
    skipped = [e.payload for e in events if e.type is EventType.STEP_SKIPPED]
    assert [(p["name"], p["task_index"]) for p in skipped] == [("forecast", 0)]
    started = [e.payload["name"] for e in events if e.type is EventType.STEP_STARTED and e.payload["kind"] == "task"]
    assert started == ["summary"]
    assert not [e for e in events if e.type is EventType.TOOL_CALL]


async def test_completed_run_reexecuted_makes_no_model_call(serve):
    server = serve(scenarios.two_step_model())
    runner = AgentRunner(RunnerConfig(max_retries=0), state_store=InMemoryStateStore())
    runtime = scenarios.build_two_step_runtime(server.base_url)
    first = await runner.execute(runtime, "again", "What's the weather in Lisbon?")
    assert first.status is RunStatus.SUCCEEDED and server.model_calls == 3
    # At-least-once delivery: the same run executed again completes from its stored outputs.
    second = await runner.execute(runtime, "again", "What's the weather in Lisbon?")
    assert second.status is RunStatus.SUCCEEDED
    assert server.model_calls == 3
    assert second.final_output["response"] == first.final_output["response"] == ANSWER


async def test_retry_resumes_at_the_failed_task(serve):
    retrying = threading.Event()

    class Bus(InMemoryEventBus):
        async def publish(self, event):
            if event.type is EventType.RUN_RETRYING:
                retrying.set()
            await super().publish(event)

    base = scenarios.two_step_model()

    def first(request):
        # The writer (task 2) is refused until the runner retries the run.
        if "get_weather" not in request.tool_names and not retrying.is_set():
            return fail(500, "the writer is down")
        return base._entries[0](request)

    server = serve(ScriptedModel([first, base._entries[1]], model=scenarios.MODEL_NAME))
    runner = AgentRunner(
        RunnerConfig(max_retries=1, retry_backoff_seconds=0.01), state_store=InMemoryStateStore(), event_bus=Bus()
    )
    result = await runner.execute(scenarios.build_two_step_runtime(server.base_url), "retry", "What's the weather in Lisbon?")
    events = await runner.event_bus.get_events("retry")

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.attempts == 2
    assert result.final_output["response"] == ANSWER
    second_attempt = events[[e.type for e in events].index(EventType.RUN_RETRYING) + 1 :]
    assert [e.payload["name"] for e in second_attempt if e.type is EventType.STEP_SKIPPED] == ["forecast"]
    assert not [e for e in second_attempt if e.type is EventType.TOOL_CALL]
    # Attempt 2 made exactly one model call: the writer's.
    assert len([e for e in second_attempt if e.type is EventType.LLM_CALL_STARTED]) == 1


async def test_changed_crew_does_not_reuse_stale_outputs(serve):
    server = serve(scenarios.two_step_model())
    store = InMemoryStateStore()
    await store.set(state_key("stale", 0), {"index": 0, "fingerprint": "another crew", "raw": "stale", "step": "x"})
    runner = AgentRunner(RunnerConfig(max_retries=0), state_store=store)
    result = await runner.execute(scenarios.build_two_step_runtime(server.base_url), "stale", "What's the weather in Lisbon?")
    assert result.status is RunStatus.SUCCEEDED
    assert server.model_calls == 3
    assert result.final_output["response"] == ANSWER
    assert (await store.get(state_key("stale", 0)))["raw"] == FORECAST
