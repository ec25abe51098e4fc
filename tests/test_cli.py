"""The `agent-runtime` command: demo and run."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from agent_runtime_core.cli import main

AGENT_MODULE = textwrap.dedent(
    """
    from agent_runtime_core import AgentRuntime, RunResult, EventType

    class Shout(AgentRuntime):
        key = "shout"

        async def run(self, ctx):
            state = await ctx.get_checkpoint() or {"runs": 0}
            state["runs"] += 1
            await ctx.checkpoint(state)
            text = ctx.input_messages[-1]["content"]
            if text == "fail":
                raise ValueError("asked to fail")
            await ctx.emit(EventType.ASSISTANT_MESSAGE, {"content": text.upper()})
            return RunResult(final_output={"response": text.upper(), "runs": state["runs"]})

    agent = Shout()
    """
)


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "my_agents.py").write_text(AGENT_MODULE)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_demo_runs_offline_and_prints_timeline_and_answer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "trace.jsonl"
    assert main(["demo", "--db", str(tmp_path / "demo.db"), "--trace-file", str(trace)]) == 0
    out = capsys.readouterr().out
    for expected in ("run.started", "llm.call.completed", "tool.call", "get_weather", "tool.result", "run.succeeded"):
        assert expected in out
    assert "Final answer: Here is what I found: The weather in Paris is sunny, 72°F." in out
    events = [json.loads(line) for line in trace.read_text().splitlines()]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "run.started" and events[-1]["type"] == "run.succeeded"
    assert (tmp_path / "demo.db").exists()


def test_demo_live_without_a_key_explains(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["demo", "--live", "--db", str(tmp_path / "d.db")]) == 2
    assert "OPENAI_API_KEY" in capsys.readouterr().err


def test_run_module_attr(app: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "my_agents:agent", "--input", "hello"]) == 0
    out = capsys.readouterr().out
    assert "assistant.message" in out and "Final answer: HELLO" in out


def test_run_class_target_json_and_resume_with_db(app: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["run", "my_agents:Shout", "--input", "hi", "--json", "--db", str(app / "s.db"), "--run-id", "r1"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["status"] == "succeeded" and first["final_output"] == {"response": "HI", "runs": 1}
    assert main(args) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["final_output"]["runs"] == 2  # same run id, same SQLite file: the checkpoint was read


def test_run_failure_exit_code_and_retries(app: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "my_agents:agent", "--input", "fail", "--max-retries", "1", "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["status"] == "failed" and result["attempts"] == 2
    assert result["error"]["message"] == "asked to fail"


@pytest.mark.parametrize("target", ["my_agents", "no_such_module:agent", "my_agents:missing", "json:dumps"])
def test_bad_targets_are_usage_errors(app: Path, target: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", target, "--input", "x"]) == 2
    assert "agent-runtime:" in capsys.readouterr().err


@pytest.mark.subprocess
def test_module_entry_point(python: str, subprocess_env: dict[str, str], tmp_path: Path) -> None:
    out = subprocess.run(
        [python, "-m", "agent_runtime_core.cli", "demo", "--db", str(tmp_path / "x.db")],
        env=subprocess_env, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "Final answer:" in out.stdout
