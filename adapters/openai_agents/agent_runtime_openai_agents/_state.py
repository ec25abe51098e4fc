"""What a run keeps in its checkpoint, and how a run executed again continues from it.

The checkpoint (`ctx.checkpoint`, format `CHECKPOINT_FORMAT`) is one of:
- `status: "running"`: the conversation so far as Responses items, the current agent, the model
  calls made, and where the last model response's items begin (saved after each model response
  that calls tools or hands off, before its tools run, and after each tool output and handoff);
- `status: "interrupted"`: the SDK's own `RunState` JSON, the question asked, and the human's
  decision once `runner.resume(...)` gives it;
- `status: "done"`: the run's result, returned as it is when the run is executed again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agents import Agent, FunctionTool, ItemHelpers, RunConfig, RunState, Tool
from agents.run_context import RunContextWrapper
from agents.tool_context import ToolContext
from agents.usage import Usage
from openai.types.responses import ResponseFunctionToolCall

from agent_runtime_core import RunContext
from agent_runtime_core.errors import InvalidInputError, NonRetriableError
from agent_runtime_core.integration import get_logger

from ._convert import jsonable

if TYPE_CHECKING:
    from ._translate import Translation

__all__ = ["CHECKPOINT_FORMAT", "Saved", "apply_decision", "call_id_of", "field", "normalize_decision"]

logger = get_logger("agent_runtime_openai_agents")

CHECKPOINT_FORMAT = "openai-agents/1"
"""The `format` of the checkpoints this adapter writes (checkpoints of other formats are ignored)."""


def field(obj: Any, name: str) -> Any:
    """`obj[name]` or `obj.name`: the SDK's items are dicts or pydantic models."""
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def call_id_of(raw: Any) -> str:
    """The model's id of a tool call item."""
    return str(field(raw, "call_id") or field(raw, "id") or "")


