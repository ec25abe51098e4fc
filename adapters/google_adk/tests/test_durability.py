"""Resume after a crash: the ADK session is written to the StateStore as ADK appends each event
(a model response before its tools run), and a run executed again resumes ADK's invocation from
it, so no model call whose answer was saved is made again. A tool that was running when the
process died runs again (at least once)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from google.adk.agents import LlmAgent
from google.adk.models.lite_llm import LiteLlm
from scenarios import build_weather_runtime

from agent_runtime_core import AgentRunner, EventType, RunnerConfig, RunStatus
from agent_runtime_core.events.memory import InMemoryEventBus
from agent_runtime_core.state import InMemoryStateStore
from agent_runtime_core.testing import ScriptedModel, ScriptRequest, call_tool, fail, reply
from agent_runtime_core.testing.conformance import (
    WEATHER_ANSWER,
    WEATHER_QUESTION,
    tool_result_text,
    weather_for,
    weather_model,
)
from agent_runtime_google_adk import GoogleADKRuntime

CHILD = Path(__file__).resolve().parent / "crash_child.py"


def run_child(python: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    process = subprocess.Popen([python, str(CHILD), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = process.communicate(timeout=75)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.mark.subprocess
@pytest.mark.timeout(180)
def test_sigkill_inside_tool_then_rerun_does_not_repeat_the_model_call(serve, python, child_env, tmp_path) -> None:
    server = serve(weather_model())
    db, log = str(tmp_path / "state.db"), str(tmp_path / "tool.log")

    crashed = run_child(python, child_env, server.base_url, db, "run-crash", log, "crash")
    assert crashed.returncode == -9, crashed.stderr  # SIGKILL inside the tool
    assert server.model_calls == 1
    assert len(Path(log).read_text().splitlines()) == 1

    rerun = run_child(python, child_env, server.base_url, db, "run-crash", log, "ok")
    assert rerun.returncode == 0, rerun.stderr
    outcome = json.loads(rerun.stdout.strip().splitlines()[-1])
    assert outcome["status"] == "succeeded", outcome
    assert outcome["final_output"]["response"] == WEATHER_ANSWER
    # The first model call's answer was in the saved session: only the second call is made.
    assert server.model_calls == 2
    assert [len(r.body["messages"]) for r in server.requests] == [2, 4]  # system+user; +call, +result
    # The interrupted tool ran again (at least once), before the re-run's model call.
    assert len(Path(log).read_text().splitlines()) == 2
    types = [t for t in outcome["events"] if t in ("llm.call.started", "tool.call", "tool.result")]
    assert types == ["tool.call", "tool.result", "llm.call.started"]


@pytest.mark.subprocess
@pytest.mark.timeout(180)
def test_sigkill_during_second_model_call_keeps_the_tool_output(serve, python, child_env, tmp_path) -> None:
    """Killed while the second model call is in flight: the re-run neither repeats the first
    model call nor runs the tool again."""

    def answer(request: ScriptRequest) -> object:
        text = f"The weather in Paris: {tool_result_text(request.tool_results[-1].content)}."
        return reply(text, delay=60.0 if request.attempt == 1 else 0.0)

    server = serve(ScriptedModel([call_tool("get_weather", {"city": "Paris"}), answer]))
    db, log = str(tmp_path / "state.db"), str(tmp_path / "tool.log")
    process = subprocess.Popen(
        [python, str(CHILD), server.base_url, db, "run-slow", log, "ok"], env=child_env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while server.model_calls < 2:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "the second model call never came"
            time.sleep(0.05)
        process.kill()
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()
    assert process.returncode == -9

    rerun = run_child(python, child_env, server.base_url, db, "run-slow", log, "ok")
    assert rerun.returncode == 0, rerun.stderr
    outcome = json.loads(rerun.stdout.strip().splitlines()[-1])
    assert outcome["status"] == "succeeded", outcome
    assert outcome["final_output"]["response"] == WEATHER_ANSWER
    assert server.model_calls == 3  # only the unanswered second call is made again
    assert len(Path(log).read_text().splitlines()) == 1  # the tool ran once
    assert "tool.call" not in outcome["events"]


async def test_retry_continues_from_the_saved_session(serve) -> None:
    """A failed attempt (HTTP 500 on the second model call) is retried by the runner's policy;
    the retry resumes ADK's invocation: no repeated first call, the tool runs once."""
    tool_runs: list[str] = []

    def get_weather(city: str) -> str:
        """Get the weather.

        Args:
            city: The city.
        """
        tool_runs.append(city)
        return weather_for(city)

    model = ScriptedModel([
        call_tool("get_weather", {"city": "Paris"}),
        fail(500, "overloaded"),
        reply(lambda r: f"The weather in Paris: {tool_result_text(r.tool_results[-1].content)}."),
    ])
    server = serve(model)
    llm = LiteLlm(model="openai/gpt-4o-mini", api_base=server.base_url, api_key="sk-test", num_retries=0, max_retries=0)
    agent = LlmAgent(name="weather", instruction="x", tools=[get_weather], model=llm)
    runner = AgentRunner(
        RunnerConfig(max_retries=2, retry_backoff_seconds=0.01, run_timeout_seconds=60),
        event_bus=InMemoryEventBus(), state_store=InMemoryStateStore(),
    )
    result = await runner.execute(GoogleADKRuntime(agent, key="retry"), "run-retry", WEATHER_QUESTION)
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.attempts == 2
    assert result.final_output["response"] == WEATHER_ANSWER
    assert server.model_calls == 3  # call 1, the failing call 2, its retry
    assert tool_runs == ["Paris"]
    events = await runner.event_bus.get_events("run-retry")
    failed = [e for e in events if e.type is EventType.LLM_CALL_FAILED]
    assert len(failed) == 1


async def test_model_error_4xx_fails_without_retry(serve) -> None:
    server = serve(ScriptedModel([fail(400, "bad request", times=None)]))
    runner = AgentRunner(
        RunnerConfig(max_retries=3, retry_backoff_seconds=0.01), event_bus=InMemoryEventBus(), state_store=InMemoryStateStore()
    )
    result = await runner.execute(build_weather_runtime(server.base_url), "run-400", WEATHER_QUESTION)
    assert result.status is RunStatus.FAILED
    assert result.attempts == 1 and result.error is not None and not result.error.retriable
    assert result.error.message.startswith("BadRequestError")
    events = [e for e in await runner.event_bus.get_events("run-400") if e.type is not EventType.CHECKPOINT]
    assert [e.type for e in events[-3:]] == [EventType.LLM_CALL_FAILED, EventType.STEP_FAILED, EventType.RUN_FAILED]
    assert server.model_calls == 1


async def test_finished_run_executed_again_returns_its_result(serve, runner) -> None:
    server = serve(weather_model())
    runtime = build_weather_runtime(server.base_url)
    first = await runner.execute(runtime, "run-done", WEATHER_QUESTION)
    again = await runner.execute(runtime, "run-done", WEATHER_QUESTION)
    assert again.status is RunStatus.SUCCEEDED
    assert again.final_output == first.final_output and again.final_messages == first.final_messages
    assert server.model_calls == 2
