"""`agent-runtime demo` with every adapter installed: four timelines side by side, one answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_runtime_core.cli import main

pytestmark = [
    pytest.mark.filterwarnings("ignore::ImportWarning:importlib._bootstrap"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:crewai.*"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning:crewai.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:openai.*"),
]


def test_demo_shows_the_four_timelines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--db", str(tmp_path / "demo.db")]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("native "))
    assert header.split() == ["native", "langgraph", "crewai", "openai-agents"]
    answers = out[out.index("Final answers:"):].splitlines()[1:5]
    assert [a.split()[0] for a in answers] == ["native", "langgraph", "crewai", "openai-agents"]
    assert all(a.endswith("Here is what I found: The weather in Paris is sunny, 72°F.") for a in answers)
    assert "node:tools" in out and "task:" in out and "agent:tool-" in out
