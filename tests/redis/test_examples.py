"""examples/distributed/ works as its docstrings say: a worker process and a client process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "distributed"


@pytest.mark.subprocess
def test_worker_and_client(redis_url: str, subprocess_env: dict[str, str]) -> None:
    env = {**subprocess_env, "REDIS_URL": redis_url}
    cli = Path(sys.executable).parent / "agent-runtime"
    worker = subprocess.Popen(
        [str(cli), "worker", "--app", "app", "--concurrency", "4"],
        cwd=EXAMPLE, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        client = subprocess.run(
            [sys.executable, "client.py"], cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=90
        )
        assert client.returncode == 0, client.stdout + client.stderr
        assert client.stdout.count(": succeeded -> ") == 3, client.stdout
        assert "run.succeeded" in client.stdout  # the followed run's events
    finally:
        if worker.poll() is None:
            os.kill(worker.pid, signal.SIGTERM)  # graceful: it finishes or releases its runs
        try:
            _, errors = worker.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(worker.pid, signal.SIGKILL)
            _, errors = worker.communicate(timeout=10)
    assert worker.returncode == 0, errors
