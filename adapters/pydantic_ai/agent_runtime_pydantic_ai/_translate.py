"""Pydantic AI's own event stream of one run -> `RunRecorder` calls, and the checkpoints between.

The run is driven node by node (`Agent.iter()`), each node streamed (`node.stream(run.ctx)`):
- a `ModelRequestNode` is one model call: LLM_CALL_STARTED, then ASSISTANT_DELTA for each text
  part start and text delta of its stream (tool-call argument deltas, thinking and the stream's
  bookkeeping events are not forwarded: the tool calls are reported when they run);
- the `CallToolsNode` that follows carries the model's response: LLM_CALL_COMPLETED (usage, model,
  finish reason) and ASSISTANT_MESSAGE (its text, if any); the history is saved before its tools
  run; its stream's `FunctionToolCallEvent` / `FunctionToolResultEvent` are TOOL_CALL /
  TOOL_RESULT (`{error}` for a failed, retried, denied or interrupted outcome);
- output-tool events and any event of another kind are CUSTOM (`pydantic_ai.<event_kind>`).

Ordering: Pydantic AI reports from the task that iterates the run, in order; nothing to reorder.
Tool returns that arrive without an event (approved deferred calls run on resume) are reported
from the next model request's parts, so every TOOL_CALL gets its TOOL_RESULT.
"""

from __future__ import annotations

from typing import Any

from pydantic_ai import Agent
from pydantic_ai.messages import (
    FunctionToolCallEvent,
    FunctionToolResultEvent,
    ModelRequest,
    ModelResponse,
    PartDeltaEvent,
    PartStartEvent,
    RetryPromptPart,
    TextPart,
    TextPartDelta,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.run import AgentRun

from agent_runtime_core.integration import RunRecorder

from ._convert import jsonable
from ._state import Saved

__all__ = ["Translation"]

_STREAM_BOOKKEEPING = frozenset({"part_start", "part_delta", "part_end", "final_result"})
_ERROR_OUTCOMES = frozenset({"failed", "retried"})
"""Tool return outcomes the model is told as an error (`ERROR_OUTCOMES` of pydantic-ai >= 2.3x;
before `retried` existed, a retry was a `RetryPromptPart`)."""


class Translation:
    """Reports one execution of a run to its recorder, and saves its history as it goes."""

    def __init__(self, recorder: RunRecorder, saved: Saved, model_name: str, *, awaiting: set[str] | None = None) -> None:
        self.rec = recorder
        self.saved = saved
        self.model_name = model_name
        self.model_calls = 0
        """Model calls made by this execution."""
        self._call: str | None = None
        self._reported: set[str] = set()
        self._awaiting = awaiting or set()  # deferred calls approved or denied on resume

    async def consume(self, run: AgentRun[Any, Any]) -> None:
        """Drive `run` to its end, reporting each node."""
        async for node in run:
            if Agent.is_model_request_node(node):
                await self._returns_without_event(node.request)
                if self.model_calls or any(isinstance(p, ToolReturnPart) for p in node.request.parts):
                    await self.saved.save_progress([*run.all_messages(), node.request])  # the tools' returns
                self._call = await self.rec.llm_call_started(self.model_name)
                self.model_calls += 1
                async with node.stream(run.ctx) as stream:
                    async for event in stream:
                        await self._model_event(self._call, event)
            elif Agent.is_call_tools_node(node):
                await self._response(node.model_response, run)
                async with node.stream(run.ctx) as stream:
                    async for event in stream:
                        await self._tool_event(event)

    async def _response(self, response: ModelResponse, run: AgentRun[Any, Any]) -> None:
        if self._call is None:  # a response saved by an earlier execution: its tools run now
            return
        call, self._call = self._call, None
        await self.rec.llm_call_completed(
            call, usage=response.usage, model=response.model_name or self.model_name, finish_reason=response.finish_reason
        )
        await self.rec.assistant_message("".join(p.content for p in response.parts if isinstance(p, TextPart)))
        if any(isinstance(p, ToolCallPart) for p in response.parts):
            await self.saved.save_progress(run.all_messages())  # before its tools run

    async def _model_event(self, call: str, event: Any) -> None:
        if isinstance(event, PartStartEvent) and isinstance(event.part, TextPart):
            await self.rec.llm_delta(call, event.part.content)
        elif isinstance(event, PartDeltaEvent) and isinstance(event.delta, TextPartDelta):
            await self.rec.llm_delta(call, event.delta.content_delta)

    async def _tool_event(self, event: Any) -> None:
        if isinstance(event, FunctionToolCallEvent):
            part = event.part
            await self.rec.tool_call(part.tool_name, part.args, call_id=part.tool_call_id)
        elif isinstance(event, FunctionToolResultEvent):
            await self._tool_return(event.part)
        elif getattr(event, "event_kind", None) not in _STREAM_BOOKKEEPING:
            kind = str(getattr(event, "event_kind", type(event).__name__))
            await self.rec.custom(f"pydantic_ai.{kind}", jsonable(getattr(event, "part", None)) or {})

    async def _tool_return(self, part: ToolReturnPart | RetryPromptPart) -> None:
        call_id, name = part.tool_call_id, part.tool_name or ""
        self._reported.add(call_id)
        if isinstance(part, RetryPromptPart):  # a ModelRetry or invalid arguments (older releases)
            error = part.content if isinstance(part.content, str) else part.model_response()
            await self.rec.tool_result(call_id, error=error, name=name)
            return
        outcome = getattr(part, "outcome", "success")
        if outcome in _ERROR_OUTCOMES:
            await self.rec.tool_result(call_id, error=part.model_response_str(wrap_if_error=False), name=name)
        elif outcome == "denied":
            await self.rec.tool_result(call_id, error=f"denied by a human: {part.model_response_str()}", name=name)
        elif outcome == "interrupted":
            await self.rec.tool_result(call_id, error=part.model_response_str(), name=name)
        else:
            await self.rec.tool_result(call_id, part.content, name=name)

    async def _returns_without_event(self, request: ModelRequest) -> None:
        for part in request.parts:
            if not isinstance(part, ToolReturnPart | RetryPromptPart) or part.tool_call_id in self._reported:
                continue
            if part.tool_call_id in self._awaiting or self.rec.is_open("tool", part.tool_call_id):
                await self._tool_return(part)
