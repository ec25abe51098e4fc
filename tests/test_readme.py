"""Every Python example of README.md runs, in order, in one namespace, offline.

Blocks marked `<!-- readme-test: skip (reason) -->` show the shape of a class and are not run.
The agents of the examples call `get_llm_client()`: the test points the OpenAI client at a
loopback server (OPENAI_BASE_URL) serving a scripted model, so the real SDK runs, offline.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import io
import re
from pathlib import Path
from typing import Any

import pytest

from agent_runtime_core.config import reset_config
from agent_runtime_core.testing import OpenAICompatibleServer, ScriptedModel, reply

README = Path(__file__).resolve().parent.parent / "README.md"
_BLOCK = re.compile(
    r"(<!-- readme-test: (?:skip \((?P<reason>[^)]+)\)|(?P<env>adapters)) -->\n)?```python\n(?P<code>.*?)```", re.S
)


def readme_blocks(env: str | None = None) -> list[tuple[int, str | None, str]]:
    """(line, skip reason, code) of the README's Python blocks for `env`: None is the core's
    environment; "adapters" the blocks marked to run where every adapter is installed
    (tests/conformance/frameworks/test_readme_adapters.py)."""
    text = README.read_text(encoding="utf-8")
    blocks = []
    for match in _BLOCK.finditer(text):
        if match.group("env") != env:
            continue
        line = text.count("\n", 0, match.start("code")) + 1
        blocks.append((line, match.group("reason"), match.group("code")))
    return blocks


def run_block(code: str, namespace: dict[str, Any], line: int) -> None:
    compiled = compile(code, f"README.md:{line}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(compiled, namespace)  # noqa: S307 - our own README
    if inspect.iscoroutine(result):
        asyncio.run(result)


def test_readme_has_examples_and_few_skips() -> None:
    blocks = readme_blocks()
    assert len(blocks) >= 15
    assert sum(1 for _, reason, _ in blocks if reason) <= 5


def test_every_readme_example_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # examples that write files (SQLite, persistence) write here
    monkeypatch.setenv("AGENT_RUNTIME_GLOBAL_DIR", str(tmp_path / "global"))  # never the real home
    monkeypatch.setenv("LANGFUSE_HOST", "http://127.0.0.1:9")  # the Langfuse example stays on loopback
    model = ScriptedModel([reply("Hello! How can I help?")], model="gpt-4o")
    with OpenAICompatibleServer(model) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        reset_config()
        namespace: dict[str, Any] = {"__name__": "readme"}
        out = io.StringIO()
        for line, reason, code in readme_blocks():
            if reason:
                ast.parse(code)  # shown code must at least be valid Python
                continue
            with contextlib.redirect_stdout(out):
                try:
                    run_block(code, namespace, line)
                except Exception as e:
                    raise AssertionError(f"README.md example at line {line} failed: {e!r}") from e
    printed = out.getvalue()
    # The outputs the README's comments promise:
    assert "openai\n" in printed
    assert "{'response': 'Hello! How can I help?'}" in printed
    assert "Error: tool 'get_weather' got invalid arguments: missing required argument" in printed
    assert "interrupted {'question': 'Refund 42 EUR?'}" in printed
    assert "succeeded {'refunded': 42}" in printed
    assert "['step1', 'step2', 'step2', 'step3']" in printed
    assert "Step 'step2' failed after 1 attempt(s): network blip" in printed
    assert "{'step1': 'done', 'step2': 2}" in printed
    assert "'process': {'processed': 6}, 'validate': {'valid': True}}" in printed
    assert "get_weather\n" in printed
    assert "run.succeeded" in printed and "llm.call.completed" in printed
    assert "Alice\n" in printed and "hi\n" in printed
    assert (tmp_path / ".agent_runtime").is_dir() and (tmp_path / "global").is_dir()
    assert "succeeded {'response': 'Hello! How can I help?'}" in printed  # through a worker
    assert model.calls >= 2  # MyAgent really went through the OpenAI SDK to the server
