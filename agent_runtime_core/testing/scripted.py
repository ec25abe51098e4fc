"""A deterministic scripted model, for tests and demos that must run offline.

`ScriptedModel` plays a script of turns: reply with text, call tools, fail with an HTTP-style
error, optionally after a delay. It is a pure function of the request: the turn played is chosen
from the conversation the request carries, never from how many calls came before, so any number
of concurrent conversations (runs of different agents, different frameworks, different event loops
and threads) can share one model and each gets the turn that fits its own conversation.

**The turn rule.** A request's turn index is the number of assistant messages in its conversation
after the last user message (the default, `count_turns_from="last_user"`): the first model call of
a run plays turn 0, the call after the tool results plays turn 1, and so on; a new user message
starts the script again, so one script describes one agent run and serves every run and every
follow-up message. With `count_turns_from="start"` every assistant message of the conversation
counts instead, so a multi-message chat walks through the script once. Several function calls of
one reply are one assistant message (the loopback server merges Responses-API items the same way).

The same script runs in-process (`ScriptedLLMClient`, a `BaseLLMClient`) or behind the loopback
OpenAI-compatible HTTP server (`agent_runtime_core.testing.server.OpenAICompatibleServer`), so a
framework's own client code can be exercised against it. Token usage and tool-call ids are
deterministic: usage is `ceil(characters / 4)` (at least 1) for the conversation and the reply, and
a tool call without an explicit id gets `call_<n>_<name>`, where `n` counts the assistant messages
already in the conversation, so the same run produces equal event payloads whatever the framework.

Example::

    model = ScriptedModel([
        call_tool("get_weather", {"city": "Paris"}),
        reply(lambda req: f"It is {req.tool_results[-1].content} in Paris."),
    ])
    client = ScriptedLLMClient(model)
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from agent_runtime_core.errors import LLMError, NonRetriableError
from agent_runtime_core.llm.base import (
    BaseLLMClient,
    LLMResponse,
    LLMStreamChunk,
    StreamChunkType,
    Usage,
)

__all__ = [
    "Failure",
    "Resolved",
    "ScriptEntry",
    "ScriptExhaustedError",
    "ScriptRequest",
    "ScriptedFailure",
    "ScriptedLLMClient",
    "ScriptedModel",
    "ToolCall",
    "ToolResult",
    "Turn",
    "call_tool",
    "call_tools",
    "count_tokens",
    "fail",
    "message_text",
    "reply",
    "split_text",
]

Message = dict[str, Any]

DEFAULT_MODEL_NAME = "scripted-model"
"""The model name reported when a request names none."""


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
        for message in self.messages[_last_user_index(self.messages) + 1 :]:
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
# Errors


class ScriptExhaustedError(NonRetriableError):
    """The conversation is past the end of the script. Not retriable: retrying replays the same
    conversation, so it would only fail again."""

    def __init__(self, message: str, *, turn_index: int, script_length: int) -> None:
        super().__init__(message)
        self.turn_index = turn_index
        self.script_length = script_length


class ScriptedFailure(LLMError):
    """Raised in-process by a `fail(...)` turn; keeps the status like a provider error would."""

    def __init__(self, failure: Failure) -> None:
        retriable = failure.status in (408, 409, 429) or failure.status >= 500
        super().__init__(
            f"Scripted model error (status {failure.status}, {failure.type}): {failure.message}",
            status_code=failure.status,
            provider="scripted",
            retriable=retriable,
            code=failure.code,
            error_type=failure.type,
        )
        self.failure = failure


# --------------------------------------------------------------------------------------------
# The model


@dataclass(frozen=True)
class _Slot:
    failures: tuple[Turn, ...]
    entry: ScriptEntry | None


@dataclass(frozen=True)
class Resolved:
    """A request resolved against the script: what to answer, after how long."""

    request: ScriptRequest
    """The request as the script saw it."""
    delay: float
    """Seconds to wait before answering."""
    response: LLMResponse | None = None
    """The reply (None when failing)."""
    failure: Failure | None = None
    """The error to answer with (None when replying)."""

    def result(self) -> LLMResponse:
        """The reply, or raise `ScriptedFailure`."""
        if self.failure is not None:
            raise ScriptedFailure(self.failure)
        assert self.response is not None
        return self.response


class ScriptedModel:
    """A deterministic model that plays a script of turns (see the module docstring for the rule).

    Thread-safe: share one model between concurrent runs, servers and clients.
    """

    def __init__(
        self,
        script: Iterable[ScriptEntry] = (),
        *,
        model: str = DEFAULT_MODEL_NAME,
        count_turns_from: Literal["last_user", "start"] = "last_user",
    ) -> None:
        """Build a model.

        Args:
            script: The turns, in order: `Turn`s (from `reply`, `call_tool`, `call_tools`, `fail`)
                or callables `ScriptRequest -> Turn`.
            model: The model name reported when a request names none (kept as `.name`).
            count_turns_from: `"last_user"` (a request plays the turn numbered by the assistant
                messages after the last user message) or `"start"` (all assistant messages).
        """
        if count_turns_from not in ("last_user", "start"):
            raise ValueError(
                f"count_turns_from must be 'last_user' or 'start'; got {count_turns_from!r}."
            )
        self.name = model
        """The model name reported when a request names none."""
        self.count_turns_from = count_turns_from
        self._entries: list[ScriptEntry] = []
        for entry in script:
            if not isinstance(entry, Turn) and not callable(entry):
                raise TypeError(
                    f"A script entry must be a Turn (reply/call_tool/call_tools/fail) or a callable; got {entry!r}."
                )
            self._entries.append(entry)
        self._slots = _compile(self._entries)
        self._lock = threading.Lock()
        self._calls = 0
        self._requests: list[ScriptRequest] = []
        self._attempts: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"ScriptedModel(turns={len(self._slots)}, name={self.name!r}, calls={self.calls})"

    @property
    def turns(self) -> int:
        """The number of conversation turns in the script (`fail` entries do not count)."""
        return len(self._slots)

    @property
    def calls(self) -> int:
        """How many requests the model has answered or failed."""
        with self._lock:
            return self._calls

    @property
    def requests(self) -> list[ScriptRequest]:
        """Every request so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    def reset(self) -> None:
        """Forget the calls, the request log and the failure attempt counts."""
        with self._lock:
            self._calls = 0
            self._requests.clear()
            self._attempts.clear()

    def turn_index(self, messages: Sequence[Message]) -> int:
        """The script turn a conversation is at (see the module's turn rule)."""
        start = _last_user_index(messages) + 1 if self.count_turns_from == "last_user" else 0
        return sum(1 for m in messages[start:] if m.get("role") == "assistant")

    def resolve(
        self,
        messages: Sequence[Message],
        tools: Sequence[dict[str, Any]] | None = None,
        model: str | None = None,
    ) -> Resolved:
        """Pick the turn for a request and build its reply, without waiting its delay.

        Servers and async clients use this and wait `delay` their own (interruptible) way.
        Raises `ScriptExhaustedError` past the end of the script.
        """
        message_list = [dict(m) for m in messages]
        tool_list = [dict(t) for t in tools or ()]
        index = self.turn_index(message_list)
        fingerprint = _fingerprint(message_list, index)
        with self._lock:
            attempt = self._attempts.get(fingerprint, 0) + 1
            self._attempts[fingerprint] = attempt
            self._calls += 1
            request = ScriptRequest(message_list, tool_list, model or self.name, index, attempt)
            self._requests.append(request)
        if index >= len(self._slots):
            raise ScriptExhaustedError(
                f"ScriptedModel script exhausted: the request is at turn {index} but the script has "
                f"{len(self._slots)} turn(s) (turn {index} = assistant messages "
                f"{'after the last user message' if self.count_turns_from == 'last_user' else 'in the conversation'}). "
                f"Add turns to the script. Last user message: {request.last_user_message[:80]!r}.",
                turn_index=index,
                script_length=len(self._slots),
            )
        slot = self._slots[index]
        remaining = attempt
        for failing in slot.failures:
            assert failing.failure is not None
            if failing.failure.times is None or remaining <= failing.failure.times:
                return Resolved(request, failing.delay, failure=failing.failure)
            remaining -= failing.failure.times
        if slot.entry is None:
            raise ScriptExhaustedError(
                f"ScriptedModel script exhausted: turn {index} failed {attempt - 1} time(s) as scripted "
                f"and no turn follows its fail() entries (the script has {len(self._slots)} turn(s)).",
                turn_index=index,
                script_length=len(self._slots),
            )
        turn = slot.entry if isinstance(slot.entry, Turn) else slot.entry(request)
        if not isinstance(turn, Turn):
            raise TypeError(
                f"A callable script entry must return a Turn (reply/call_tool/fail); turn {index} returned {turn!r}."
            )
        if turn.failure is not None:
            return Resolved(request, turn.delay, failure=turn.failure)
        return Resolved(request, turn.delay, response=_build_response(turn, request))

    def respond(
        self,
        messages: Sequence[Message],
        tools: Sequence[dict[str, Any]] | None = None,
        model: str | None = None,
    ) -> LLMResponse:
        """Answer a request (blocking through the turn's delay).

        Returns an `LLMResponse` whose message is OpenAI chat format, tool calls included. Raises
        `ScriptedFailure` for a `fail` turn and `ScriptExhaustedError` past the end of the script.
        """
        resolved = self.resolve(messages, tools, model)
        if resolved.delay:
            time.sleep(resolved.delay)
        return resolved.result()

    async def arespond(
        self,
        messages: Sequence[Message],
        tools: Sequence[dict[str, Any]] | None = None,
        model: str | None = None,
    ) -> LLMResponse:
        """Like `respond`, waiting the delay with `asyncio.sleep` (so a cancel interrupts it)."""
        resolved = self.resolve(messages, tools, model)
        if resolved.delay:
            await asyncio.sleep(resolved.delay)
        return resolved.result()


