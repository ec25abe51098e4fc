"""Scripts: what a request looks like to a script, the turns, and the helpers that build them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

Message = dict[str, Any]


# --------------------------------------------------------------------------------------------
# What a request looks like to a script


@dataclass(frozen=True)
class ToolResult:
    """A tool's output as it came back to the model (a `role: tool` message)."""

    tool_call_id: str
    """The id of the call it answers."""
    name: str
    """The tool's name, looked up from the assistant message that called it ('' if not found)."""
    content: str
    """The tool's output text."""

    def __str__(self) -> str:
        return self.content


@dataclass(frozen=True)
class ScriptRequest:
    """One request to the model, as a callable turn sees it."""

    messages: list[Message]
    """The conversation, OpenAI chat format (Responses-API input is converted to it)."""
    tools: list[dict[str, Any]]
    """Tools offered, OpenAI chat format: `{"type": "function", "function": {"name", ...}}`."""
    model: str
    """The model the request named."""
    turn_index: int
    """The turn of the script this request plays (see the module's turn rule)."""
    attempt: int = 1
    """How many times this same request has been seen, this one included (retries count up)."""

    @property
    def last_user_message(self) -> str:
        """The text of the last user message ('' when there is none)."""
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return message_text(message)
        return ""

    @property
    def tool_results(self) -> list[ToolResult]:
        """Tool results since the last user message, in conversation order."""
        names: dict[str, str] = {}
        results: list[ToolResult] = []
        for message in self.messages[last_user_index(self.messages) + 1 :]:
            role = message.get("role")
            if role == "assistant":
                for call in message.get("tool_calls") or []:
                    function = call.get("function") or {}
                    names[str(call.get("id", ""))] = str(function.get("name", ""))
            elif role == "tool":
                call_id = str(message.get("tool_call_id", ""))
                results.append(ToolResult(call_id, names.get(call_id, ""), message_text(message)))
        return results

    @property
    def tool_names(self) -> list[str]:
        """Names of the tools offered."""
        return [str((tool.get("function") or {}).get("name", "")) for tool in self.tools]


# --------------------------------------------------------------------------------------------
# Turns and the helpers that build them


@dataclass(frozen=True)
class ToolCall:
    """One tool call a turn makes."""

    name: str
    """The tool to call."""
    arguments: Mapping[str, Any] = field(default_factory=dict)
    """Its arguments (sent as a JSON string)."""
    id: str | None = None
    """The call id; `None` derives `call_<n>_<name>` from the conversation."""


@dataclass(frozen=True)
class Failure:
    """An error a turn answers with: an HTTP error from the server, `ScriptedFailure` in-process."""

    status: int
    """HTTP status, e.g. 429 or 500."""
    message: str
    """The error message (OpenAI-style `error.message`)."""
    type: str
    """OpenAI-style `error.type`, e.g. `rate_limit_error`."""
    code: str | None = None
    """OpenAI-style `error.code`, e.g. `rate_limit_exceeded`."""
    times: int | None = 1
    """How many attempts of the same request fail before the next turn answers (None: all)."""
    retry_after: float | None = None
    """Seconds sent in `retry-after-ms`, which the openai SDK honours when it retries."""


@dataclass(frozen=True)
class Turn:
    """What the model does in one turn. Build with `reply`, `call_tool`, `call_tools`, `fail`."""

    text: str | Callable[[ScriptRequest], str] | None = None
    """The reply's text, or a function of the request that returns it."""
    tool_calls: tuple[ToolCall, ...] = ()
    """Tools to call (several: parallel calls in one assistant message)."""
    failure: Failure | None = None
    """Set for a `fail` turn."""
    delay: float = 0.0
    """Seconds to wait before answering (cancellable in-process; for timeout/cancel tests)."""


ScriptEntry: TypeAlias = "Turn | Callable[[ScriptRequest], Turn]"
"""An entry of a script: a `Turn`, or a function of the request that returns one."""


def reply(text: str | Callable[[ScriptRequest], str], *, delay: float = 0.0) -> Turn:
    """A turn that answers with `text` (or `text(request)`, e.g. to quote a tool result)."""
    if not isinstance(text, str) and not callable(text):
        raise TypeError(f"reply() takes a string or a callable; got {type(text).__name__}.")
    return Turn(text=text, delay=_check_delay(delay))


