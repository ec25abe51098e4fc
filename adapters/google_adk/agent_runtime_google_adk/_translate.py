"""ADK's signals of one run, reported to the run's `RunRecorder`, through an ADK plugin.

Each run gets its own `Runner` with its own `Translation` plugin, so concurrent runs never share
one: correlation is by construction, not by ids.

| ADK callback / event | recorder call |
| --- | --- |
| `before_agent_callback` / `after_agent_callback` | `step_started(agent, "agent", parent=<parent agent's step>)` / `step_completed` (workflow agents too, with `agent_type`) |
| `before_model_callback` | `llm_call_started(model)` |
| `after_model_callback`, partial response | `llm_delta(text)` |
| `after_model_callback`, final response | `llm_call_completed(usage)`, then `tool_call` per function call, `assistant_message` for text |
| `on_model_error_callback` | `llm_call_failed` |
| `before_tool_callback` | `tool_call` when the call was not reported yet (a call resumed after a crash) |
| `after_tool_callback` / `on_tool_error_callback` | `tool_result` / `tool_result(error=...)` (the error goes to the model as `{"error": ...}` unless `handle_tool_errors=False`) |
| a tool asking for confirmation, a long-running tool | the call stays open; the run ends RUN_INTERRUPTED (`pending`) |
| event with `actions.transfer_to_agent` | a `handoff` step, opened and closed |
| event with `actions.escalate` / a state delta | `custom("adk.escalate" / "adk.state_delta")` |

**Order.** ADK calls plugins on the task running the invocation, in the order things happen,
and the runner yields events after their callbacks: nothing to reorder. Parallel sub-agents run
at once, so every event names its step explicitly (the agent's step), never the innermost one.
"""

from __future__ import annotations

import asyncio
from typing import Any

from google.adk.agents import BaseAgent, LlmAgent
from google.adk.events.event import Event
from google.adk.plugins.base_plugin import BasePlugin

from agent_runtime_core.integration import RunRecorder

from ._convert import CONFIRMATION_TOOL, text_of, unwrap_result

__all__ = ["Translation"]


def _model_name(agent: Any, request: Any) -> str:
    name = getattr(request, "model", None)
    if isinstance(name, str) and name:
        return name
    model = getattr(agent, "model", None)
    name = getattr(model, "model", model)
    return name if isinstance(name, str) and name else "unknown"