def _compile(entries: list[ScriptEntry]) -> list[_Slot]:
    slots: list[_Slot] = []
    pending: list[Turn] = []
    for entry in entries:
        if isinstance(entry, Turn) and entry.failure is not None:
            pending.append(entry)
            continue
        slots.append(_Slot(tuple(pending), entry))
        pending = []
    if pending:
        slots.append(_Slot(tuple(pending), None))
    return slots


def _fingerprint(messages: list[Message], index: int) -> str:
    data = json.dumps([index, messages], sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def _last_user_index(messages: Sequence[Message]) -> int:
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


def count_tokens(text: str) -> int:
    """The scripted model's token count for `text`: `ceil(len(text) / 4)`, at least 1."""
    return _tokens(len(text))


def _tokens(chars: int) -> int:
    return max(1, math.ceil(chars / 4))


def _conversation_chars(messages: Sequence[Message]) -> int:
    total = 0
    for message in messages:
        total += len(message_text(message))
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            total += len(str(function.get("name", ""))) + len(str(function.get("arguments", "")))
    return total


def _build_response(turn: Turn, request: ScriptRequest) -> LLMResponse:
    text = turn.text(request) if callable(turn.text) else turn.text
    if text is not None and not isinstance(text, str):
        raise TypeError(
            f"A reply callable must return a string; turn {request.turn_index} returned {text!r}."
        )
    # Ids derive from the assistant messages already in the conversation: unique within a
    # conversation (also across user messages) and equal for every framework replaying it.
    position = sum(1 for m in request.messages if m.get("role") == "assistant")
    seen: dict[str, int] = {}
    tool_calls: list[dict[str, Any]] = []
    for call in turn.tool_calls:
        call_id = call.id
        if call_id is None:
            seen[call.name] = seen.get(call.name, 0) + 1
            suffix = "" if seen[call.name] == 1 else f"_{seen[call.name]}"
            call_id = f"call_{position}_{call.name}{suffix}"
        arguments = json.dumps(dict(call.arguments), ensure_ascii=False, separators=(",", ":"))
        tool_calls.append(
            {
                "id": call_id,
                "type": "function",
                "function": {"name": call.name, "arguments": arguments},
            }
        )
    # OpenAI's shape: content is null when the reply only calls tools.
    message: Message = {
        "role": "assistant",
        "content": text if text else (None if tool_calls else ""),
    }
    if tool_calls:
        message["tool_calls"] = tool_calls
    output_chars = len(text or "") + sum(
        len(c["function"]["name"]) + len(c["function"]["arguments"]) for c in tool_calls
    )
    usage = Usage(
        input_tokens=_tokens(_conversation_chars(request.messages)),
        output_tokens=_tokens(output_chars),
    )
    return LLMResponse(
        message=message,
        usage=usage,
        model=request.model,
        finish_reason="tool_calls" if tool_calls else "stop",
    )


def split_text(text: str, parts: int = 3) -> list[str]:
    """Split `text` into at most `parts` consecutive pieces (how replies are streamed)."""
    if not text:
        return []
    size = max(1, math.ceil(len(text) / parts))
    return [text[i : i + size] for i in range(0, len(text), size)]


# --------------------------------------------------------------------------------------------
# In-process client


class ScriptedLLMClient(BaseLLMClient):
    """A `BaseLLMClient` that runs a `ScriptedModel` in-process (no HTTP, no SDK).

    Calls inside a run emit LLM_CALL_STARTED / ASSISTANT_DELTA / LLM_CALL_COMPLETED like any
    client; `fail` turns raise `ScriptedFailure` (an `LLMError` with the scripted status).
    """

    provider = "scripted"

    def __init__(
        self, model: ScriptedModel | Iterable[ScriptEntry], default_model: str | None = None
    ) -> None:
        """Wrap `model` (or build one from a script).

        Args:
            model: The scripted model, or its script.
            default_model: The model name used when a call names none (default: the model's name).
        """
        self.model = model if isinstance(model, ScriptedModel) else ScriptedModel(model)
        super().__init__(default_model or self.model.name)

    async def _generate(
        self, messages: list[Message], tools: list[dict[str, Any]] | None, model: str, **kwargs: Any
    ) -> LLMResponse:
        return await self.model.arespond(messages, tools, model)

    async def _stream(
        self, messages: list[Message], tools: list[dict[str, Any]] | None, model: str, **kwargs: Any
    ) -> AsyncIterator[LLMStreamChunk]:
        response = await self.model.arespond(messages, tools, model)
        for piece in split_text(response.content):
            yield LLMStreamChunk(StreamChunkType.TEXT_DELTA, text=piece)
            await asyncio.sleep(0)  # a point where a cancel can land, as with a real stream
        for call in response.tool_calls:
            yield LLMStreamChunk(StreamChunkType.TOOL_CALL, tool_call=call)
        yield LLMStreamChunk(StreamChunkType.DONE, response=response)
