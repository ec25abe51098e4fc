"""Checkpoints and resume: a run executed again continues from its saved message history.

What is guaranteed (see the README): a model response that calls tools is saved before any of
its tools runs, and the tools' returns are saved before the next model call; a run executed again
with the same run id and state store makes no model call whose answer was saved. A tool that was
running when the process died runs again (at least once).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from pydantic_ai import Agent
from scenarios import build_weather_runtime, make_model

from agent_runtime_core import AgentRunner, EventType, RunnerConfig, RunStatus
from agent_runtime_core.events.memory import InMemoryEventBus
from agent_runtime_core.state.memory import InMemoryStateStore
from agent_runtime_core.testing import (
    ScriptedModel,
    ScriptRequest,
    call_tool,
    call_tools,
    fail,
    reply,
)
from agent_runtime_core.testing.conformance import (
    WEATHER_ANSWER,
    WEATHER_QUESTION,
    check_grammar,
    weather_model,
)
from agent_runtime_pydantic_ai import CHECKPOINT_FORMAT, PydanticAIRuntime

CHILD = Path(__file__).resolve().parent / "crash_child.py"


def run_child(python: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    process = subprocess.Popen([python, str(CHILD), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = process.communicate(timeout=45)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.mark.subprocess
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
    # The first model call's answer was saved before the tool ran: only the second call is made.
    assert server.model_calls == 2
    assert [[m["role"] for m in r.body["messages"]] for r in server.requests] == [
        ["system", "user"],
        ["system", "user", "assistant", "tool"],
    ]
    # The interrupted tool ran again (at least once), before any model call of the re-run.
    assert len(Path(log).read_text().splitlines()) == 2
    types = [t for t in outcome["events"] if t in ("llm.call.started", "tool.call", "tool.result")]
    assert types == ["tool.call", "tool.result", "llm.call.started"]


@pytest.mark.subprocess
def test_sigkill_during_second_model_call_keeps_the_tool_output(serve, python, child_env, tmp_path) -> None:
    """Killed while the second model call is in flight: the re-run neither repeats the first
    model call nor runs the tool again."""

    def answer(request: ScriptRequest) -> object:
        text = f"The weather in Paris: {request.tool_results[-1].content}."
        return reply(text, delay=30.0 if request.attempt == 1 else 0.0)

    server = serve(ScriptedModel([call_tool("get_weather", {"city": "Paris"}), answer]))
    db, log = str(tmp_path / "state.db"), str(tmp_path / "tool.log")
    process = subprocess.Popen(
        [python, str(CHILD), server.base_url, db, "run-slow", log, "ok"], env=child_env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 30
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


async def test_retry_continues_from_the_checkpoint(serve) -> None:
    """A failed attempt (HTTP 500 on the second model call) is retried by the runner's policy, and
    the retry continues from the checkpoint: no repeated first call, the tool runs once."""
    tool_runs: list[str] = []

    def get_weather(city: str) -> str:
        """Get the weather.

        Args:
            city: The city.
        """
        tool_runs.append(city)
        return f"Sunny, 22°C in {city}"

    model = ScriptedModel(
        [call_tool("get_weather", {"city": "Paris"}), fail(500, "overloaded"), reply(lambda r: f"The weather in Paris: {r.tool_results[-1].content}.")]
    )
    server = serve(model)
    agent = Agent(make_model(server.base_url), name="weather", tools=[get_weather])
    runner = AgentRunner(
        RunnerConfig(max_retries=2, retry_backoff_seconds=0.01, run_timeout_seconds=30),
        event_bus=InMemoryEventBus(), state_store=InMemoryStateStore(),
    )
    result = await runner.execute(PydanticAIRuntime(agent, key="retry"), "run-retry", WEATHER_QUESTION)
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.attempts == 2
    assert result.final_output["response"] == WEATHER_ANSWER
    assert server.model_calls == 3  # call 1, the failing call 2, its retry
    assert tool_runs == ["Paris"]
    events = await runner.event_bus.get_events("run-retry")
    failed = [e for e in events if e.type is EventType.LLM_CALL_FAILED]
    assert len(failed) == 1 and failed[0].payload["error"]["type"] in ("ModelServerError", "ModelHTTPError")


async def test_model_error_4xx_fails_without_retry(serve) -> None:
    server = serve(ScriptedModel([fail(400, "bad request", times=None)]))
    runner = AgentRunner(
        RunnerConfig(max_retries=3, retry_backoff_seconds=0.01), event_bus=InMemoryEventBus(), state_store=InMemoryStateStore()
    )
    result = await runner.execute(build_weather_runtime(server.base_url), "run-400", WEATHER_QUESTION)
    assert result.status is RunStatus.FAILED
    assert result.attempts == 1 and result.error is not None and not result.error.retriable
    # ModelRequestRejectedError (2.78) or ModelHTTPError (2.31): a ModelHTTPError either way.
    assert result.error.message.startswith("Model") and "status_code: 400" in result.error.message
    events = await runner.event_bus.get_events("run-400")
    check_grammar(events, strict=True)
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
    saved = await runner.state_store.get_checkpoint("run-done")
    assert saved is not None and saved["format"] == CHECKPOINT_FORMAT and saved["status"] == "done"


class Crash(BaseException):
    """Stands in for a process crash inside a tool (escapes Pydantic AI's tool error handling)."""


async def test_two_tool_calls_in_one_reply_are_replayed_after_a_crash(serve, runner) -> None:
    server = serve(
        ScriptedModel([call_tools([("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})]), reply("Both sunny.")])
    )
    runs: list[str] = []
    crash = True

    def get_weather(city: str) -> str:
        """Get the weather.

        Args:
            city: The city.
        """
        runs.append(city)
        if crash and city == "Rome":
            raise Crash
        return f"Sunny in {city}"

    def build() -> PydanticAIRuntime:
        return PydanticAIRuntime(Agent(make_model(server.base_url), name="weather", tools=[get_weather]), key="two-calls")

    with pytest.raises(Crash):
        await runner.execute(build(), "run-two", WEATHER_QUESTION)
    crash = False
    before = len(await runner.event_bus.get_events("run-two"))
    result = await runner.execute(build(), "run-two", WEATHER_QUESTION)
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.final_output["response"] == "Both sunny."
    assert server.model_calls == 2
    events = (await runner.event_bus.get_events("run-two"))[before:]
    check_grammar(events, strict=True)
    results = [e.payload for e in events if e.type is EventType.TOOL_RESULT]
    assert {r["result"] for r in results} == {"Sunny in Paris", "Sunny in Rome"}
    assert [m["role"] for m in result.final_messages or []] == ["user", "assistant", "tool", "tool", "assistant"]
