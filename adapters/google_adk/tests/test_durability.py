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

from agent_runtime_core.testing import ScriptedModel, ScriptRequest, call_tool, reply
from agent_runtime_core.testing.conformance import WEATHER_ANSWER, tool_result_text, weather_model

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
