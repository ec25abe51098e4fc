"""Fixtures: the loopback OpenAI-compatible server, runners, and a clean environment."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent_runtime_core import AgentRunner, RunnerConfig
from agent_runtime_core.events.memory import InMemoryEventBus
from agent_runtime_core.state import InMemoryStateStore
from agent_runtime_core.testing import OpenAICompatibleServer, ScriptedModel

TESTS = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def _no_model_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may depend on an API key or base URL from the environment."""
    for name in list(os.environ):
        if name.startswith(("OPENAI_", "GOOGLE_API", "GEMINI_")):
            monkeypatch.delenv(name)


@pytest.fixture
def serve() -> Iterator[Callable[[ScriptedModel], OpenAICompatibleServer]]:
    """Start loopback servers for scripted models; all are stopped after the test."""
    servers: list[OpenAICompatibleServer] = []

    def start(model: ScriptedModel) -> OpenAICompatibleServer:
        server = OpenAICompatibleServer(model).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def runner() -> AgentRunner:
    """A runner with in-memory backends, no retries, a short cancel grace."""
    return AgentRunner(
        RunnerConfig(max_retries=0, run_timeout_seconds=60, cancel_grace_seconds=2.0),
        event_bus=InMemoryEventBus(),
        state_store=InMemoryStateStore(),
    )


@pytest.fixture
def child_env() -> dict[str, str]:
    """Environment for child processes: no model settings, unbuffered, tests importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def python() -> str:
    """The interpreter running the tests."""
    return sys.executable
