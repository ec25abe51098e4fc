"""`agent-runtime serve`: a real server process on a free loopback port, stopped by its PID; the
refusals that keep an open server off the network; the error naming the extra."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

APP = '''
from agent_runtime_core import AgentRuntime, EventType, RunResult, register_runtime

class Hello(AgentRuntime):
    key = "hello"

    async def run(self, ctx):
        await ctx.emit(EventType.ASSISTANT_MESSAGE, {"content": "hello"})
        return RunResult(final_output={"response": "hello"})

register_runtime(Hello())
'''

KEY = "cli-key-" + "k" * 32


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_serve_serves_the_app_modules_agents(tmp_path: Path, python: str, subprocess_env: dict[str, str]) -> None:
    (tmp_path / "hello_app.py").write_text(APP)
    port = free_port()
    env = subprocess_env | {"AGENT_RUNTIME_API_KEYS": KEY}
    proc = subprocess.Popen(
        [python, "-m", "agent_runtime_core.cli", "serve", "--app", "hello_app", "--port", str(port), "--log-level", "warning"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.1)
        headers = {"Authorization": f"Bearer {KEY}"}
        assert httpx.get(f"{url}/agents").status_code == 401
        assert httpx.get(f"{url}/agents", headers=headers).json() == {"agents": ["hello"]}
        run_id = httpx.post(f"{url}/runs", json={"agent_key": "hello", "input": "hi"}, headers=headers).json()["run_id"]
        with httpx.stream("GET", f"{url}/runs/{run_id}/events", headers=headers) as stream:
            events = [line.split(": ", 1)[1] for line in stream.iter_lines() if line.startswith("event: ")]
        assert events == ["run.started", "assistant.message", "run.succeeded"]
        assert httpx.get(f"{url}/").headers["content-type"].startswith("text/html")  # the viewer, no key
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    assert KEY not in output


def test_serve_refuses_an_open_server_beyond_loopback(tmp_path: Path, python: str, subprocess_env: dict[str, str]) -> None:
    (tmp_path / "hello_app.py").write_text(APP)
    out = subprocess.run(
        [python, "-m", "agent_runtime_core.cli", "serve", "--app", "hello_app", "--host", "0.0.0.0", "--port", str(free_port())],
        cwd=tmp_path, env=subprocess_env, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 2
    assert "without API keys" in out.stderr and "AGENT_RUNTIME_API_KEYS" in out.stderr


def test_serve_names_the_extra_when_it_is_missing(tmp_path: Path, python: str, subprocess_env: dict[str, str]) -> None:
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('starlette', 'sse_starlette', 'ag_ui'):\n"
        "            raise ImportError('No module named ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from agent_runtime_core.cli import main\n"
        "sys.exit(main(['serve', '--app', 'hello_app']))\n"
    )
    (tmp_path / "hello_app.py").write_text(APP)
    out = subprocess.run([python, "-c", code], cwd=tmp_path, env=subprocess_env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "pip install 'agent-runtime-core[serve]'" in out.stderr


def wait_healthy(proc: subprocess.Popen[str], url: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.stdout else ""
        time.sleep(0.1)


def test_demo_serve_prints_the_url_and_serves_the_demo_agents(tmp_path: Path, python: str, subprocess_env: dict[str, str]) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [python, "-m", "agent_runtime_core.cli", "demo", "--serve", "--port", str(port), "--db", str(tmp_path / "d.db")],
        cwd=tmp_path, env=subprocess_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.strip() == f"agent-runtime demo: the run viewer is at http://127.0.0.1:{port}/"
        agents = httpx.get(f"http://127.0.0.1:{port}/agents").json()["agents"]
        assert agents == ["approval-agent", "flaky-agent", "research-assistant", "tool-agent"]
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.communicate(timeout=30)


def test_the_serve_example_and_its_client(tmp_path: Path, python: str, subprocess_env: dict[str, str]) -> None:
    examples = Path(__file__).resolve().parents[2] / "examples" / "serve"
    port = free_port()
    env = subprocess_env | {"PYTHONPATH": os.pathsep.join([str(examples), subprocess_env["PYTHONPATH"]])}
    proc = subprocess.Popen(
        [python, "-m", "agent_runtime_core.cli", "serve", "--app", "app", "--port", str(port), "--log-level", "warning"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(proc, url)
        out = subprocess.run(
            [python, str(examples / "client.py"), url, "research-assistant", "What should I pack?"],
            env=subprocess_env, capture_output=True, text=True, timeout=120,
        )
        assert out.returncode == 0, out.stderr
        assert "tool.call" in out.stdout and "run.succeeded" in out.stdout and '"status": "succeeded"' in out.stdout
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.communicate(timeout=30)
    assert (tmp_path / ".agent-runtime" / "serve-example.db").exists()
