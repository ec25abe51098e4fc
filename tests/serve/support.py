"""Helpers shared by the server's tests (and the framework tests in tests/conformance, which load
this file by path): uvicorn on a free loopback port, an SSE parser, and the Node.js clients of
tests/serve/js (AG-UI's client, a headless Chromium), which `make test` installs with `npm ci`;
without them the tests fail and say how (never skip)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

JS_DIR = Path(__file__).resolve().parent / "js"


@contextlib.asynccontextmanager
async def serve_app(app: Any) -> AsyncIterator[str]:
    """Serve `app` with uvicorn on 127.0.0.1 at a free port; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", ws="none", http="h11", timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        async with asyncio.timeout(15):
            await task
        sock.close()


@dataclass
class SSEMessage:
    id: str | None
    event: str | None
    data: str
    comments: list[str]

    def json(self) -> Any:
        return json.loads(self.data)


async def sse_messages(response: httpx.Response) -> AsyncIterator[SSEMessage]:
    """Parse a text/event-stream response into messages (comments attached to the next one, or
    yielded alone with no data when a keep-alive arrives on an idle stream)."""
    fields: dict[str, list[str]] = {}
    comments: list[str] = []
    async for line in response.aiter_lines():
        if line == "":
            if fields or comments:
                yield SSEMessage(
                    (fields.get("id") or [None])[-1], (fields.get("event") or [None])[-1], "\n".join(fields.get("data", [])), comments
                )
            fields, comments = {}, []
            continue
        if line.startswith(":"):
            comments.append(line[1:].strip())
            continue
        name, _, value = line.partition(":")
        fields.setdefault(name, []).append(value[1:] if value.startswith(" ") else value)


def require_js(package: str) -> None:
    """Fail (never skip) with what to run when Node.js or an npm package is missing."""
    if shutil.which("node") is None:
        pytest.fail("Node.js is needed for the AG-UI client and browser tests: install node (20+) and npm, then `make test`.")
    if not (JS_DIR / "node_modules" / package).is_dir():
        pytest.fail(f"npm package {package} is missing: run `make test-js-deps` (npm ci in {JS_DIR}).")


async def run_node(script: str, argument: Any, *, timeout: float = 120.0) -> Any:
    """Run `script` (in tests/serve/js) with one JSON argument; its stdout's last line as JSON."""
    proc = await asyncio.create_subprocess_exec(
        "node", script, json.dumps(argument), cwd=JS_DIR,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(timeout):
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    lines = out.decode().strip().splitlines()
    assert lines, err.decode()
    return json.loads(lines[-1])
