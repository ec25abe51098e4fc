"""Fixtures: the loopback OpenAI-compatible server, runners, and a clean environment."""

from __future__ import annotations

import asyncio
import gc
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from agent_runtime_core import AgentRunner, RunnerConfig
from agent_runtime_core.events.memory import InMemoryEventBus
from agent_runtime_core.state.memory import InMemoryStateStore
from agent_runtime_core.testing import OpenAICompatibleServer, ScriptedModel

TESTS = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def _no_model_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may depend on an API key, a base URL or Logfire settings from the environment."""
    for name in list(os.environ):
        if name.startswith(("OPENAI_", "LOGFIRE_", "OTEL_")):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
async def _close_clients_on_their_own_loop() -> AsyncIterator[None]:
    """Close the scenarios' openai clients, and collect what else holds sockets, on this loop."""
    from scenarios import close_clients

    yield
    await close_clients()
    gc.collect()
    current = asyncio.current_task()
    pending = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    if pending:
        await asyncio.wait(pending, timeout=5)


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
        RunnerConfig(max_retries=0, run_timeout_seconds=30, cancel_grace_seconds=2.0),
        event_bus=InMemoryEventBus(),
        state_store=InMemoryStateStore(),
    )


@pytest.fixture
def child_env() -> dict[str, str]:
    """Environment for child processes: no model settings, unbuffered, tests importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LOGFIRE_", "OTEL_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def python() -> str:
    """The interpreter running the tests."""
    return sys.executable
