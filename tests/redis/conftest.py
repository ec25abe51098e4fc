"""A real redis-server for the Redis tests, started on a free loopback port and killed after.

No fakeredis: the fault tests need a real server to kill and restart. When `redis-server` is not
installed these tests FAIL (not skip), so CI cannot pass without them; install it with
`apt-get install redis-server` (`.ci/run` does).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

REDIS_SERVER = shutil.which("redis-server") or ("/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One redis-server process with append-only persistence in its own directory."""

    def __init__(self, directory: Path) -> None:
        if REDIS_SERVER is None:
            pytest.fail(
                "redis-server is not installed; the Redis tests need a real server. "
                "Install it with `apt-get install redis-server` (the CI script .ci/run does).",
                pytrace=False,
            )
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self) -> None:
        assert REDIS_SERVER is not None
        for _ in range(5):
            self.proc = subprocess.Popen(
                [
                    REDIS_SERVER,
                    "--port", str(self.port),
                    "--bind", "127.0.0.1",
                    "--dir", str(self.directory),
                    "--save", "",
                    "--appendonly", "yes",
                    "--appendfsync", "always",
                    "--daemonize", "no",
                    "--protected-mode", "yes",
                    "--logfile", str(self.directory / "redis.log"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if _ping(self.port):
                    return
                if self.proc.poll() is not None:
                    break  # the port was taken meanwhile: try another
                time.sleep(0.02)
            self.stop()
            self.port = _free_port()
        pytest.fail(f"redis-server did not start; see {self.directory / 'redis.log'}", pytrace=False)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the server (SIGTERM: it writes its append-only file and exits)."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def restart(self, down_seconds: float = 0.0) -> None:
        """Stop the server, stay down `down_seconds`, start it again on the same port and data."""
        self.stop()
        time.sleep(down_seconds)
        self.start()

    def flush(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall(b"FLUSHALL\r\n")
            assert s.recv(64).startswith(b"+OK")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One server for the whole session, flushed before each test by `redis_url`."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
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
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop(signal.SIGKILL)


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[object]:
    """A plain redis-py client on the test server, for looking behind the backends."""
    import redis.asyncio as redis

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            await client.aclose()
