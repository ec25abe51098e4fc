"""`LiteLLMClient`: the `LLMClient` for any provider LiteLLM speaks to (`ollama/llama2`, ...).

LiteLLM already takes and returns OpenAI's chat shape, so this client mostly maps its results and
errors onto the library's. Importing `litellm` has two side effects that this module turns off
before the first import: it would download a model price map over the network
(`LITELLM_LOCAL_MODEL_COST_MAP=True` keeps the bundled copy; set the variable yourself to choose
otherwise), and it prints "Give Feedback / Get Help" banners on errors (`suppress_debug_info`).
LiteLLM's own callbacks stay as the application configured them (none by default).

The `litellm` package is an extra (`pip install 'agent-runtime-core[litellm]'`), imported when a
client is built. Errors become `LLMError` with the provider's status and message; the API key
never reaches an error, a repr, an event or a trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

from agent_runtime_core import _secrets
from agent_runtime_core.errors import LLMError
from agent_runtime_core.llm.base import (
    BaseLLMClient,
    LLMResponse,
    LLMStreamChunk,
    StreamChunkType,
    Usage,
)
from agent_runtime_core.llm.openai import _is_provider_failure, _wrap_sdk_error

__all__ = ["LLMError", "LiteLLMClient"]

Message = dict[str, Any]

_INSTALL_HINT = (
    "LiteLLMClient requires the 'litellm' package. "
    "Install it with: pip install 'agent-runtime-core[litellm]'"
)
_import_lock = threading.Lock()


def _import_litellm() -> tuple[ModuleType, ModuleType]:
    """Import `litellm` (offline: no price-map download) and the `openai` module its errors
    derive from."""
    with _import_lock:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        try:
            import litellm
            import openai
        except ImportError as e:
            raise ImportError(_INSTALL_HINT) from e
        litellm.suppress_debug_info = True
        if hasattr(litellm, "telemetry"):
            litellm.telemetry = False
    return litellm, openai


class _ChatStream:
    """Assembles OpenAI-style streamed chunks (text deltas, tool-call pieces, usage)."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.text: list[str] = []
        self.calls: dict[int, dict[str, str]] = {}
        self.usage = Usage()
        self.finish_reason: str | None = None
        self.chunks: list[Any] = []

    def feed(self, chunk: Any) -> list[str]:
        """Take one chunk; return its new text pieces."""
        self.chunks.append(chunk)
        self.model = getattr(chunk, "model", None) or self.model
        usage = getattr(chunk, "usage", None)
        if usage is not None and (usage.prompt_tokens or usage.completion_tokens):
            self.usage = Usage(usage.prompt_tokens or 0, usage.completion_tokens or 0)
        pieces: list[str] = []
        for choice in getattr(chunk, "choices", None) or []:
            delta = choice.delta
            if getattr(delta, "content", None):
                self.text.append(delta.content)
                pieces.append(delta.content)
            for call in getattr(delta, "tool_calls", None) or []:
                index = call.index if call.index is not None else len(self.calls)
                entry = self.calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
                if call.id:
                    entry["id"] = call.id
                function = call.function
                if function is not None:
                    if function.name and function.name != entry["name"]:
                        entry["name"] += function.name
                    if function.arguments:
                        entry["arguments"] += function.arguments
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason
        return pieces

    def tool_calls(self) -> list[dict[str, Any]]:
        """The assembled tool calls; arguments that are not whole JSON mean the stream was cut
        (LiteLLM ends a broken stream as if it had finished)."""
        calls = []
        for _, entry in sorted(self.calls.items()):
            arguments = entry["arguments"] or "{}"
            try:
                json.loads(arguments)
            except json.JSONDecodeError:
                raise LLMError(
                    f"LiteLLM's stream ended with incomplete arguments for tool {entry['name']!r} "
                    f"({arguments[:200]!r}): the response was cut off.",
                    provider="litellm",
                    retriable=True,
                ) from None
            except (ValueError, RecursionError):
                pass  # whole, but over a limit (digits, nesting): ToolRegistry.execute says which
            calls.append(
                {
                    "id": entry["id"],
                    "type": "function",
                    "function": {"name": entry["name"], "arguments": arguments},
                }
            )
        return calls

    def response(self, tool_calls: list[dict[str, Any]]) -> LLMResponse:
        content = "".join(self.text)
        message: Message = {
            "role": "assistant",
            "content": content if content or not tool_calls else None,
        }
        if tool_calls:
            message["tool_calls"] = tool_calls
        return LLMResponse(
            message=message,
            usage=self.usage,
            model=self.model,
            finish_reason=self.finish_reason,
            raw=self.chunks,
        )


