"""Pure conversions between LangChain messages, what LangGraph nodes return, and OpenAI-style
message dicts."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import BaseMessage, convert_to_messages, convert_to_openai_messages

from agent_runtime_core.integration import message_text

__all__ = ["as_messages", "last_ai_text", "messages_in", "openai_messages"]


def as_messages(value: Any) -> list[BaseMessage]:
    """The LangChain messages of a state's `messages` value (a message or a list of them)."""
    if not value:
        return []
    if isinstance(value, BaseMessage):
        return [value]
    return [m for m in value if isinstance(m, BaseMessage)] if isinstance(value, list | tuple) else []


def last_ai_text(messages: list[BaseMessage]) -> str:
    """The text of the last AI message that has text ('' if none)."""
    for message in reversed(messages):
        if message.type == "ai":
            text = message_text(message)
            if text:
                return text
    return ""


def openai_messages(messages: list[BaseMessage]) -> list[dict[str, Any]]:
    """LangChain messages as OpenAI-style dicts."""
    converted = convert_to_openai_messages(messages)
    return [dict(m) for m in converted] if isinstance(converted, list) else [dict(converted)]


def messages_in(value: Any) -> list[BaseMessage]:
    """The messages a node returns: in a state update, a `Command(update=...)`, a `Send`, a list,
    OpenAI-style dicts (`{"role": "tool", ...}`, as handoffs return them) converted."""
    found: list[BaseMessage] = []

    def walk(item: Any, depth: int) -> None:
        if depth > 4 or item is None:
            return
        if isinstance(item, BaseMessage):
            found.append(item)
        elif isinstance(item, dict):
            if "role" in item and ("content" in item or "tool_calls" in item):
                try:
                    found.extend(convert_to_messages([item]))
                except (ValueError, TypeError, NotImplementedError):
                    pass  # not a message after all: nothing to report
            else:
                walk(item.get("messages"), depth + 1)
        elif isinstance(item, list | tuple):
            for element in item:
                walk(element, depth + 1)
        elif type(item).__name__ in ("Command", "Send"):  # langgraph.types
            walk(getattr(item, "update", None) or getattr(item, "arg", None), depth + 1)

    walk(value, 0)
    return found
