"""Fixtures: a loopback OpenAI-compatible server per test, and a runner without retries."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import agent_runtime_crewai  # noqa: F401  (telemetry defaults before crewai is imported)
from agent_runtime_core import AgentRunner, RunnerConfig
from agent_runtime_core.testing.scripted import ScriptedModel
from agent_runtime_core.testing.servers.openai import OpenAICompatibleServer

# `import scenarios` works from the tests (importlib import mode does not put tests/ on sys.path).
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def serve() -> Iterator[Callable[[ScriptedModel], OpenAICompatibleServer]]:
    """Start a loopback server for a scripted model; stopped at the end of the test."""
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
    """An in-memory runner that does not retry (tests that need retries build their own)."""
    return AgentRunner(RunnerConfig(max_retries=0, run_timeout_seconds=60))