def call_tool(
    name: str,
    arguments: Mapping[str, Any] | None = None,
    id: str | None = None,
    *,
    text: str | Callable[[ScriptRequest], str] | None = None,
    delay: float = 0.0,
) -> Turn:
    """A turn that calls one tool (with optional accompanying `text`)."""
    return Turn(text=text, tool_calls=(_tool_call(name, arguments, id),), delay=_check_delay(delay))


def call_tools(
    calls: Iterable[
        Turn | ToolCall | tuple[str, Mapping[str, Any]] | tuple[str, Mapping[str, Any], str]
    ],
    *,
    text: str | Callable[[ScriptRequest], str] | None = None,
    delay: float = 0.0,
) -> Turn:
    """A turn that calls several tools at once (parallel tool calls in one assistant message).

    Each call is a `call_tool(...)` turn, a `ToolCall`, or a `(name, arguments[, id])` tuple.
    """
    merged: list[ToolCall] = []
    for call in calls:
        if isinstance(call, Turn):
            if call.failure is not None or not call.tool_calls:
                raise TypeError("call_tools() takes call_tool(...) turns, not replies or failures.")
            merged.extend(call.tool_calls)
        elif isinstance(call, ToolCall):
            merged.append(call)
        elif isinstance(call, tuple) and len(call) in (2, 3):
            merged.append(_tool_call(call[0], call[1], call[2] if len(call) == 3 else None))
        else:
            raise TypeError(
                f"call_tools() cannot use {call!r}; pass call_tool(name, arguments) turns."
            )
    if not merged:
        raise ValueError("call_tools() needs at least one call.")
    return Turn(text=text, tool_calls=tuple(merged), delay=_check_delay(delay))


_DEFAULT_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def fail(
    status: int,
    message: str,
    *,
    type: str | None = None,
    code: str | None = None,
    times: int | None = 1,
    retry_after: float | None = None,
    delay: float = 0.0,
) -> Turn:
    """A turn that fails: an HTTP error on the server, `ScriptedFailure` in-process.

    A failure does not use up a conversation turn: the first `times` attempts of a request fail,
    and the retry (the same conversation again) is answered by the entry after the `fail`. So
    `[fail(429, "slow down"), reply("ok")]` fails the first call and answers its retry "ok".
    `times=None` fails every attempt. Requests are told apart by their content, so identical
    conversations share their attempt count.
    """
    if not 400 <= status <= 599:
        raise ValueError(f"fail() takes an HTTP error status (400-599); got {status}.")
    if times is not None and times < 1:
        raise ValueError(f"fail(times=...) must be at least 1 or None; got {times}.")
    error_type = type or _DEFAULT_ERROR_TYPES.get(
        status, "server_error" if status >= 500 else "invalid_request_error"
    )
    if code is None and status == 429:
        code = "rate_limit_exceeded"
    return Turn(
        failure=Failure(status, message, error_type, code, times, retry_after),
        delay=_check_delay(delay),
    )


def _tool_call(name: Any, arguments: Any, id: Any) -> ToolCall:
    if not isinstance(name, str) or not name:
        raise ValueError(f"A tool call needs a non-empty tool name; got {name!r}.")
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, Mapping):
        raise TypeError(f"Tool call arguments must be a dict; got {type(arguments).__name__}.")
    if id is not None and (not isinstance(id, str) or not id):
        raise ValueError(f"A tool call id must be a non-empty string; got {id!r}.")
    return ToolCall(name, dict(arguments), id)


def _check_delay(delay: float) -> float:
    if delay < 0:
        raise ValueError(f"delay must be >= 0 seconds; got {delay}.")
    return float(delay)


# --------------------------------------------------------------------------------------------
# Reading chat messages


def last_user_index(messages: Sequence[Message]) -> int:
    """The index of the last user message (-1 when there is none)."""
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("role") == "user":
            return i
    return -1


def message_text(message: Mapping[str, Any]) -> str:
    """The text of a chat message whose content is a string or a list of text parts."""
    content = message.get("content")
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, Mapping):
                text = part.get("text")
                if isinstance(text, str):
                    parts.append(text)
                elif isinstance(part.get("refusal"), str):
                    parts.append(part["refusal"])
        return "".join(parts)
    return str(content)
