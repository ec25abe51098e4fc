"""Fixtures: the loopback OpenAI-compatible server and a runner with in-memory backends."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent_runtime_core import AgentRunner, RunnerConfig
from agent_runtime_core.events.memory import InMemoryEventBus
from agent_runtime_core.state.memory import InMemoryStateStore
from agent_runtime_core.testing.conformance import weather_model
from agent_runtime_core.testing.scripted import ScriptedModel
from agent_runtime_core.testing.servers.openai import OpenAICompatibleServer

sys.path.insert(0, str(Path(__file__).parent))  # `import scenarios` (also for the root suite)


@pytest.fixture
def serve() -> Iterator[Callable[[ScriptedModel], OpenAICompatibleServer]]:
    """Start a loopback server for a scripted model; every server is stopped after the test."""
    servers: list[OpenAICompatibleServer] = []

    def start(model: ScriptedModel) -> OpenAICompatibleServer:
        server = OpenAICompatibleServer(model).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def weather_server(serve: Callable[[ScriptedModel], OpenAICompatibleServer]) -> OpenAICompatibleServer:
    """A loopback server playing the weather scenario."""
    return serve(weather_model())


@pytest.fixture
def runner() -> AgentRunner:
    """A runner with in-memory backends, no retries and short waits."""
    config = RunnerConfig(run_timeout_seconds=30, max_retries=0, retry_backoff_seconds=0.01, cancel_grace_seconds=2)
    return AgentRunner(config, event_bus=InMemoryEventBus(), state_store=InMemoryStateStore())