class LiteLLMClient(BaseLLMClient):
    """Any LiteLLM model (`gpt-4o`, `claude-3-5-sonnet-20241022`, `ollama/llama2`, ...).

    Keys come from `api_key` or from the provider's usual environment variable, which LiteLLM
    reads itself. LiteLLM retries rate limits, timeouts and server errors (`num_retries`, with
    backoff); the error after the last retry is an `LLMError` with the status and message.
    """

    provider = "litellm"

    def __init__(
        self,
        default_model: str | None = None,
        api_key: str | None = None,
        api_base: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        **completion_kwargs: Any,
    ) -> None:
        """Build a client.

        Args:
            default_model: The LiteLLM model when a call names none (`provider/model`, e.g.
                `openai/gpt-4o` or `ollama/llama2`); defaults to `get_config().default_model`.
            api_key: The provider's key; by default LiteLLM reads the provider's variable
                (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY`, ...).
            api_base: The provider's endpoint, e.g. an OpenAI-compatible server's `.../v1`.
            base_url: Same as `api_base` (the name the other clients use).
            timeout: Seconds before a request times out.
            max_retries: Retries LiteLLM makes on 408/409/429/5xx, timeouts and connection errors.
            **completion_kwargs: Passed to every `litellm.acompletion` call (e.g. `temperature`).

        Raises:
            ImportError: The `litellm` package is not installed.
        """
        super().__init__(default_model)
        self._litellm, self._openai = _import_litellm()
        if api_key:
            _secrets.register_secret(api_key)
        self.__api_key = api_key
        self.api_base = api_base or base_url
        """The endpoint in use (None: the provider's)."""
        self.max_retries = max_retries
        """Retries LiteLLM makes before an error is raised."""
        self.timeout = timeout
        """Seconds before a request times out."""
        self._options = completion_kwargs

    def __repr__(self) -> str:
        api_base = _secrets.redact(self.api_base) if self.api_base else None
        key = "'***'" if self.__api_key else None
        return f"LiteLLMClient(default_model={self.default_model!r}, api_base={api_base!r}, api_key={key})"

    __str__ = __repr__

    async def aclose(self) -> None:
        """Drain LiteLLM's background logging queue on the running loop.

        LiteLLM queues a success-logging coroutine after each call and runs it from a worker task;
        closing the event loop before the worker ran it leaves "coroutine was never awaited"
        warnings. Call this (or use `async with`) before the loop ends.
        """
        try:
            from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER as worker
        except ImportError:  # another LiteLLM version: nothing of ours to drain
            return
        if getattr(worker, "_bound_loop", None) is not asyncio.get_running_loop():
            return  # its queue belongs to another loop (or it never ran)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(worker.flush(), 5.0)  # let the worker run what it took
        await worker.clear_queue()  # type: ignore[no-untyped-call]
        await worker.stop()

    async def __aenter__(self) -> LiteLLMClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _params(
        self,
        messages: list[Message],
        tools: list[dict[str, Any]] | None,
        model: str,
        kwargs: dict[str, Any],
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "timeout": self.timeout,
            "num_retries": self.max_retries,
            "max_retries": 0,  # the SDK under LiteLLM must not retry too: retries would multiply
            **self._options,
        }
        if self.__api_key:
            params["api_key"] = self.__api_key
        if self.api_base:
            params["api_base"] = self.api_base
        if tools:
            params["tools"] = tools
        params.update(kwargs)
        return params

    async def _generate(
        self, messages: list[Message], tools: list[dict[str, Any]] | None, model: str, **kwargs: Any
    ) -> LLMResponse:
        params = self._params(messages, tools, model, kwargs)
        try:
            completion = await self._litellm.acompletion(**params)
        except Exception as e:
            if not _is_provider_failure(self._openai, e):
                raise
            raise self._wrap_error(e) from e
        choices = getattr(completion, "choices", None)
        if not choices:
            raise LLMError("LiteLLM returned no choices.", provider=self.provider, retriable=True)
        choice = choices[0]
        message: Message = {"role": "assistant", "content": choice.message.content}
        tool_calls = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.function.name, "arguments": call.function.arguments},
            }
            for call in getattr(choice.message, "tool_calls", None) or []
            if getattr(call, "function", None) is not None
        ]
        if tool_calls:
            message["tool_calls"] = tool_calls
        usage = Usage()
        raw_usage = getattr(completion, "usage", None)
        if raw_usage is not None:
            usage = Usage(raw_usage.prompt_tokens or 0, raw_usage.completion_tokens or 0)
        return LLMResponse(
            message=message,
            usage=usage,
            model=getattr(completion, "model", None) or model,
            finish_reason=choice.finish_reason,
            raw=completion,
        )

    async def _stream(
        self, messages: list[Message], tools: list[dict[str, Any]] | None, model: str, **kwargs: Any
    ) -> AsyncIterator[LLMStreamChunk]:
        params = self._params(messages, tools, model, kwargs)
        params["stream"] = True
        params.setdefault("stream_options", {"include_usage": True})
        assembled = _ChatStream(model)
        try:
            stream = await self._litellm.acompletion(**params)
            async for chunk in stream:
                for piece in assembled.feed(chunk):
                    yield LLMStreamChunk(StreamChunkType.TEXT_DELTA, text=piece)
        except Exception as e:
            if not _is_provider_failure(self._openai, e):
                raise
            raise self._wrap_error(e) from e
        if assembled.finish_reason is None:
            # LiteLLM ends a stream quietly when the connection drops mid-way.
            raise LLMError(
                "LiteLLM's stream ended without a finish_reason: the response is incomplete "
                "(the connection may have been closed mid-stream).",
                provider=self.provider,
                retriable=True,
            )
        tool_calls = assembled.tool_calls()
        for call in tool_calls:
            yield LLMStreamChunk(StreamChunkType.TOOL_CALL, tool_call=call)
        yield LLMStreamChunk(StreamChunkType.DONE, response=assembled.response(tool_calls))

    def _wrap_error(self, error: Exception) -> LLMError:
        """LiteLLM's exceptions derive from openai's: keep status, message and retriable."""
        secrets = (self.__api_key,) if self.__api_key else ()
        return _wrap_sdk_error(
            self._openai,
            error,
            provider=self.provider,
            label="LiteLLM",
            base_url=self.api_base or "the provider's endpoint",
            max_retries=self.max_retries,
            secrets=secrets,
        )
