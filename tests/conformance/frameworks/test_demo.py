"""`agent-runtime demo` with every adapter installed: five timelines side by side, one answer.

Run as users run it, in a process of its own (the frameworks' HTTP clients die with it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_demo_shows_the_six_timelines(tmp_path: Path) -> None:
    cli = Path(sys.executable).parent / "agent-runtime"
    done = subprocess.run(
        [str(cli), "demo", "--db", str(tmp_path / "demo.db")], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    header = next(line for line in out.splitlines() if line.startswith("native "))
    assert header.split() == ["native", "langgraph", "crewai", "openai-agents", "pydantic-ai", "google-adk"]
    answers = out[out.index("Final answers:"):].splitlines()[1:7]
    assert [a.split()[0] for a in answers] == ["native", "langgraph", "crewai", "openai-agents", "pydantic-ai", "google-adk"]
    assert all(a.endswith("Here is what I found: The weather in Paris is sunny, 72°F.") for a in answers)
    assert "node:tools" in out and "task:" in out and "agent:tool-" in out and "agent:tool_" in out
