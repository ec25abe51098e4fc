"""`AnthropicClient`: the `LLMClient` for Anthropic's Messages API, on the official SDK.

Requests and replies keep the library's one shape (OpenAI chat messages and function tools in,
an OpenAI-style assistant message out); this module converts both ways:

- system (and developer) messages become the `system` parameter;
- assistant `tool_calls` become `tool_use` blocks, `role: tool` messages become `tool_result`
  blocks of a user turn (consecutive results share one turn, as the API requires);
- OpenAI function tools become Anthropic tools (`name`, `description`, `input_schema`), and
  `tool_choice` is mapped (`required` -> `any`);
- the reply's `tool_use` blocks come back as OpenAI `tool_calls`, `stop_reason` as an OpenAI
  `finish_reason`, and streamed `input_json_delta` pieces are assembled into whole tool calls.

The `anthropic` package is an extra (`pip install 'agent-runtime-core[anthropic]'`), imported when
a client is built. Provider errors become `LLMError` with the provider's status and message; the
API key never reaches an error, a repr, an event or a trace.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from types import ModuleType
from typing import TYPE_CHECKING, Any

from agent_runtime_core import _secrets
from agent_runtime_core._json import MAX_ARGUMENT_BYTES, loads_bounded
from agent_runtime_core.errors import ConfigurationError, InvalidInputError, LLMError
from agent_runtime_core.llm.base import (
    LLMResponse,
    LLMStreamChunk,
    SDKClientPerLoop,
    StreamChunkType,
    Usage,
)
from agent_runtime_core.llm.openai import _is_provider_failure, _wrap_sdk_error

if TYPE_CHECKING:
    from anthropic import AsyncAnthropic

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "AnthropicClient",
    "LLMError",
    "from_anthropic_message",
    "to_anthropic_messages",
    "to_anthropic_tool_choice",
    "to_anthropic_tools",
]

Message = dict[str, Any]

DEFAULT_MAX_TOKENS = 4096
"""`max_tokens` when a call sets none (the Messages API requires it; OpenAI's does not)."""

_INSTALL_HINT = (
    "AnthropicClient requires the 'anthropic' package. "
    "Install it with: pip install 'agent-runtime-core[anthropic]'"
)

_STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def _import_anthropic() -> ModuleType:
    try:
        import anthropic
    except ImportError as e:
        raise ImportError(_INSTALL_HINT) from e
    return anthropic


# -- request conversion (OpenAI chat format -> Messages API) -----------------------------------


def _text_of(content: Any) -> str:
    """The text of an OpenAI message `content` (a string or a list of text parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text", "")) if isinstance(part, dict) else str(part) for part in content
        )
    return str(content)


def _user_blocks(content: Any) -> list[dict[str, Any]]:
    """OpenAI user content (string, or text / image_url parts) as Anthropic content blocks."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[dict[str, Any]] = []
    for part in content if isinstance(content, list) else [content]:
        if isinstance(part, str):
            blocks.append({"type": "text", "text": part})
        elif isinstance(part, dict) and part.get("type") == "image_url":
            image = part.get("image_url")
            url = image.get("url", "") if isinstance(image, dict) else str(image or "")
            if url.startswith("data:") and ";base64," in url:
                media_type, data = url[5:].split(";base64,", 1)
                source = {"type": "base64", "media_type": media_type, "data": data}
            else:
                source = {"type": "url", "url": url}
            blocks.append({"type": "image", "source": source})
        elif isinstance(part, dict) and part.get("type") in ("text", None):
            blocks.append({"type": "text", "text": str(part.get("text", ""))})
        elif isinstance(part, dict):
            blocks.append(part)  # already an Anthropic block (document, image, ...)
    return blocks


def _tool_input(arguments: Any) -> dict[str, Any]:
    """A tool call's OpenAI `arguments` (a JSON string) as the `input` object Anthropic wants."""
    if isinstance(arguments, dict):
        return arguments
    if not arguments:
        return {}
    try:
        parsed = loads_bounded(arguments, what="Tool arguments", max_bytes=MAX_ARGUMENT_BYTES)
    except InvalidInputError:  # not JSON, or over a limit: pass the text on as it is
        return {"arguments": str(arguments)}
    return parsed if isinstance(parsed, dict) else {"value": parsed}


def to_anthropic_messages(messages: list[Message]) -> tuple[str | None, list[dict[str, Any]]]:
    """Convert OpenAI chat messages to the Messages API's `(system, messages)`.

    System and developer messages are joined into `system`; assistant tool calls become
    `tool_use` blocks; tool results become `tool_result` blocks of a user turn. Consecutive turns
    of the same role are merged, because the API expects user and assistant turns to alternate.
    """
    system: list[str] = []
    turns: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if not blocks:
            return
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": list(blocks)})

    for message in messages:
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            text = _text_of(content)
            if text:
                system.append(text)
        elif role == "assistant":
            blocks: list[dict[str, Any]] = []
            text = _text_of(content)
            if text:
                blocks.append({"type": "text", "text": text})
            for call in message.get("tool_calls") or []:
                function = call.get("function") or {}
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": str(call.get("id", "")),
                        "name": str(function.get("name", "")),
                        "input": _tool_input(function.get("arguments")),
                    }
                )
            add("assistant", blocks)
        elif role == "tool":
            result: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": str(message.get("tool_call_id", "")),
                "content": _text_of(content),
            }
            if message.get("is_error"):
                result["is_error"] = True
            add("user", [result])
        else:  # user (and anything unknown: sent as the user's words)
            add("user", _user_blocks(content))
    return ("\n\n".join(system) if system else None), turns


