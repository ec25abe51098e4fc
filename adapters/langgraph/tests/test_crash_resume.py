"""A run SIGKILLed midway continues from its last super-step when executed again (same run id,
same SQLite file, a new process), without redoing the model calls it had made."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agent_runtime_core.testing.conformance import WEATHER_ANSWER

CHILD = Path(__file__).with_name("crash_child.py")
pytestmark = pytest.mark.subprocess


def _run_child(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LANGSMITH_", "LANGCHAIN_"))}
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def test_sigkill_inside_the_tool_then_resume_in_a_new_process(tmp_path, weather_server):
    db = str(tmp_path / "state.db")
    marker = tmp_path / "crashed"
    run_id = "lg-crash-1"

    crashed = _run_child(weather_server.base_url, db, run_id, "--crash-in-tool", str(marker))
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    assert marker.read_text() == "in tool"
    assert weather_server.model_calls == 1  # the model asked for the tool, then the process died

    resumed = _run_child(weather_server.base_url, db, run_id)
    assert resumed.returncode == 0, resumed.stderr
    out = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert out["status"] == "succeeded"
    assert out["final_output"] == {"response": WEATHER_ANSWER}
    # Only the answer's model call was made again; the tool ran once in the new process (the
    # tools node had not finished), reported with the model's original call id.
    assert weather_server.model_calls == 2
    assert out["tool_runs"] == 1
    assert out["tool_call_ids"] == ["call_0_get_weather"]
    assert out["events"].count("LLM_CALL_STARTED") == 1
    last_request = weather_server.requests[-1].body
    assert [m["role"] for m in last_request["messages"]] == ["user", "assistant", "tool"]

    # A third execution finds the run finished: same result, no model call.
    again = _run_child(weather_server.base_url, db, run_id)
    assert json.loads(again.stdout.strip().splitlines()[-1])["final_output"] == {"response": WEATHER_ANSWER}
    assert weather_server.model_calls == 2
