"""The scripted model's engine: pick the turn a request is at, and build its reply or failure."""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from agent_runtime_core.errors import LLMError, NonRetriableError
from agent_runtime_core.llm.base import LLMResponse, Usage

from ._turns import (
    Failure,
    Message,
    ScriptEntry,
    ScriptRequest,
    Turn,
    last_user_index,
    message_text,
)

DEFAULT_MODEL_NAME = "scripted-model"
"""The model name reported when a request names none."""

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
        start = last_user_index(messages) + 1 if self.count_turns_from == "last_user" else 0
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