def to_anthropic_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Convert OpenAI function tools to Anthropic tools; other entries pass through unchanged
    (so Anthropic's own server tools can be given directly)."""
    converted: list[dict[str, Any]] = []
    for tool in tools:
        function = tool.get("function") if tool.get("type") == "function" else None
        if not isinstance(function, dict):
            converted.append(tool)
            continue
        entry: dict[str, Any] = {
            "name": function["name"],
            "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
        }
        if function.get("description"):
            entry["description"] = function["description"]
        converted.append(entry)
    return converted


def to_anthropic_tool_choice(choice: Any) -> dict[str, Any] | None:
    """Map OpenAI's `tool_choice` (`auto`, `none`, `required`, or a named function) to Anthropic's."""
    if choice is None or isinstance(choice, dict) and "function" not in choice:
        return choice if isinstance(choice, dict) else None
    if choice == "auto":
        return {"type": "auto"}
    if choice == "none":
        return {"type": "none"}
    if choice == "required":
        return {"type": "any"}
    if isinstance(choice, dict):
        return {"type": "tool", "name": str(choice["function"]["name"])}
    raise ValueError(f"Unknown tool_choice {choice!r}; use auto, none, required or a function.")


# -- response conversion (Messages API -> OpenAI-style message) --------------------------------


def _arguments(value: Any) -> str:
    return json.dumps(value if value is not None else {}, ensure_ascii=False, separators=(",", ":"))


def _usage(usage: Any) -> Usage:
    """Anthropic usage; cache reads and writes count as input, as OpenTelemetry's GenAI
    conventions ask (`input_tokens` there excludes them)."""
    if usage is None:
        return Usage()
    cached = (getattr(usage, "cache_read_input_tokens", 0) or 0) + (
        getattr(usage, "cache_creation_input_tokens", 0) or 0
    )
    return Usage(
        (getattr(usage, "input_tokens", 0) or 0) + cached, getattr(usage, "output_tokens", 0) or 0
    )


def from_anthropic_message(message: Any, model: str) -> LLMResponse:
    """An SDK `Message` as an `LLMResponse` whose message is OpenAI-style, tool calls included."""
    text: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for block in getattr(message, "content", None) or []:
        kind = getattr(block, "type", None)
        if kind == "text":
            text.append(block.text)
        elif kind == "tool_use":
            tool_calls.append(
                {
                    "id": block.id,
                    "type": "function",
                    "function": {"name": block.name, "arguments": _arguments(block.input)},
                }
            )
    content = "".join(text)
    reply: Message = {
        "role": "assistant",
        "content": content if content or not tool_calls else None,
    }
    if tool_calls:
        reply["tool_calls"] = tool_calls
    stop = getattr(message, "stop_reason", None)
    return LLMResponse(
        message=reply,
        usage=_usage(getattr(message, "usage", None)),
        model=getattr(message, "model", None) or model,
        finish_reason=_STOP_REASONS.get(stop, stop) if stop else None,
        raw=message,
    )


class AnthropicClient(SDKClientPerLoop["AsyncAnthropic"]):
    """Claude through the official `anthropic` SDK, speaking the library's OpenAI-style shape.

    The SDK retries 408/409/429/5xx and connection errors itself (`max_retries`, honouring the
    server's `retry-after`); the error after the last retry is an `LLMError` with the status,
    the provider's message and `retriable`. One `AsyncAnthropic` is made per event loop.
    """

    provider = "anthropic"

    def __init__(
        self,
        api_key: str | None = None,
        default_model: str | None = None,
        base_url: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        **client_kwargs: Any,
    ) -> None:
        """Build a client.

        Args:
            api_key: The API key; defaults to `get_config().anthropic_api_key` (`ANTHROPIC_API_KEY`).
            default_model: The model when a call names none, e.g. `claude-3-5-sonnet-20241022`;
                defaults to `get_config().default_model`.
            base_url: Another Messages API endpoint (a proxy, a gateway, the loopback test
                server), without `/v1`; defaults to Anthropic's.
            timeout: Seconds before a request times out.
            max_retries: Retries the SDK makes itself on 408/409/429/5xx and connection errors.
            max_tokens: `max_tokens` for calls that set none (the API requires one).
            **client_kwargs: Passed to `anthropic.AsyncAnthropic` (e.g. `default_headers`).

        Raises:
            ImportError: The `anthropic` package is not installed.
            ConfigurationError: No API key was passed or configured.
        """
        super().__init__(default_model)
        self._anthropic = _import_anthropic()
        from agent_runtime_core.config import get_config

        key = api_key if api_key is not None else get_config().anthropic_api_key
        if not key:
            raise ConfigurationError(
                "AnthropicClient needs an API key: pass api_key=... or set the ANTHROPIC_API_KEY "
                "environment variable."
            )
        _secrets.register_secret(key)
        self.__api_key = key
        self.base_url = base_url
        """The endpoint in use (None: Anthropic's)."""
        self.max_retries = max_retries
        """Retries the SDK makes before an error is raised."""
        self.max_tokens = max_tokens
        """`max_tokens` for calls that set none."""
        self._client_options: dict[str, Any] = {
            "timeout": timeout,
            "max_retries": max_retries,
            **client_kwargs,
        }

    def _new_client(self) -> AsyncAnthropic:
        client: AsyncAnthropic = self._anthropic.AsyncAnthropic(api_key=self.__api_key, base_url=self.base_url, **self._client_options)
        return client

    def _params(
        self,
        messages: list[Message],
        tools: list[dict[str, Any]] | None,
        model: str,
        kwargs: dict[str, Any],
    ) -> dict[str, Any]:
        system, turns = to_anthropic_messages(messages)
        options = dict(kwargs)
        max_tokens = options.pop("max_tokens", None) or options.pop("max_completion_tokens", None)
        params: dict[str, Any] = {
            "model": model,
            "messages": turns,
            "max_tokens": max_tokens or self.max_tokens,
        }
        if system is not None:
            params["system"] = system
        if tools:
            params["tools"] = to_anthropic_tools(tools)
        if "tool_choice" in options:
            choice = to_anthropic_tool_choice(options.pop("tool_choice"))
            if choice is not None:
                params["tool_choice"] = choice
        stop = options.pop("stop", None)
        if stop:
            params["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
        options.pop("stream_options", None)
        params.update(options)
        return params

    async def _generate(
        self, messages: list[Message], tools: list[dict[str, Any]] | None, model: str, **kwargs: Any
    ) -> LLMResponse:
        params = self._params(messages, tools, model, kwargs)
        try:
            reply = await self.client.messages.create(**params)
        except Exception as e:
            if not _is_provider_failure(self._anthropic, e):
                raise
            raise self._wrap_error(e) from e
        if not hasattr(reply, "content"):
            raise LLMError(
                f"Anthropic returned an unexpected response ({type(reply).__name__}), not a message.",
                provider=self.provider,
                retriable=True,
            )
        return from_anthropic_message(reply, model)

    async def _stream(
        self, messages: list[Message], tools: list[dict[str, Any]] | None, model: str, **kwargs: Any
    ) -> AsyncIterator[LLMStreamChunk]:
        params = self._params(messages, tools, model, kwargs)
        params["stream"] = True
        text: list[str] = []
        blocks: dict[int, dict[str, Any]] = {}
        tool_calls: list[dict[str, Any]] = []
        input_tokens = output_tokens = 0
        stop_reason: str | None = None
        answered_model = model
        finished = False
        events: list[Any] = []
        try:
            stream = await self.client.messages.create(**params)
            async with stream:
                async for event in stream:
                    events.append(event)
                    kind = getattr(event, "type", None)
                    if kind == "message_start":
                        answered_model = event.message.model or answered_model
                        usage = _usage(event.message.usage)
                        input_tokens, output_tokens = usage.input_tokens, usage.output_tokens
                    elif kind == "content_block_start":
                        block = event.content_block
                        if block.type == "tool_use":
                            blocks[event.index] = {"id": block.id, "name": block.name, "json": []}
                        elif block.type == "text" and block.text:
                            text.append(block.text)
                            yield LLMStreamChunk(StreamChunkType.TEXT_DELTA, text=block.text)
                    elif kind == "content_block_delta":
                        delta = event.delta
                        if delta.type == "text_delta" and delta.text:
                            text.append(delta.text)
                            yield LLMStreamChunk(StreamChunkType.TEXT_DELTA, text=delta.text)
                        elif delta.type == "input_json_delta" and event.index in blocks:
                            blocks[event.index]["json"].append(delta.partial_json)
                    elif kind == "content_block_stop" and event.index in blocks:
                        entry = blocks.pop(event.index)
                        raw = "".join(entry["json"])
                        call = {
                            "id": entry["id"],
                            "type": "function",
                            "function": {
                                "name": entry["name"],
                                "arguments": _arguments(_parse_tool_json(raw, entry["name"])),
                            },
                        }
                        tool_calls.append(call)
                        yield LLMStreamChunk(StreamChunkType.TOOL_CALL, tool_call=call)
                    elif kind == "message_delta":
                        stop_reason = event.delta.stop_reason or stop_reason
                        if event.usage is not None:
                            output_tokens = event.usage.output_tokens or output_tokens
                            extra_input = getattr(event.usage, "input_tokens", None)
                            if extra_input:  # newer API versions report input usage here too
                                input_tokens = max(input_tokens, _usage(event.usage).input_tokens)
                    elif kind == "message_stop":
                        finished = True
        except Exception as e:
            if not _is_provider_failure(self._anthropic, e):
                raise
            raise self._wrap_error(e) from e
        if not finished:
            raise LLMError(
                "Anthropic's stream ended before `message_stop`: the response is incomplete.",
                provider=self.provider,
                retriable=True,
            )
        content = "".join(text)
        message: Message = {
            "role": "assistant",
            "content": content if content or not tool_calls else None,
        }
        if tool_calls:
            message["tool_calls"] = tool_calls
        response = LLMResponse(
            message=message,
            usage=Usage(input_tokens, output_tokens),
            model=answered_model,
            finish_reason=_STOP_REASONS.get(stop_reason, stop_reason) if stop_reason else None,
            raw=events,
        )
        yield LLMStreamChunk(StreamChunkType.DONE, response=response)

    def _wrap_error(self, error: Exception) -> LLMError:
        """Turn an SDK (or transport) exception into an `LLMError` keeping status and message."""
        return _wrap_sdk_error(
            self._anthropic,
            error,
            provider=self.provider,
            label="Anthropic",
            base_url=self.base_url or "https://api.anthropic.com",
            max_retries=self.max_retries,
            secrets=(self.__api_key,),
        )


def _parse_tool_json(raw: str, name: str) -> Any:
    if not raw.strip():
        return {}
    try:
        return loads_bounded(raw, what="The arguments", max_bytes=MAX_ARGUMENT_BYTES)
    except InvalidInputError as e:
        raise LLMError(
            f"Anthropic streamed malformed JSON arguments for tool {name!r} ({e}): {raw[:200]!r}",
            provider="anthropic",
            retriable=True,
        ) from None
