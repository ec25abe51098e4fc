"""The `LLMClient` protocol: one request and response shape for every model provider.

Messages and tools are in OpenAI's chat format (the lingua franca); each client converts for its
provider. Clients built on `BaseLLMClient` report their calls on the current run's event stream
(LLM_CALL_STARTED / LLM_CALL_COMPLETED / LLM_CALL_FAILED, and ASSISTANT_DELTA when streaming).
"""

from __future__ import annotations

import asyncio
import enum
import time
import uuid
import weakref
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from ..context import current_run_context
from ..errors import ErrorInfo
from ..events.base import EventType

__all__ = [
    "BaseLLMClient",
    "SDKClientPerLoop",
    "LLMClient",
    "LLMResponse",
    "LLMStreamChunk",
    "StreamChunkType",
    "Usage",
]

Message = dict[str, Any]


@dataclass
class Usage:
    """Tokens used by one model call."""

    input_tokens: int = 0
    """Prompt tokens."""
    output_tokens: int = 0
    """Completion tokens."""

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def to_dict(self) -> dict[str, int]:
        """`{"input_tokens": ..., "output_tokens": ...}`, as in LLM_CALL_COMPLETED events."""
        return {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens}


@dataclass
class LLMResponse:
    """One model reply, whatever the provider."""

    message: Message
    """The assistant message, OpenAI-style: `{"role": "assistant", "content": ..., "tool_calls": [...]}`."""
    usage: Usage = field(default_factory=Usage)
    """Tokens used."""
    model: str = ""
    """The model that answered."""
    finish_reason: str | None = None
    """Why the model stopped: `stop`, `tool_calls`, `length`, ..."""
    raw: Any = field(default=None, repr=False, compare=False)
    """The provider's own response object, for what this shape does not carry."""

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        """Tool calls in OpenAI format: `{"id", "type": "function", "function": {"name", "arguments"}}`."""
        return list(self.message.get("tool_calls") or [])

    @property
    def content(self) -> str:
        """The message's text ('' when it only calls tools)."""
        content = self.message.get("content")
        return content if isinstance(content, str) else ""


class StreamChunkType(enum.StrEnum):
    """Kinds of chunk a stream yields."""

    TEXT_DELTA = "text_delta"
    TOOL_CALL = "tool_call"
    DONE = "done"


@dataclass
class LLMStreamChunk:
    """A piece of a streamed reply: a text delta, an assembled tool call, or the final response."""

    type: StreamChunkType
    text: str = ""
    """The new text, for TEXT_DELTA."""
    tool_call: dict[str, Any] | None = None
    """A complete tool call (arguments assembled), for TOOL_CALL."""
    response: LLMResponse | None = None
    """The whole reply, for DONE (always the last chunk)."""


@runtime_checkable
class LLMClient(Protocol):
    """What the runtime needs from a model client. Implement it to plug in any provider."""

    async def generate(
        self,
        messages: Sequence[Message],
        tools: Sequence[dict[str, Any]] | None = None,
        model: str | None = None,
        **kwargs: Any,
    ) -> LLMResponse:
        """Send `messages` (and OpenAI-format `tools`) and return the model's reply."""
        ...

    def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[dict[str, Any]] | None = None,
        model: str | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[LLMStreamChunk]:
        """Like `generate`, yielding text deltas and tool calls as they come, then DONE."""
        ...


