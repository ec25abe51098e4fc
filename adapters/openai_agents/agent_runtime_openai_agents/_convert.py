"""Conversions between the runtime's OpenAI chat messages and the Agents SDK's Responses items.

The runtime speaks OpenAI chat-completions message dicts (`{"role": ..., "content": ...}`, with
`tool_calls` on assistant messages and `role: tool` results); the Agents SDK speaks Responses-API
input items (`message`, `function_call`, `function_call_output`, ...). Both directions are pure
functions on JSON data, so they are cheap and testable without the SDK.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from agent_runtime_core.errors import InvalidInputError
from agent_runtime_core.integration import message_text

__all__ = ["items_to_messages", "jsonable", "messages_to_items"]

_MESSAGE_ROLES = frozenset({"user", "system", "developer", "assistant"})


def messages_to_items(messages: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI chat messages -> Responses input items, the input of `Runner.run_streamed`.

    Text messages keep their role; an assistant message's `tool_calls` become `function_call`
    items and `role: tool` messages become `function_call_output` items, so a conversation that
    already holds tool calls can be continued.

    Raises:
        InvalidInputError: a message has a role the Agents SDK cannot take.
    """
    items: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        role = message.get("role")
        if role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                raise InvalidInputError(f"`messages[{i}]` (role 'tool') needs a `tool_call_id`.")
            items.append(
                {"type": "function_call_output", "call_id": call_id, "output": message_text(message.get("content"))}
            )
            continue
        if role not in _MESSAGE_ROLES:
            raise InvalidInputError(
                f"`messages[{i}]` has role {role!r}; the OpenAI Agents adapter takes "
                f"{sorted(_MESSAGE_ROLES | {'tool'})}."
            )
        text = message_text(message.get("content"))
        if text or not message.get("tool_calls"):
            items.append({"role": role, "content": text})
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            arguments = function.get("arguments", "{}")
            items.append(
                {
                    "type": "function_call",
                    "call_id": str(call.get("id", "")),
                    "name": str(function.get("name", "")),
                    "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
                }
            )
    return items


def items_to_messages(items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Responses input items -> OpenAI chat messages (the run's `final_messages`).

    Function calls join the assistant message just before them (one model reply stays one
    assistant message); items that have no chat equivalent (reasoning, hosted tools) are left out.
    """
    messages: list[dict[str, Any]] = []
    for item in items:
        kind = item.get("type")
        if kind in (None, "message") and "role" in item:
            messages.append({"role": str(item["role"]), "content": message_text(item.get("content"))})
        elif kind == "function_call":
            call = {
                "id": str(item.get("call_id", "")),
                "type": "function",
                "function": {"name": str(item.get("name", "")), "arguments": str(item.get("arguments", ""))},
            }
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
                if not last.get("content"):
                    last["content"] = None
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            if isinstance(output, str):
                content = output
            elif isinstance(output, list):
                content = message_text(output)
            else:
                content = json.dumps(jsonable(output))
            messages.append({"role": "tool", "tool_call_id": str(item.get("call_id", "")), "content": content})
    return messages


def jsonable(value: Any) -> Any:
    """`value` as plain JSON data (pydantic models dumped, unknown objects as strings)."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return jsonable(dump(mode="json", exclude_unset=True))
        except Exception:  # pragma: no cover - a model that cannot dump itself
            return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
