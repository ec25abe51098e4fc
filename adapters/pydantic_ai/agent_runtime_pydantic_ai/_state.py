"""What a run keeps in its checkpoint, and how a run executed again continues from it.

The checkpoint (`ctx.checkpoint`, format `CHECKPOINT_FORMAT`) is one of:
- `status: "running"`: Pydantic AI's message history so far (its own JSON), saved after each model
  response (before its tools run) and after the tools' returns (before the next model call).
  Pydantic AI continues a history that ends with a response's tool calls by running those tools,
  and one that ends with a request by calling the model: no finished model call is made again;
- `status: "interrupted"`: the history, the deferred tool calls waiting for a human, the question,
  and the human's decision once `runner.resume(...)` gives it;
- `status: "done"`: the run's result, returned as it is when the run is executed again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic_ai import DeferredToolResults, ToolApproved, ToolDenied
from pydantic_ai.messages import ModelMessage

from agent_runtime_core import RunContext
from agent_runtime_core.errors import InvalidInputError, NonRetriableError
from agent_runtime_core.integration import get_logger

from ._convert import dump_history

__all__ = ["CHECKPOINT_FORMAT", "Saved", "deferred_results", "normalize_decision"]

logger = get_logger("agent_runtime_pydantic_ai")

CHECKPOINT_FORMAT = "pydantic-ai/1"
"""The `format` of the checkpoints this adapter writes (checkpoints of other formats are ignored)."""


class Saved:
    """One run's checkpoint: load it, and save the run's progress as it goes."""

    def __init__(self, ctx: RunContext, *, durable: bool) -> None:
        self.ctx = ctx
        self.durable = durable

    async def load(self) -> dict[str, Any] | None:
        """The run's checkpoint, if it has one of this adapter's format."""
        if self.ctx.state_store is None:
            return None
        checkpoint = await self.ctx.get_checkpoint()
        if checkpoint is not None and checkpoint.get("format") != CHECKPOINT_FORMAT:
            logger.warning("Run %s has a checkpoint of another format; starting afresh.", self.ctx.run_id)
            return None
        return checkpoint

    async def save(self, state: dict[str, Any], *, force: bool = False) -> None:
        """Save `state` as the checkpoint (when the runtime is durable, or `force`)."""
        if self.ctx.state_store is None:
            if force:
                raise NonRetriableError("A tool approval needs a state store to save the run; give the AgentRunner one.")
            return
        if self.durable or force:
            await self.ctx.checkpoint({"format": CHECKPOINT_FORMAT, **state})

    async def save_progress(self, history: Sequence[ModelMessage]) -> None:
        """Save the message history so far (`status: running`)."""
        await self.save({"status": "running", "history": dump_history(history)})

    async def save_interrupt(self, history: Sequence[ModelMessage], interrupt: dict[str, Any]) -> None:
        """Save a run waiting for a human (always: resume needs it)."""
        await self.save({"status": "interrupted", "history": dump_history(history), "interrupt": interrupt}, force=True)

    async def save_done(self, final_output: dict[str, Any], final_messages: list[dict[str, Any]]) -> None:
        """Save the run's result (`status: done`)."""
        await self.save({"status": "done", "final_output": final_output, "final_messages": final_messages})


def _one(value: Any) -> dict[str, Any] | None:
    if isinstance(value, bool):
        return {"approved": value}
    if isinstance(value, Mapping) and isinstance(value.get("approved"), bool):
        decision: dict[str, Any] = {"approved": value["approved"]}
        message = value.get("message")
        if isinstance(message, str) and message:
            decision["message"] = message
        return decision
    return None


def normalize_decision(value: Any, call_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The human's answer, per pending call id: True/False or {"approved": bool, "message": str}
    for every call, or a mapping {tool_call_id: one of those} naming each pending call."""
    same = _one(value)
    if same is not None:
        return {cid: same for cid in call_ids}
    if isinstance(value, Mapping) and set(value) == set(call_ids):
        decisions = {cid: _one(value[cid]) for cid in call_ids}
        if all(d is not None for d in decisions.values()):
            return {cid: d for cid, d in decisions.items() if d is not None}
    raise InvalidInputError(
        "Resume a Pydantic AI tool approval with True/False, {'approved': bool, 'message': str "
        "(optional, sent to the model on denial)}, or a mapping from each pending tool_call_id "
        f"({', '.join(call_ids)}) to one of those; got {value!r}."
    )


def deferred_results(decisions: Mapping[str, Mapping[str, Any]]) -> DeferredToolResults:
    """The decisions as Pydantic AI's `DeferredToolResults` (a denial with its message)."""
    approvals: dict[str, bool | ToolApproved | ToolDenied] = {}
    for cid, decision in decisions.items():
        if decision.get("approved"):
            approvals[cid] = True
        else:
            message = decision.get("message")
            approvals[cid] = ToolDenied(message) if message else False
    return DeferredToolResults(approvals=approvals)
