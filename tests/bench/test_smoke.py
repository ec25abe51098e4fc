"""Keeps `bench/` from rotting: every benchmark runs with tiny sizes and must print its table.

Benchmarks are not tests: nothing here looks at a speed, only that each benchmark still runs
against today's code and produces its table (title, rows, a ratio column). It runs where `make
bench` runs (.venv-all, with .venv-arq for the queue's workers); `make test` runs it there. A
missing dependency fails the test: nothing is skipped.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _queue_python() -> bool:
    return (ROOT / ".venv-arq" / "bin" / "python").exists() or _has("arq") or bool(os.environ.get("BENCH_QUEUE_PYTHON"))


def _redis_server() -> bool:
    from agent_runtime_core.testing import RedisServerNotFoundError, find_redis_server

    try:
        return bool(find_redis_server())
    except RedisServerNotFoundError:
        return False


HAS_REDIS_SERVER = _redis_server() and _has("redis")
HAS_OTEL = _has("opentelemetry.sdk") and _has("opentelemetry.exporter.otlp.proto.http") and _has("opentelemetry.proto")
HAS_FRAMEWORKS = all(_has(m) for m in ("agent_runtime_langgraph", "agent_runtime_crewai", "agent_runtime_openai_agents"))

CASES = [
    pytest.param("runner", "1. Runner overhead", id="runner"),
    pytest.param("events", "2. Events", id="events"),
    pytest.param("queue", "3. Distributed queue", id="queue"),
    pytest.param("checkpoints", "4. Checkpoints", id="checkpoints"),
    pytest.param("adapters", "5. Adapter overhead", id="adapters"),
    pytest.param("tracing", "6. Tracing overhead", id="tracing"),
    pytest.param("scale", "7. Scale", id="scale"),
    pytest.param("server", "8. Loopback model server", id="server"),
]


def test_the_benchmark_environment_is_complete() -> None:
    missing = [name for name, ok in [
        ("a redis-server (or the redis-server extra) and redis-py", HAS_REDIS_SERVER),
        ("arq (.venv-arq: make .venv-arq/.installed)", _queue_python()),
        ("the three adapters (.venv-all)", HAS_FRAMEWORKS),
        ("opentelemetry-sdk, -exporter-otlp-proto-http, -proto (the otel extra)", HAS_OTEL),
    ] if not ok]
    assert not missing, f"The benchmarks need: {', '.join(missing)}. Run them with `make test` or `make bench`."


@pytest.mark.parametrize(("name", "title"), CASES)
@pytest.mark.timeout(300)
def test_benchmark_prints_its_table(name: str, title: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENT_RUNTIME_", "OPENAI_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--repeats", "2", "--only", name],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=280,
    )
    out = proc.stdout
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out[-3000:]}\n{proc.stderr[-3000:]}"
    assert f"== {title}" in out, out
    assert "cores" in out  # the machine line
    header = next(line for line in out.splitlines() if line.startswith("measure"))
    assert "ours: median [min-max]" in header and "baseline" in header and "ratio" in header
    rows = out.split(header, 1)[1].splitlines()[2:]
    assert any(line.strip() and not line.startswith("   ") for line in rows), out
    assert "FAILED" not in out