class Saved:
    """One run's saved progress: what the checkpoint holds, kept up to date as the run goes."""

    def __init__(self, ctx: RunContext, *, durable: bool) -> None:
        self.ctx = ctx
        self.durable = durable
        self.items: list[dict[str, Any]] = []
        """The conversation so far, as Responses input items."""
        self.turns = 0
        """Model calls made by the run so far (across executions)."""
        self.response_start = 0
        """Index in `items` of the last model response's first item."""
        self.agent_name: str | None = None
        """The agent whose turn it is (a handoff changes it)."""

    async def load(self) -> dict[str, Any] | None:
        """The run's checkpoint, if it has one of this adapter's format."""
        if self.ctx.state_store is None:
            return None
        checkpoint = await self.ctx.get_checkpoint()
        if checkpoint is not None and checkpoint.get("format") != CHECKPOINT_FORMAT:
            logger.warning("Run %s has a checkpoint of another format; starting afresh.", self.ctx.run_id)
            return None
        return checkpoint

    def restore(self, checkpoint: Mapping[str, Any]) -> None:
        """Continue from a `running` checkpoint."""
        self.items = [dict(item) for item in checkpoint.get("items") or []]
        self.turns = int(checkpoint.get("turns", 0))
        self.response_start = int(checkpoint.get("response_start", len(self.items)))

    async def save(self, state: dict[str, Any], *, force: bool = False) -> None:
        """Save `state` as the checkpoint (when the runtime is durable, or `force`)."""
        if self.ctx.state_store is None:
            if force:
                raise NonRetriableError("A tool approval needs a state store to save the run; give the AgentRunner one.")
            return
        if self.durable or force:
            await self.ctx.checkpoint({"format": CHECKPOINT_FORMAT, **state})

    async def save_progress(self, default_agent: str) -> None:
        """Save the conversation so far (`status: running`)."""
        await self.save(
            {
                "status": "running",
                "items": self.items,
                "agent": self.agent_name or default_agent,
                "turns": self.turns,
                "response_start": self.response_start,
            }
        )

    async def save_interrupt(self, run_state: Any, interrupt: dict[str, Any], agent: str) -> None:
        """Save the SDK's state of a run waiting for a human (always: resume needs it)."""
        state = {"status": "interrupted", "run_state": run_state, "interrupt": interrupt, "agent": agent, "turns": self.turns}
        await self.save(state, force=True)

    async def save_done(self, final_output: dict[str, Any], final_messages: list[dict[str, Any]]) -> None:
        """Save the run's result (`status: done`)."""
        await self.save({"status": "done", "final_output": final_output, "final_messages": final_messages, "turns": self.turns})

    async def finish_pending_tools(
        self, agent: Agent[Any], run_config: RunConfig, user_context: Any, translation: Translation
    ) -> None:
        """The last saved model response asked for tools whose outputs were not saved (a crash
        while they ran): run them now, without asking the model again.

        Only plain function tools of the current agent, without approval or tool guardrails, under
        the default `tool_use_behavior`, are run this way (through the same `on_invoke_tool` the
        SDK calls, so its failure handling applies). Otherwise that model response is dropped and
        the model is asked again (its call is then made twice).
        """
        done = {i.get("call_id") for i in self.items if i.get("type") == "function_call_output"}
        pending = [
            i for i in self.items[self.response_start :]
            if i.get("type") == "function_call" and i.get("call_id") not in done
        ]
        if not pending:
            return
        tools: dict[str, Tool] = {t.name: t for t in await agent.get_all_tools(RunContextWrapper(context=user_context))}
        runnable = agent.tool_use_behavior == "run_llm_again" and all(
            _plain_function_tool(tools.get(str(call.get("name")))) for call in pending
        )
        if not runnable:
            logger.info("Run %s: pending tool calls cannot be replayed; asking the model again.", self.ctx.run_id)
            del self.items[self.response_start :]
            self.turns = max(0, self.turns - 1)
            return
        for call in pending:
            tool = tools[str(call["name"])]
            assert isinstance(tool, FunctionTool)
            tool_call = ResponseFunctionToolCall.model_validate(
                {k: call[k] for k in ("call_id", "name", "arguments", "type", "id", "status") if k in call}
            )
            await translation.tool_called(call)
            tool_context = ToolContext(
                context=user_context,
                usage=Usage(),
                tool_name=tool_call.name,
                tool_call_id=tool_call.call_id,
                tool_arguments=tool_call.arguments,
                tool_call=tool_call,
                agent=agent,
                run_config=run_config,
            )
            output = await tool.on_invoke_tool(tool_context, tool_call.arguments)
            self.items.append(jsonable(ItemHelpers.tool_call_output_item(tool_call, output)))
            await translation.tool_output(tool_call.call_id, output)
            await self.save_progress(agent.name)


def _plain_function_tool(tool: Tool | None) -> bool:
    return (
        isinstance(tool, FunctionTool)
        and tool.needs_approval is False
        and not tool.tool_input_guardrails
        and not tool.tool_output_guardrails
    )


def normalize_decision(value: Any) -> dict[str, Any]:
    """The human's answer to a tool approval: True/False, or {"approved": bool, "message": str}."""
    if isinstance(value, bool):
        return {"approved": value}
    if isinstance(value, Mapping) and isinstance(value.get("approved"), bool):
        decision: dict[str, Any] = {"approved": value["approved"]}
        message = value.get("message", value.get("rejection_message"))
        if isinstance(message, str) and message:
            decision["message"] = message
        return decision
    raise InvalidInputError(
        "Resume an OpenAI Agents tool approval with True/False or {'approved': bool, "
        f"'message': str (optional, sent to the model on rejection)}}; got {value!r}."
    )


def apply_decision(state: RunState[Any], decision: Mapping[str, Any], tool_errors: dict[str, str]) -> None:
    """Approve or reject every pending call of `state`; a rejection is remembered as the call's
    error (its TOOL_RESULT says so)."""
    for approval in state.get_interruptions():
        if decision.get("approved"):
            state.approve(approval)
        else:
            message = decision.get("message")
            state.reject(approval, rejection_message=message)
            rejected = f"rejected by a human: {message}" if message else "rejected by a human"
            tool_errors[call_id_of(approval.raw_item)] = rejected
