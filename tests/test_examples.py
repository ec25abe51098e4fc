"""The core's examples run as users would run them, and say what they should."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.subprocess
@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("tool_agent.py", ["tool.call", "get_weather", "succeeded: The weather in Paris is sunny, 72°F. Enjoy Paris!"]),
        ("steps_pipeline.py", ["first execution: failed", "step.skipped", "second execution: succeeded: Published EMEA total 400"]),
    ],
)
def test_example(script: str, expected: list[str], python: str, subprocess_env: dict[str, str]) -> None:
    out = subprocess.run([python, str(EXAMPLES / script)], env=subprocess_env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    for text in expected:
        assert text in out.stdout, out.stdout
