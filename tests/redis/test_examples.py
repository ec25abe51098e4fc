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


@pytest.mark.subprocess
def test_throughput_starts_its_own_server_without_redis_url(subprocess_env: dict[str, str]) -> None:
    env = {k: v for k, v in subprocess_env.items() if k != "REDIS_URL"}
    out = subprocess.run(
        [sys.executable, "throughput.py", "--runs", "200", "--concurrency", "10"],
        cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "worker (concurrency 10):" in out.stdout and "for 200)" in out.stdout


@pytest.mark.subprocess
def test_throughput_uses_redis_url_and_leaves_nothing_behind(redis_url: str, subprocess_env: dict[str, str]) -> None:
    import redis

    out = subprocess.run(
        [sys.executable, "throughput.py", "--runs", "100", "--concurrency", "10"],
        cwd=EXAMPLE, env={**subprocess_env, "REDIS_URL": redis_url}, capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    client = redis.Redis.from_url(redis_url)
    try:
        keys = client.keys("*")
        assert keys and all(k.startswith(b"bench") for k in keys), keys  # its own prefix only
        per_run = [k for k in keys if k.startswith((b"bench:ev:", b"bench:kv:"))]
        assert len(per_run) == 200, keys  # each run's events and result ...
        assert all(client.ttl(k) > 0 for k in per_run)  # ... expire
    finally:
        client.close()
