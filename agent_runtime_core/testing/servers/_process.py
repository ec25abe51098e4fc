"""What the loopback server helpers that run a separate program share: a free port, the process
stopped by its PID, its directory removed on close, the context-manager protocol."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = ["ServerProcess", "free_port"]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (another process may take it before it is bound)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """A server program run as a child process, stopped by its PID. Subclasses set `directory`
    and `_own_directory` and implement `start()`."""

    directory: Path
    _own_directory: bool
    _proc: subprocess.Popen[bytes] | None = None
    _kill_wait: float = 10.0
    """Seconds to wait for the process to exit after a signal, before SIGKILL."""

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def start(self) -> Self:
        raise NotImplementedError

    def _kill(self, sig: int = signal.SIGKILL) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)
        try:
            proc.wait(timeout=self._kill_wait)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the server by its PID (SIGTERM lets it shut down cleanly; SIGKILL does not)."""
        self._kill(sig)

    def close(self) -> None:
        """Kill the server and remove its directory if this object created it."""
        self._kill()
        if self._own_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
