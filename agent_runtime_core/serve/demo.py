"""The agents `agent-runtime demo --serve` and `examples/serve/` serve: offline, no API key, paced
so the viewer shows a run unfold (nested steps, streaming tokens, tool calls, checkpoints, an
approval, a failure with retries).

The model is `DemoModel`, a `BaseLLMClient` that streams canned replies word by word: the LLM
events (calls, deltas, usage) are the real client machinery's, only the words are scripted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from .. import AgentRuntime, RunContext, RunResult
from .._demo import DemoToolAgent, demo_script, demo_tools
from ..events import EventType
from ..llm import BaseLLMClient, LLMResponse, LLMStreamChunk, StreamChunkType, Usage, use_llm_client
from ..steps import Step, StepExecutor

__all__ = ["DemoModel", "demo_agents"]


class DemoModel(BaseLLMClient):
    """Streams `reply=` word by word, `pace` seconds a word (a canned model for demos)."""

    provider = "demo"

    def __init__(self, pace: float = 0.04) -> None:
        super().__init__("demo-model")
        self.pace = pace

    async def _generate(self, messages: list[dict[str, Any]], tools: Any, model: str, **kwargs: Any) -> LLMResponse:
        text = str(kwargs.get("reply", ""))
        await asyncio.sleep(self.pace * 5)
        return self._response(messages, text, model)

    async def _stream(self, messages: list[dict[str, Any]], tools: Any, model: str, **kwargs: Any) -> AsyncIterator[LLMStreamChunk]:
        text = str(kwargs.get("reply", ""))
        await asyncio.sleep(self.pace * 3)  # time to first token
        words = text.split(" ")
        for i, word in enumerate(words):
            yield LLMStreamChunk(StreamChunkType.TEXT_DELTA, text=word + (" " if i < len(words) - 1 else ""))
            await asyncio.sleep(self.pace)
        yield LLMStreamChunk(StreamChunkType.DONE, response=self._response(messages, text, model))

    @staticmethod
    def _response(messages: Sequence[dict[str, Any]], text: str, model: str) -> LLMResponse:
        prompt = sum(len(str(m.get("content", ""))) for m in messages) // 4 + 12
        usage = Usage(input_tokens=prompt, output_tokens=max(1, len(text) // 4))
        return LLMResponse({"role": "assistant", "content": text}, usage=usage, model=model, finish_reason="stop")


def _question(ctx: RunContext, default: str) -> str:
    for message in reversed(ctx.input_messages):
        if message.get("role") == "user" and isinstance(message.get("content"), str) and message["content"].strip():
            return str(message["content"]).strip()
    return default


class ResearchAgent(AgentRuntime):
    """Plans, searches with two tools, then writes an answer: three checkpointed steps."""

    key = "research-assistant"

    def __init__(self, model: DemoModel) -> None:
        self.model = model
        self.tools = demo_tools()

    async def _say(self, ctx: RunContext, text: str) -> str:
        out = []
        async for chunk in self.model.stream([{"role": "user", "content": _question(ctx, "")}], reply=text):
            out.append(chunk.text)
        return "".join(out)

    async def _call(self, ctx: RunContext, call_id: str, name: str, arguments: dict[str, Any]) -> str:
        await ctx.emit(EventType.TOOL_CALL, {"tool_call_id": call_id, "name": name, "arguments": arguments})
        await asyncio.sleep(self.model.pace * 8)
        result = str(await self.tools.execute(name, arguments))
        await ctx.emit(EventType.TOOL_RESULT, {"tool_call_id": call_id, "name": name, "result": result})
        return result

    async def run(self, ctx: RunContext) -> RunResult:
        question = _question(ctx, "What should I pack for Paris this weekend?")

        async def plan(ctx: RunContext, state: dict[str, Any]) -> str:
            return await self._say(ctx, "I'll check the weather in Paris, look up what's on this weekend, then write a short packing list.")

        async def search(ctx: RunContext, state: dict[str, Any]) -> dict[str, str]:
            weather, events = await asyncio.gather(
                self._call(ctx, "call_weather", "get_weather", {"location": "Paris"}),
                self._call(ctx, "call_search", "search_web", {"query": "Paris events this weekend"}),
            )
            return {"weather": weather, "events": events}

        async def write(ctx: RunContext, state: dict[str, Any]) -> str:
            return await self._say(
                ctx,
                f"{state['search']['weather']}, so pack light: a linen shirt, sunglasses and comfortable shoes "
                "for walking. Bring a light jacket for the evenings along the Seine.",
            )

        steps = [
            Step("plan", plan, description="Decide how to answer"),
            Step("search", search, description="Call the tools"),
            Step("write", write, description="Write the answer"),
        ]
        results = await StepExecutor(ctx).run(steps)
        await ctx.emit(EventType.ASSISTANT_MESSAGE, {"content": results["write"]})
        return RunResult(final_output={"question": question, "response": results["write"]})


class ApprovalAgent(AgentRuntime):
    """Drafts an email, asks a human to approve it, then sends it (or not)."""

    key = "approval-agent"

    def __init__(self, model: DemoModel) -> None:
        self.model = model

    async def run(self, ctx: RunContext) -> RunResult:
        if not ctx.is_resuming:
            await ctx.emit(EventType.STEP_STARTED, {"name": "draft", "kind": "node"}, step="draft")
            draft = "".join([c.text async for c in self.model.stream([], reply="Hi team, the launch moves to Thursday at 10:00. The checklist is in the shared drive.")])
            await ctx.checkpoint({"draft": draft}, step="draft")
            await ctx.emit(EventType.STEP_COMPLETED, {"name": "draft", "kind": "node"}, step="draft")
            return RunResult(interrupt={"question": "Send this email to the team?", "draft": draft, "reason": "approval"})
        draft = str((await ctx.get_checkpoint() or {}).get("draft", ""))
        answer = ctx.resume_value
        approved = answer is True or (isinstance(answer, str) and answer.strip().lower() in ("yes", "y", "approve", "ok", "send"))
        approved = approved or (isinstance(answer, dict) and answer.get("approved") is True)
        await ctx.emit(EventType.STEP_STARTED, {"name": "send", "kind": "node"}, step="send")
        if approved:
            await ctx.emit(EventType.TOOL_CALL, {"tool_call_id": "call_send", "name": "send_email", "arguments": {"to": "team@example.com", "body": draft}})
            await asyncio.sleep(self.model.pace * 6)
            await ctx.emit(EventType.TOOL_RESULT, {"tool_call_id": "call_send", "name": "send_email", "result": "sent (message id 4711)"})
        await ctx.emit(EventType.STEP_COMPLETED, {"name": "send", "kind": "node"}, step="send")
        verdict = "Sent the email." if approved else f"Did not send the email (answer: {answer!r})."
        await ctx.emit(EventType.ASSISTANT_MESSAGE, {"content": verdict})
        return RunResult(final_output={"response": verdict, "sent": approved})


def fetch_report(quarter: str) -> str:
    """Fetch a quarterly report (the demo's server is always down)."""
    raise ConnectionError(f"reports.internal refused the connection while fetching {quarter}")


class FlakyAgent(AgentRuntime):
    """Calls a tool whose server is down: the step retries, then the run fails."""

    key = "flaky-agent"

    def __init__(self, model: DemoModel) -> None:
        self.model = model

    async def run(self, ctx: RunContext) -> RunResult:
        async def fetch(ctx: RunContext, state: dict[str, Any]) -> str:
            await ctx.emit(EventType.TOOL_CALL, {"tool_call_id": f"call_fetch_{time.monotonic_ns()}", "name": "fetch_report", "arguments": {"quarter": "Q3"}})
            await asyncio.sleep(self.model.pace * 5)
            return str(fetch_report("Q3"))

        await StepExecutor(ctx).run([Step("fetch", fetch, retries=1, retry_delay=self.model.pace * 10, description="Fetch the Q3 report")])
        return RunResult(final_output={})


class ScriptedToolAgent(DemoToolAgent):
    """The README's tool agent (`agent-runtime demo`'s), on its scripted model."""

    async def run(self, ctx: RunContext) -> RunResult:
        from ..testing import ScriptedLLMClient

        with use_llm_client(ScriptedLLMClient(demo_script())):
            return await super().run(ctx)


def demo_agents(pace: float = 0.04) -> list[AgentRuntime]:
    """The demo's agents; `pace` is seconds per streamed word (tests use less)."""
    model = DemoModel(pace)
    return [ResearchAgent(model), ApprovalAgent(model), FlakyAgent(model), ScriptedToolAgent()]
