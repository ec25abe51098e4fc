"""The adapters' examples run offline as their docstrings say, and show the run's timeline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest.mark.parametrize("script", ["langgraph_agent.py", "crewai_agent.py", "openai_agents_agent.py", "pydantic_ai_agent.py", "google_adk_agent.py"])
def test_adapter_example(script: str) -> None:
    done = subprocess.run([sys.executable, str(EXAMPLES / script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    for text in ("run.started", "tool.call", "get_weather", "tool.result", "run.succeeded", "Paris"):
        assert text in done.stdout, done.stdout
