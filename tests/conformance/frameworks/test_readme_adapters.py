"""The README's adapter examples run, in order, offline, where every adapter is installed."""

from __future__ import annotations

import contextlib
import importlib.util
import io
from pathlib import Path
from typing import Any

import pytest

pytestmark = [
    pytest.mark.filterwarnings("ignore::ImportWarning:importlib._bootstrap"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:crewai.*"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning:crewai.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:openai.*"),
]


def _readme_module() -> Any:
    path = Path(__file__).resolve().parents[2] / "test_readme.py"
    spec = importlib.util.spec_from_file_location("readme_harness", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_adapter_examples_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    harness = _readme_module()
    monkeypatch.chdir(tmp_path)
    blocks = harness.readme_blocks("adapters")
    assert len(blocks) == 5
    namespace: dict[str, Any] = {"__name__": "readme"}
    out = io.StringIO()
    for line, _, code in blocks:
        with contextlib.redirect_stdout(out):
            harness.run_block(code, namespace, line)
    printed = out.getvalue()
    for key in ("weather-langgraph", "weather-crew", "weather-openai-agents"):
        assert f"{key}: The weather in Paris: Sunny, 22°C in Paris. (tools: ['get_weather'])" in printed, printed
