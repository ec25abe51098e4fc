"""The server under test: `create_app` served by a real uvicorn on a free loopback port, in the
test's event loop, with small agents whose pace the tests control."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from agent_runtime_core import (
    AgentRunner,
    AgentRuntime,
    EventType,
    RunContext,
    RunnerConfig,
    RunResult,
)
from agent_runtime_core.errors import NonRetriableError
from agent_runtime_core.serve import create_app

from .support import SSEMessage, serve_app, sse_messages

__all__ = ["SSEMessage", "serve_app", "sse_messages"]

KEY_A = "key-a-" + "a" * 32
KEY_B = "key-b-" + "b" * 32


class ChattyAgent(AgentRuntime):
    """A step with an LLM call streaming tokens, a tool call and its result, a checkpoint."""

    key = "chatty"  # type: ignore[assignment]

    async def run(self, ctx: RunContext) -> RunResult:
        await ctx.emit(EventType.STEP_STARTED, {"name": "plan", "kind": "node"}, step="plan")
        await ctx.emit(EventType.LLM_CALL_STARTED, {"model": "scripted"}, span_id="llm-1")
        for token in ("Let ", "me ", "check."):
            await ctx.emit(EventType.ASSISTANT_DELTA, {"text": token}, span_id="llm-1")
        await ctx.emit(EventType.LLM_CALL_COMPLETED, {"model": "scripted", "usage": {"input_tokens": 5, "output_tokens": 3}}, span_id="llm-1")
        await ctx.emit(EventType.TOOL_CALL, {"tool_call_id": "call-1", "name": "get_weather", "arguments": {"city": "Paris"}})
        await ctx.emit(EventType.TOOL_RESULT, {"tool_call_id": "call-1", "name": "get_weather", "result": "sunny"})
        await ctx.checkpoint({"turn": 1})
        await ctx.emit(EventType.STEP_COMPLETED, {"name": "plan", "kind": "node"}, step="plan")
        await ctx.emit(EventType.ASSISTANT_MESSAGE, {"content": "It is sunny in Paris."})
        return RunResult(final_output={"response": "It is sunny in Paris."})


class PacedAgent(AgentRuntime):
    """`count` progress events (from the input's metadata or state), `pause` seconds apart."""

    key = "paced"  # type: ignore[assignment]

    async def run(self, ctx: RunContext) -> RunResult:
        settings = {**(ctx.input_data.get("state") or {}), **ctx.metadata}  # AG-UI passes state
        count = int(settings.get("count", 20))
        pause = float(settings.get("pause", 0.01))
        for i in range(count):
            await ctx.emit(EventType.PROGRESS_UPDATE, {"percent": round(100 * (i + 1) / count, 2), "i": i})
            await asyncio.sleep(pause)
        return RunResult(final_output={"count": count})


class WaitingAgent(AgentRuntime):
    """Starts, then waits until it is cancelled."""

    key = "waits"  # type: ignore[assignment]

    async def run(self, ctx: RunContext) -> RunResult:
        await ctx.emit(EventType.STEP_STARTED, {"name": "wait", "kind": "step"}, step="wait")
        await ctx.wait_cancelled()
        return RunResult(final_output={})


class AskingAgent(AgentRuntime):
    """Asks a human first; once resumed, answers with what the human said."""

    key = "asks"  # type: ignore[assignment]

    async def run(self, ctx: RunContext) -> RunResult:
        if not ctx.is_resuming:
            await ctx.emit(EventType.TOOL_CALL, {"tool_call_id": "call-ask", "name": "send_email", "arguments": {"to": "bob"}})
            return RunResult(interrupt={"question": "Send the email to bob?", "tool_call_id": "call-ask"})
        await ctx.emit(EventType.TOOL_RESULT, {"tool_call_id": "call-ask", "name": "send_email", "result": f"answer: {ctx.resume_value}"})
        return RunResult(final_output={"answer": ctx.resume_value})


class FailingAgent(AgentRuntime):
    key = "fails"  # type: ignore[assignment]

    async def run(self, ctx: RunContext) -> RunResult:
        await ctx.emit(EventType.STEP_STARTED, {"name": "doomed", "kind": "step"}, step="doomed")
        raise NonRetriableError("the database is gone")


AGENTS = [ChattyAgent(), PacedAgent(), WaitingAgent(), AskingAgent(), FailingAgent()]


@dataclass
class Served:
    url: str
    runner: AgentRunner
    app: Any
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def client(self, key: str | None = KEY_A, **kwargs: Any) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        headers.update(kwargs.pop("headers", {}))
        kwargs.setdefault("timeout", httpx.Timeout(30.0))
        client = httpx.AsyncClient(base_url=self.url, headers=headers, **kwargs)
        self.clients.append(client)
        return client

    async def start(self, client: httpx.AsyncClient, agent_key: str, **body: Any) -> str:
        response = await client.post("/runs", json={"agent_key": agent_key, **body})
        assert response.status_code == 201, response.text
        run_id: str = response.json()["run_id"]
        return run_id

    async def wait_status(self, client: httpx.AsyncClient, run_id: str, *statuses: str) -> dict[str, Any]:
        async with asyncio.timeout(30):
            while True:
                body: dict[str, Any] = (await client.get(f"/runs/{run_id}")).json()
                if body["status"] in statuses:
                    return body
                await asyncio.sleep(0.02)


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    runner = AgentRunner(RunnerConfig(max_retries=0, run_timeout_seconds=60))
    app = create_app(runner, agents=AGENTS, api_keys=[KEY_A, KEY_B], keepalive_seconds=0.2)
    async with serve_app(app) as url:
        served = Served(url, runner, app)
        try:
            yield served
        finally:
            for client in served.clients:
                await client.aclose()
