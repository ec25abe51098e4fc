"""Wait for a server started in another process to answer its health check: the one loop the
tests and benchmarks that start `agent-runtime serve` share (standard library only)."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from typing import Any

__all__ = ["wait_until_healthy"]

# No proxy from the environment: the servers waited for are on loopback.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _healthy(url: str) -> bool:
    try:
        with _OPENER.open(url, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def wait_until_healthy(url: str, process: Any = None, *, path: str = "/healthz", timeout: float = 60.0) -> None:
    """Poll `url` + `path` until it answers 200. Raises `RuntimeError` as soon as `process` (a
    `subprocess.Popen`, optional) has exited, or once `timeout` seconds have passed; it never
    reads the process's output, so it cannot block on a pipe the server holds open."""
    target = url.rstrip("/") + path
    deadline = time.monotonic() + timeout
    while not _healthy(target):
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"The server exited with code {process.returncode} before {target} answered.")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{target} did not answer 200 within {timeout:g} s.")
        time.sleep(0.1)
