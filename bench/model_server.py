"""Benchmark 8: what a model call on the loopback server costs, and how much of it is the server.

The adapters' benchmark (5) runs every framework against `OpenAICompatibleServer`, in the same
process. This one splits a single model call, streamed and not, Chat Completions and Responses,
into what the server spends and what the client spends:

- the SDK call: the raw `openai.AsyncOpenAI` client (what every framework's client wraps), one
  call awaited at a time, streamed calls consumed to the end; wall time, the loop thread's CPU
  (the client) and the other threads' CPU (the server's) per call, and how many TCP connections
  the server accepted per call;
- the server alone: the same requests from a minimal asyncio client on one kept-alive socket that
  reads the reply's bytes and parses nothing, so its time is the server's (and loopback's).

No target: it says where the time of a streamed call goes, for docs/performance.md.

    python -m bench.model_server [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from agent_runtime_core.testing import OpenAICompatibleServer, ScriptedModel, reply
from bench._harness import Row, Stat, Table, ratios

ANSWER = "It is sunny and 22°C in Paris today, with a light breeze from the west."
QUESTION = "What is the weather in Paris?"
MESSAGES = [{"role": "user", "content": QUESTION}]

# (label, path, body): the four kinds of model call the frameworks make.
KINDS: list[tuple[str, str, dict[str, Any]]] = [
    ("chat, plain", "/chat/completions", {"model": "gpt-4o", "messages": MESSAGES}),
    ("chat, streamed", "/chat/completions",
     {"model": "gpt-4o", "messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True}}),
    ("responses, plain", "/responses", {"model": "gpt-4o", "input": QUESTION}),
    ("responses, streamed", "/responses", {"model": "gpt-4o", "input": QUESTION, "stream": True}),
]


def _sdk_call(client: Any, path: str, body: dict[str, Any]) -> Callable[[], Awaitable[None]]:
    async def call() -> None:
        if path == "/chat/completions":
            result = await client.chat.completions.create(**body)
        else:
            result = await client.responses.create(**body)
        if body.get("stream"):
            async for _ in result:
                pass

    return call


def _raw_call(port: int, path: str, body: dict[str, Any]) -> Callable[[], Awaitable[None]]:
    """One request on a kept-alive socket; reads the reply to its end, parses nothing."""
    data = json.dumps(body).encode()
    request = (f"POST /v1{path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(data)}\r\n\r\n").encode() + data
    conn: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def call() -> None:
        if not conn:
            conn.append(await asyncio.open_connection("127.0.0.1", port))
        reader, writer = conn[0]
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        if b"chunked" in head:
            buf = b""
            while not buf.endswith(b"0\r\n\r\n"):
                buf += await reader.read(65536)
        else:
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)

    call.close = lambda: conn and conn[0][1].close()  # type: ignore[attr-defined]
    return call


def run(quick: bool = False, repeats: int = 5) -> list[Table]:
    """Measure and return the table."""
    import openai

    calls = 10 if quick else 200
    table = Table("8. Loopback model server: one model call, server vs client", repeats=repeats)

    async def main() -> None:
        server = OpenAICompatibleServer(ScriptedModel([reply(ANSWER)])).start()
        accepted = [0]
        register = server._register

        def counting(conn: Any) -> bool:
            accepted[0] += 1
            return register(conn)

        server._register = counting  # type: ignore[method-assign]
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="test", max_retries=0)
        try:
            for label, path, body in KINDS:
                sdk, raw = _sdk_call(client, path, body), _raw_call(server.port, path, body)
                for _ in range(min(calls, 20)):  # warm up
                    await sdk()
                    await raw()
                wall, client_cpu, server_cpu, alone, conns = [], [], [], [], []
                for _ in range(repeats):
                    before = accepted[0]
                    w0, c0, p0 = time.perf_counter(), time.thread_time(), time.process_time()
                    for _ in range(calls):
                        await sdk()
                    w, c, p = time.perf_counter() - w0, time.thread_time() - c0, time.process_time() - p0
                    wall.append(w / calls * 1e6)
                    client_cpu.append(c / calls * 1e6)
                    server_cpu.append((p - c) / calls * 1e6)
                    conns.append((accepted[0] - before) / calls)
                    t0 = time.perf_counter()
                    for _ in range(calls):
                        await raw()
                    alone.append((time.perf_counter() - t0) / calls * 1e6)
                raw.close()  # type: ignore[attr-defined]
                table.add(Row(f"{label}: server alone vs SDK call, wall", Stat(alone), "µs", Stat(wall),
                              ratios(alone, wall)))
                table.add(Row(f"{label}: server threads' CPU vs client's, per SDK call", Stat(server_cpu), "µs",
                              Stat(client_cpu), ratios(server_cpu, client_cpu)))
                table.add(Row(f"{label}: new connections per SDK call", Stat(conns), digits=2))
        finally:
            await client.close()
            server.stop()

    asyncio.run(main())
    table.notes.append(
        f"{calls} calls per repeat, one at a time; a {len(ANSWER)}-character answer (a few text deltas when "
        "streamed). SDK: openai.AsyncOpenAI; its CPU is the event loop thread's, the server's is every other "
        "thread's (process CPU minus the loop thread's). Server alone: a raw asyncio client on one kept-alive "
        "socket, reading each reply to its end without parsing it.")
    return [table]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    for t in run(parser.parse_args().quick):
        t.print()