class BaseLLMClient(ABC):
    """Base of the library's clients: implement `_generate` (and `_stream` if the provider
    streams); calls are reported on the current run's event stream."""

    provider: str = "custom"
    """Provider name, for events and traces."""

    def __init__(self, default_model: str | None = None) -> None:
        if default_model is None:
            from ..config import get_config

            default_model = get_config().default_model
        self.default_model = default_model

    def __repr__(self) -> str:
        return f"{type(self).__name__}(default_model={self.default_model!r})"

    @abstractmethod
    async def _generate(
        self, messages: list[Message], tools: list[dict[str, Any]] | None, model: str, **kwargs: Any
    ) -> LLMResponse:
        """Call the provider once."""

    async def _stream(
        self, messages: list[Message], tools: list[dict[str, Any]] | None, model: str, **kwargs: Any
    ) -> AsyncIterator[LLMStreamChunk]:
        """Stream from the provider; the default calls `_generate` and replays its reply."""
        response = await self._generate(messages, tools, model, **kwargs)
        if response.content:
            yield LLMStreamChunk(StreamChunkType.TEXT_DELTA, text=response.content)
        for call in response.tool_calls:
            yield LLMStreamChunk(StreamChunkType.TOOL_CALL, tool_call=call)
        yield LLMStreamChunk(StreamChunkType.DONE, response=response)

    async def generate(
        self,
        messages: Sequence[Message],
        tools: Sequence[dict[str, Any]] | None = None,
        model: str | None = None,
        **kwargs: Any,
    ) -> LLMResponse:
        model = model or self.default_model
        ctx = current_run_context()
        span_id = uuid.uuid4().hex[:16]  # pairs this call's events, even when calls overlap
        if ctx is not None:
            await ctx.emit(EventType.LLM_CALL_STARTED, {"model": model, "provider": self.provider}, span_id=span_id)
        started = time.perf_counter()
        try:
            response = await self._generate(list(messages), list(tools) if tools else None, model, **kwargs)
        except Exception as e:
            if ctx is not None:
                await ctx.emit(
                    EventType.LLM_CALL_FAILED,
                    {"model": model, "provider": self.provider, "error": ErrorInfo.from_exception(e).to_dict()},
                    span_id=span_id,
                )
            raise
        if ctx is not None:
            await ctx.emit(
                EventType.LLM_CALL_COMPLETED, _completed_payload(self.provider, response, model, started), span_id=span_id
            )
        return response

    async def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[dict[str, Any]] | None = None,
        model: str | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[LLMStreamChunk]:
        model = model or self.default_model
        ctx = current_run_context()
        span_id = uuid.uuid4().hex[:16]  # pairs this call's events, even when calls overlap
        if ctx is not None:
            await ctx.emit(EventType.LLM_CALL_STARTED, {"model": model, "provider": self.provider}, span_id=span_id)
        started = time.perf_counter()
        try:
            async for chunk in self._stream(list(messages), list(tools) if tools else None, model, **kwargs):
                if ctx is not None:
                    if chunk.type is StreamChunkType.TEXT_DELTA and chunk.text:
                        await ctx.emit(EventType.ASSISTANT_DELTA, {"text": chunk.text}, span_id=span_id)
                    elif chunk.type is StreamChunkType.DONE and chunk.response is not None:
                        await ctx.emit(
                            EventType.LLM_CALL_COMPLETED,
                            _completed_payload(self.provider, chunk.response, model, started),
                            span_id=span_id,
                        )
                yield chunk
        except Exception as e:
            if ctx is not None:
                await ctx.emit(
                    EventType.LLM_CALL_FAILED,
                    {"model": model, "provider": self.provider, "error": ErrorInfo.from_exception(e).to_dict()},
                    span_id=span_id,
                )
            raise


SDKClientT = TypeVar("SDKClientT")


class SDKClientPerLoop(BaseLLMClient, Generic[SDKClientT]):
    """A `BaseLLMClient` over a provider SDK's async client, one per event loop (an HTTP
    connection pool cannot be shared between loops). Subclasses build it in `_new_client()` and
    set `base_url`; `aclose()` (or `async with`) closes the running loop's."""

    base_url: str | None = None
    """The endpoint in use (None: the provider's)."""

    def __init__(self, default_model: str | None = None) -> None:
        super().__init__(default_model)
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SDKClientT] = (
            weakref.WeakKeyDictionary()
        )

    @abstractmethod
    def _new_client(self) -> SDKClientT:
        """A new SDK client (called once per event loop)."""

    def __repr__(self) -> str:
        from .. import _secrets

        base_url = _secrets.redact(self.base_url) if self.base_url else None
        return f"{type(self).__name__}(default_model={self.default_model!r}, base_url={base_url!r}, api_key='***')"

    __str__ = __repr__

    @property
    def client(self) -> SDKClientT:
        """The SDK client of the running event loop (made on first use in that loop)."""
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = self._clients[loop] = self._new_client()
        return client

    async def aclose(self) -> None:
        """Close the HTTP connections of the running loop's SDK client."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.close()  # type: ignore[attr-defined]

    async def __aenter__(self) -> SDKClientPerLoop[SDKClientT]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _completed_payload(provider: str, response: LLMResponse, model: str, started: float) -> dict[str, Any]:
    return {
        "model": response.model or model,
        "provider": provider,
        "usage": response.usage.to_dict(),
        "finish_reason": response.finish_reason,
        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
    }
