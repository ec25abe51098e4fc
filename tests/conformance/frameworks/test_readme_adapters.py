"""The README's adapter examples run, in order, offline, where every adapter is installed.

They run in a process of their own, as a user's script would (the frameworks' HTTP clients die
with it), through the README harness of tests/test_readme.py."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[2] / "test_readme.py"

SCRIPT = textwrap.dedent(
    """
    import importlib.util, sys, warnings
    warnings.simplefilter("ignore", DeprecationWarning)
    spec = importlib.util.spec_from_file_location("readme_harness", sys.argv[1])
    harness = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(harness)
    blocks = harness.readme_blocks("adapters")
    print("blocks:", len(blocks))
    namespace = {"__name__": "readme"}
    for line, _, code in blocks:
        harness.run_block(code, namespace, line)
    """
)


def test_readme_adapter_examples_run(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(HARNESS)], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "blocks: 7" in done.stdout
    for key in ("weather-langgraph", "weather-crew", "weather-openai-agents", "weather-pydantic-ai", "weather-google-adk"):
        expected = f"{key}: The weather in Paris: Sunny, 22°C in Paris. (tools: ['get_weather'])"
        assert expected in done.stdout, done.stdout + done.stderr
