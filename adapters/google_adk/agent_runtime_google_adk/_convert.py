"""Pure conversions between OpenAI chat messages and ADK's `google.genai.types.Content` / events."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from google.adk.events.event import Event
from google.genai import types

from agent_runtime_core.integration import message_text, to_jsonable

__all__ = ["CONFIRMATION_TOOL", "events_to_messages", "history_events", "new_message", "text_of", "unwrap_result"]

CONFIRMATION_TOOL = "adk_request_confirmation"
"""The function call ADK makes up to ask for a tool confirmation (not a tool of the agent)."""


def text_of(content: types.Content | None) -> str:
    """The text parts of `content`, joined (thoughts left out)."""
    if content is None or not content.parts:
        return ""
    return "".join(p.text for p in content.parts if p.text and not p.thought)


def new_message(message: Mapping[str, Any]) -> types.Content:
    """The run's last input message as the user's `Content` for `Runner.run_async`."""
    return types.Content(role="user", parts=[types.Part(text=message_text(message.get("content")))])


def history_events(messages: Sequence[Mapping[str, Any]], invocation_id: str, agent_name: str) -> list[Event]:
    """Input messages before the last one, as session events (text only; system messages become
    user text, as ADK has no system turn in a session)."""
    events = []
    for message in messages:
        role = message.get("role")
        text = message_text(message.get("content"))
        if not text:
            continue
        author = "user" if role != "assistant" else agent_name
        content = types.Content(role="user" if author == "user" else "model", parts=[types.Part(text=text)])
        events.append(Event(invocation_id=invocation_id, author=author, content=content))
    return events


def unwrap_result(response: Any) -> Any:
    """ADK wraps a tool's non-dict return value as `{"result": value}`: the value itself."""
    if isinstance(response, Mapping) and set(response) == {"result"}:
        return response["result"]
    return response


def events_to_messages(events: Sequence[Event]) -> list[dict[str, Any]]:
    """A session's events as OpenAI chat messages (user, assistant with tool calls, tool)."""
    messages: list[dict[str, Any]] = []
    for event in events:
        if event.partial or event.content is None or not event.content.parts:
            continue
        text = text_of(event.content)
        if event.author == "user":
            responses = [p.function_response for p in event.content.parts if p.function_response]
            if text:
                messages.append({"role": "user", "content": text})
            for fr in responses:
                if fr.name != CONFIRMATION_TOOL:
                    messages.append(_tool_message(fr))
            continue
        calls = [p.function_call for p in event.content.parts if p.function_call and p.function_call.name != CONFIRMATION_TOOL]
        results = [p.function_response for p in event.content.parts if p.function_response]
        if calls:
            messages.append({
                "role": "assistant",
                "content": text or None,
                "tool_calls": [
                    {"id": c.id or "", "type": "function", "function": {"name": c.name or "", "arguments": json.dumps(to_jsonable(c.args or {}))}}
                    for c in calls
                ],
            })
        elif text:
            messages.append({"role": "assistant", "content": text})
        for fr in results:
            if fr.name != CONFIRMATION_TOOL and not _waiting(fr):
                messages.append(_tool_message(fr))
    return messages


def _waiting(fr: types.FunctionResponse) -> bool:
    """The placeholder response ADK records while a tool waits for its confirmation."""
    response = fr.response or {}
    return isinstance(response.get("error"), str) and "requires confirmation" in response["error"]


def _tool_message(fr: types.FunctionResponse) -> dict[str, Any]:
    value = unwrap_result(to_jsonable(fr.response))
    content = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return {"role": "tool", "tool_call_id": fr.id or "", "content": content}
