"""Pure conversions between the runtime's OpenAI chat messages and Pydantic AI's messages, and of
a run's output to JSON."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel
from pydantic_ai.messages import (
    ModelMessage,
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelResponse,
    SystemPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)

from agent_runtime_core.errors import InvalidInputError
from agent_runtime_core.integration import to_jsonable

__all__ = ["dump_history", "history_to_messages", "jsonable", "load_history", "output_text", "split_input"]


def jsonable(value: Any) -> Any:
    """`value` as plain JSON data: pydantic models and dataclasses become dicts."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    return to_jsonable(value)


def dump_history(messages: Sequence[ModelMessage]) -> list[dict[str, Any]]:
    """Pydantic AI's messages as JSON data (its own serialisation, loaded by `load_history`)."""
    dumped: list[dict[str, Any]] = ModelMessagesTypeAdapter.dump_python(list(messages), mode="json")
    return dumped


def load_history(data: Sequence[Mapping[str, Any]]) -> list[ModelMessage]:
    """Messages saved by `dump_history`."""
    return list(ModelMessagesTypeAdapter.validate_python(list(data)))


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return "" if content is None else str(content)


def split_input(messages: Sequence[Mapping[str, Any]]) -> tuple[str | None, list[ModelMessage]]:
    """The run's OpenAI chat messages as (prompt, history): the last user message is the prompt,
    the messages before it (system, user, assistant with tool calls, tool) the history."""
    if not messages:
        raise InvalidInputError("The run has no input messages for the agent.")
    items = list(messages)
    prompt: str | None = None
    if items[-1].get("role") == "user":
        prompt = _text(items.pop().get("content"))
    history: list[ModelMessage] = []
    for message in items:
        role = message.get("role")
        content = _text(message.get("content"))
        if role in ("system", "developer"):
            history.append(ModelRequest(parts=[SystemPromptPart(content=content)]))
        elif role == "user":
            history.append(ModelRequest(parts=[UserPromptPart(content=content)]))
        elif role == "assistant":
            parts: list[Any] = [TextPart(content=content)] if content else []
            for call in message.get("tool_calls") or []:
                fn = call.get("function") or {}
                parts.append(ToolCallPart(tool_name=str(fn.get("name", "")), args=fn.get("arguments"), tool_call_id=str(call.get("id", ""))))
            history.append(ModelResponse(parts=parts))
        elif role == "tool":
            part = ToolReturnPart(tool_name=str(message.get("name", "")), content=content, tool_call_id=str(message.get("tool_call_id", "")))
            history.append(ModelRequest(parts=[part]))
        else:
            raise InvalidInputError(f"Unsupported message role {role!r}: use system, user, assistant or tool.")
    return prompt, history


def history_to_messages(history: Sequence[ModelMessage]) -> list[dict[str, Any]]:
    """Pydantic AI's messages as OpenAI chat messages (the run's `final_messages`); instructions
    and system prompts are left out, as the other adapters leave out the agent's instructions."""
    out: list[dict[str, Any]] = []
    for message in history:
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, UserPromptPart):
                    out.append({"role": "user", "content": _text(part.content) if not isinstance(part.content, str) else part.content})
                elif isinstance(part, ToolReturnPart):
                    out.append({"role": "tool", "tool_call_id": part.tool_call_id, "content": part.model_response_str()})
        elif isinstance(message, ModelResponse):
            text = "".join(p.content for p in message.parts if isinstance(p, TextPart))
            calls = [
                {"id": p.tool_call_id, "type": "function", "function": {"name": p.tool_name, "arguments": p.args_as_json_str()}}
                for p in message.parts
                if isinstance(p, ToolCallPart)
            ]
            entry: dict[str, Any] = {"role": "assistant", "content": text or None}
            if calls:
                entry["tool_calls"] = calls
            out.append(entry)
    return out


def output_text(output: Any) -> str:
    """The answer's text: a string as it is, structured output as JSON."""
    return output if isinstance(output, str) else json.dumps(jsonable(output), ensure_ascii=False)