class Translation(BasePlugin):
    """One run's ADK plugin: callbacks in, recorder calls out."""

    def __init__(self, recorder: RunRecorder, agents: dict[str, BaseAgent], *, handle_tool_errors: bool = True) -> None:
        super().__init__(name="agent_runtime")
        self.recorder = recorder
        self.agents = agents
        self.handle_tool_errors = handle_tool_errors
        self.steps: dict[str, list[str]] = {}  # agent name -> its open steps (a loop re-enters)
        self.calls: dict[str, str] = {}  # agent step -> its open model call
        self.invocation_id: str | None = None
        self.final_text = ""
        self.final_agent: str | None = None
        self.waiting: dict[str, dict[str, Any]] = {}  # tool call id -> what it waits for
        self.confirmations: dict[str, str] = {}  # tool call id -> ADK's confirmation call id

    def step_of(self, agent_name: str | None) -> str | None:
        stack = self.steps.get(agent_name or "")
        return stack[-1] if stack else None

    # -- the invocation -------------------------------------------------------------------------

    async def before_run_callback(self, *, invocation_context: Any) -> None:
        self.invocation_id = invocation_context.invocation_id

    async def on_event_callback(self, *, invocation_context: Any, event: Event) -> None:
        if event.partial:
            return
        step = self.step_of(event.author)
        for part in event.content.parts if event.content and event.content.parts else []:
            call = part.function_call
            if call is not None and call.name == CONFIRMATION_TOOL:
                original = (call.args or {}).get("originalFunctionCall") or {}
                if isinstance(original, dict) and original.get("id"):
                    self.confirmations[str(original["id"])] = call.id or ""
        actions = event.actions
        if actions is not None:
            if actions.transfer_to_agent:
                source, target = event.author, actions.transfer_to_agent
                handoff = await self.recorder.step_started(
                    f"handoff:{source}->{target}", "handoff", parent=step, from_agent=source, to_agent=target
                )
                await self.recorder.step_completed(handoff)
            if actions.escalate:
                await self.recorder.custom("adk.escalate", {"agent": event.author}, step=step)
            if actions.state_delta:
                await self.recorder.custom("adk.state_delta", {"agent": event.author, "delta": dict(actions.state_delta)}, step=step)
        text = text_of(event.content)
        if text and event.author != "user":
            self.final_text, self.final_agent = text, event.author

    # -- agents -------------------------------------------------------------------------------

    async def before_agent_callback(self, *, agent: BaseAgent, callback_context: Any) -> None:
        parent = agent.parent_agent.name if agent.parent_agent is not None else None
        extra = {} if isinstance(agent, LlmAgent) else {"agent_type": type(agent).__name__}
        step = await self.recorder.step_started(agent.name, "agent", parent=self.step_of(parent), **extra)
        self.steps.setdefault(agent.name, []).append(step)

    async def after_agent_callback(self, *, agent: BaseAgent, callback_context: Any) -> None:
        stack = self.steps.get(agent.name)
        if stack:
            task = asyncio.current_task()
            if task is not None and task.cancelling():  # ADK ends the agent while it is cancelled
                await self.recorder.step_failed(stack.pop(), asyncio.CancelledError())
            else:
                await self.recorder.step_completed(stack.pop())

    # -- model calls ----------------------------------------------------------------------------

    async def before_model_callback(self, *, callback_context: Any, llm_request: Any) -> None:
        name = callback_context.agent_name
        step = self.step_of(name)
        model = _model_name(self.agents.get(name), llm_request)
        provider, _, bare = model.rpartition("/")  # LiteLLM's "openai/gpt-4o" names the provider
        call = await self.recorder.llm_call_started(bare, step=step, provider=provider or None)
        self.calls[step or ""] = call

    async def after_model_callback(self, *, callback_context: Any, llm_response: Any) -> None:
        step = self.step_of(callback_context.agent_name)
        call = self.calls.get(step or "")
        if call is None:
            return
        if llm_response.partial:
            await self.recorder.llm_delta(call, text_of(llm_response.content))
            return
        del self.calls[step or ""]
        await self.recorder.llm_call_completed(
            call, usage=llm_response.usage_metadata,
            finish_reason=str(llm_response.finish_reason.value).lower() if llm_response.finish_reason else None,
        )
        content = llm_response.content
        if llm_response.error_code:
            await self.recorder.custom("adk.model_error", {"code": llm_response.error_code, "message": llm_response.error_message}, step=step)
        for part in content.parts if content and content.parts else []:
            if part.function_call is not None:
                fc = part.function_call
                await self.recorder.tool_call(fc.name or "tool", dict(fc.args or {}), call_id=fc.id or None, step=step)
        await self.recorder.assistant_message(text_of(content), step=step)

    async def on_model_error_callback(self, *, callback_context: Any, llm_request: Any, error: Exception) -> None:
        call = self.calls.pop(self.step_of(callback_context.agent_name) or "", None)
        if call is not None:
            await self.recorder.llm_call_failed(call, error)

    # -- tools --------------------------------------------------------------------------------

    async def before_tool_callback(self, *, tool: Any, tool_args: dict[str, Any], tool_context: Any) -> None:
        call_id = tool_context.function_call_id
        if call_id and not self.recorder.is_open("tool", call_id):  # a call made before a resume
            await self.recorder.tool_call(tool.name, tool_args, call_id=call_id, step=self.step_of(tool_context.agent_name))

    async def after_tool_callback(self, *, tool: Any, tool_args: dict[str, Any], tool_context: Any, result: Any) -> None:
        call_id = tool_context.function_call_id or ""
        step = self.step_of(tool_context.agent_name)
        if call_id in (tool_context.actions.requested_tool_confirmations or {}):
            hint = tool_context.actions.requested_tool_confirmations[call_id].hint
            self.waiting[call_id] = {"type": "tool_confirmation", "tool": tool.name, "arguments": dict(tool_args), "hint": hint}
            return
        if getattr(tool, "is_long_running", False):
            self.waiting[call_id] = {"type": "long_running_tool", "tool": tool.name, "arguments": dict(tool_args), "status": unwrap_result(result)}
            await self.recorder.custom("adk.long_running_tool", {"tool_call_id": call_id, "status": unwrap_result(result)}, step=step)
            return
        self.waiting.pop(call_id, None)
        await self.recorder.tool_result(call_id, unwrap_result(result), name=tool.name, arguments=tool_args, step=step)

    async def on_tool_error_callback(self, *, tool: Any, tool_args: dict[str, Any], tool_context: Any, error: Exception) -> dict[str, Any] | None:
        call_id = tool_context.function_call_id or ""
        step = self.step_of(tool_context.agent_name)
        if isinstance(error, asyncio.CancelledError):
            return None  # the run is being cancelled: the recorder closes the call as cancelled
        message = f"{type(error).__name__}: {error}"
        await self.recorder.tool_result(call_id, error=message, name=tool.name, arguments=tool_args, step=step)
        return {"error": message} if self.handle_tool_errors else None

    # -- the end ------------------------------------------------------------------------------

    def pending(self) -> list[dict[str, Any]]:
        """The tool calls the run waits for (a confirmation or a long-running tool's result)."""
        return [
            {"tool_call_id": call_id, **info, **({"confirmation_id": self.confirmations[call_id]} if call_id in self.confirmations else {})}
            for call_id, info in self.waiting.items()
        ]
