"""`agent-runtime serve`: a real server process on a free loopback port, stopped by its PID; the
refusals that keep an open server off the network; the error naming the extra."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agent_runtime_core.testing import wait_until_healthy

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


def stop(proc: subprocess.Popen[str]) -> None:
    """Stop the server we started, by its PID: SIGTERM, then SIGKILL if it lingers."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)


@contextlib.contextmanager
def server(args: list[str], log: Path, **kwargs: object) -> Iterator[subprocess.Popen[str]]:
    """A server process whose output goes to `log` (a file, never a pipe: reading one while the
    server lives blocks). Stopped by its PID on the way out; a failure inside gets its output."""
    with log.open("w") as out:
        proc: subprocess.Popen[str] = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, text=True, **kwargs)  # type: ignore[call-overload]
    try:
        yield proc
    except BaseException as e:
        stop(proc)
        e.add_note(f"The server's output:\n{log.read_text(errors='replace')[-4000:]}")
        raise
    finally:
        stop(proc)


def test_serve_serves_the_app_modules_agents(tmp_path: Path, python: str, subprocess_env: dict[str, str]) -> None:
    (tmp_path / "hello_app.py").write_text(APP)
    port = free_port()
    env = subprocess_env | {"AGENT_RUNTIME_API_KEYS": KEY}
    args = [python, "-m", "agent_runtime_core.cli", "serve", "--app", "hello_app", "--port", str(port), "--log-level", "warning"]
    with server(args, tmp_path / "server.log", cwd=tmp_path, env=env) as proc:
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(url, proc)
        headers = {"Authorization": f"Bearer {KEY}"}
        assert httpx.get(f"{url}/agents").status_code == 401
        assert httpx.get(f"{url}/agents", headers=headers).json() == {"agents": ["hello"]}
        run_id = httpx.post(f"{url}/runs", json={"agent_key": "hello", "input": "hi"}, headers=headers).json()["run_id"]
        with httpx.stream("GET", f"{url}/runs/{run_id}/events", headers=headers) as stream:
            events = [line.split(": ", 1)[1] for line in stream.iter_lines() if line.startswith("event: ")]
        assert events == ["run.started", "assistant.message", "run.succeeded"]
        assert httpx.get(f"{url}/").headers["content-type"].startswith("text/html")  # the viewer, no key
    output = (tmp_path / "server.log").read_text()
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


def test_demo_serve_prints_the_url_and_serves_the_demo_agents(tmp_path: Path, python: str, subprocess_env: dict[str, str]) -> None:
    port = free_port()
    args = [python, "-m", "agent_runtime_core.cli", "demo", "--serve", "--port", str(port), "--db", str(tmp_path / "d.db")]
    with server(args, tmp_path / "server.log", cwd=tmp_path, env=subprocess_env) as proc:
        wait_until_healthy(f"http://127.0.0.1:{port}", proc)
        agents = httpx.get(f"http://127.0.0.1:{port}/agents").json()["agents"]
        assert agents == ["approval-agent", "flaky-agent", "research-assistant", "tool-agent"]
    first = (tmp_path / "server.log").read_text().splitlines()[0]
    assert first.strip() == f"agent-runtime demo: the run viewer is at http://127.0.0.1:{port}/"


def test_the_serve_example_and_its_client(tmp_path: Path, python: str, subprocess_env: dict[str, str]) -> None:
    examples = Path(__file__).resolve().parents[2] / "examples" / "serve"
    port = free_port()
    env = subprocess_env | {"PYTHONPATH": os.pathsep.join([str(examples), subprocess_env["PYTHONPATH"]])}
    args = [python, "-m", "agent_runtime_core.cli", "serve", "--app", "app", "--port", str(port), "--log-level", "warning"]
    with server(args, tmp_path / "server.log", cwd=tmp_path, env=env) as proc:
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(url, proc)
        out = subprocess.run(
            [python, str(examples / "client.py"), url, "research-assistant", "What should I pack?"],
            env=subprocess_env, capture_output=True, text=True, timeout=120,
        )
        assert out.returncode == 0, out.stderr
        assert "tool.call" in out.stdout and "run.succeeded" in out.stdout and '"status": "succeeded"' in out.stdout
    assert (tmp_path / ".agent-runtime" / "serve-example.db").exists()


def test_a_server_that_never_gets_healthy_is_stopped_and_its_output_shown(tmp_path: Path, python: str) -> None:
    # Alive, holding its output open, never answering: reading a pipe here would block until the
    # test timed out, and the diagnostic would be lost.
    args = [python, "-c", "import time; print('still booting', flush=True); time.sleep(600)"]
    with pytest.raises(RuntimeError, match="did not answer 200") as info, server(args, tmp_path / "server.log") as proc:
        wait_until_healthy(f"http://127.0.0.1:{free_port()}", proc, timeout=1)
    assert proc.poll() is not None  # stopped by its PID
    assert any("still booting" in note for note in info.value.__notes__)


def test_a_server_that_exits_at_start_fails_at_once_with_its_output(tmp_path: Path, python: str, subprocess_env: dict[str, str]) -> None:
    args = [python, "-m", "agent_runtime_core.cli", "serve", "--app", "no_such_app_module", "--port", str(free_port())]
    with pytest.raises(RuntimeError, match="exited with code") as info, server(args, tmp_path / "server.log", cwd=tmp_path, env=subprocess_env) as proc:
        wait_until_healthy(f"http://127.0.0.1:{free_port()}", proc, timeout=120)
    assert any("no_such_app_module" in note for note in info.value.__notes__)
