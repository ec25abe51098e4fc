"""`OpenAIClient`: the `LLMClient` for OpenAI and OpenAI-compatible servers, on the official SDK.

The `openai` package is an extra (`pip install 'agent-runtime-core[openai]'`), imported when a
client is built, never when this module is imported. Provider errors become `LLMError`, which
keeps the provider's status code and message (redacted: no API key survives into an error, a
repr, an event or a trace).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import ModuleType
from typing import TYPE_CHECKING, Any

from agent_runtime_core import _secrets
from agent_runtime_core.errors import ConfigurationError, LLMError
from agent_runtime_core.llm.base import (
    LLMResponse,
    LLMStreamChunk,
    SDKClientPerLoop,
    StreamChunkType,
    Usage,
)

if TYPE_CHECKING:
    from openai import AsyncOpenAI

__all__ = ["LLMError", "OpenAIClient"]

Message = dict[str, Any]

_INSTALL_HINT = "OpenAIClient requires the 'openai' package. Install it with: pip install 'agent-runtime-core[openai]'"


def _import_openai() -> ModuleType:
    try:
        import openai
    except ImportError as e:
        raise ImportError(_INSTALL_HINT) from e
    return openai


def _is_retriable_status(status: int) -> bool:
    return status in (408, 409, 429) or status >= 500


class OpenAIClient(SDKClientPerLoop["AsyncOpenAI"]):
    """Chat Completions through the official `openai` SDK (OpenAI, or any compatible server).

    The key and the SDK are checked when the client is built, so a misconfiguration shows at
    start-up rather than in the middle of a run. One `AsyncOpenAI` is made per event loop (an
    HTTP connection pool cannot be shared between loops); `aclose()` closes the current loop's.
    """

    provider = "openai"

    def __init__(
        self,
        api_key: str | None = None,
        default_model: str | None = None,
        base_url: str | None = None,
        organization: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        **client_kwargs: Any,
    ) -> None:
        """Build a client.

        Args:
            api_key: The API key; defaults to `get_config().openai_api_key` (`OPENAI_API_KEY`).
            default_model: The model when a call names none; defaults to `get_config().default_model`.
            base_url: An OpenAI-compatible endpoint, e.g. `http://127.0.0.1:8000/v1`; defaults to
                `get_config().openai_base_url` (`OPENAI_BASE_URL`), then OpenAI's.
            organization: The OpenAI organization id, if any.
            timeout: Seconds before a request times out.
            max_retries: Retries the SDK makes itself on 408/409/429/5xx and connection errors.
            **client_kwargs: Passed to `openai.AsyncOpenAI` (e.g. `default_headers`).

        Raises:
            ImportError: The `openai` package is not installed.
            ConfigurationError: No API key was passed or configured.
        """
        super().__init__(default_model)
        self._openai = _import_openai()
        from agent_runtime_core.config import get_config

        config = get_config()
        key = api_key if api_key is not None else config.openai_api_key
        if not key:
            raise ConfigurationError(
                "OpenAIClient needs an API key: pass api_key=... or set the OPENAI_API_KEY environment "
                "variable (any non-empty value works for a local OpenAI-compatible server)."
            )
        _secrets.register_secret(key)
        self.__api_key = key
        self.base_url = base_url if base_url is not None else config.openai_base_url
        """The endpoint in use (None: OpenAI's)."""
        self._client_options: dict[str, Any] = {
            "organization": organization,
            "timeout": timeout,
            "max_retries": max_retries,
            **client_kwargs,
        }

    def _new_client(self) -> AsyncOpenAI:
        client: AsyncOpenAI = self._openai.AsyncOpenAI(api_key=self.__api_key, base_url=self.base_url, **self._client_options)
        return client

    def _params(
        self,
        messages: list[Message],
        tools: list[dict[str, Any]] | None,
        model: str,
        kwargs: dict[str, Any],
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"model": model, "messages": messages}
        if tools:
            params["tools"] = tools
        params.update(kwargs)
        return params

    async def _generate(
        self, messages: list[Message], tools: list[dict[str, Any]] | None, model: str, **kwargs: Any
    ) -> LLMResponse:
        params = self._params(messages, tools, model, kwargs)
        try:
            completion = await self.client.chat.completions.create(**params)
        except Exception as e:
            if not _is_provider_failure(self._openai, e):
                raise
            raise self._wrap_error(e) from e
        if not getattr(completion, "choices", None):
            raise LLMError("OpenAI returned no choices.", provider=self.provider, retriable=True)
        choice = completion.choices[0]
        message: Message = {"role": "assistant", "content": choice.message.content}
        tool_calls = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.function.name, "arguments": call.function.arguments},
            }
            for call in choice.message.tool_calls or []
            if getattr(call, "function", None) is not None
        ]
        if tool_calls:
            message["tool_calls"] = tool_calls
        usage = Usage()
        if completion.usage is not None:
            usage = Usage(
                completion.usage.prompt_tokens or 0, completion.usage.completion_tokens or 0
            )
        return LLMResponse(
            message=message,
            usage=usage,
            model=completion.model or model,
            finish_reason=choice.finish_reason,
            raw=completion,
        )

    async def _stream(
        self, messages: list[Message], tools: list[dict[str, Any]] | None, model: str, **kwargs: Any
    ) -> AsyncIterator[LLMStreamChunk]:
        params = self._params(messages, tools, model, kwargs)
        params["stream"] = True
        params.setdefault("stream_options", {"include_usage": True})
        text: list[str] = []
        calls: dict[int, dict[str, str]] = {}
        usage = Usage()
        finish_reason: str | None = None
        answered_model = model
        chunks: list[Any] = []
        try:
            stream = await self.client.chat.completions.create(**params)
            async with stream:
                async for chunk in stream:
                    chunks.append(chunk)
                    answered_model = chunk.model or answered_model
                    if chunk.usage is not None:
                        usage = Usage(
                            chunk.usage.prompt_tokens or 0, chunk.usage.completion_tokens or 0
                        )
                    for choice in chunk.choices:
                        delta = choice.delta
                        if delta.content:
                            text.append(delta.content)
                            yield LLMStreamChunk(StreamChunkType.TEXT_DELTA, text=delta.content)
                        for call in delta.tool_calls or []:
                            entry = calls.setdefault(
                                call.index, {"id": "", "name": "", "arguments": ""}
                            )
                            if call.id:
                                entry["id"] = call.id
                            function = call.function
                            if function is not None:
                                if function.name and function.name != entry["name"]:
                                    entry["name"] += function.name
                                if function.arguments:
                                    entry["arguments"] += function.arguments
                        if choice.finish_reason:
                            finish_reason = choice.finish_reason
        except Exception as e:
            if not _is_provider_failure(self._openai, e):
                raise
            raise self._wrap_error(e) from e
        if finish_reason is None:
            raise LLMError(
                "OpenAI's stream ended without a finish_reason: the response is incomplete.",
                provider=self.provider,
                retriable=True,
            )
        tool_calls = [
            {
                "id": entry["id"],
                "type": "function",
                "function": {"name": entry["name"], "arguments": entry["arguments"] or "{}"},
            }
            for _, entry in sorted(calls.items())
        ]
        for call in tool_calls:
            yield LLMStreamChunk(StreamChunkType.TOOL_CALL, tool_call=call)
        content = "".join(text)
        message: Message = {
            "role": "assistant",
            "content": content if content or not tool_calls else None,
        }
        if tool_calls:
            message["tool_calls"] = tool_calls
        response = LLMResponse(
            message=message,
            usage=usage,
            model=answered_model,
            finish_reason=finish_reason,
            raw=chunks,
        )
        yield LLMStreamChunk(StreamChunkType.DONE, response=response)

    def _wrap_error(self, error: Exception) -> LLMError:
        """Turn an SDK exception into an `LLMError` that keeps the status and the message."""
        return _wrap_sdk_error(
            self._openai,
            error,
            provider=self.provider,
            label="OpenAI",
            base_url=self.base_url or "https://api.openai.com/v1",
            max_retries=int(self._client_options.get("max_retries") or 0),
            secrets=(self.__api_key,),
        )


def _is_transport_error(error: BaseException) -> bool:
    """An exception of the HTTP stack under the SDKs (httpx, httpx2, httpcore, h11)."""
    return type(error).__module__.split(".")[0] in ("httpx", "httpx2", "httpcore", "h11")


def _is_provider_failure(sdk: ModuleType, error: BaseException) -> bool:
    """Whether `error` is the provider's (or the network's) fault, to be raised as `LLMError`:
    an SDK error, a body that is not JSON (`ValueError`), or a transport error."""
    return isinstance(error, sdk.APIError | ValueError) or _is_transport_error(error)


def _wrap_sdk_error(
    sdk: ModuleType,
    error: Exception,
    *,
    provider: str,
    label: str,
    base_url: str,
    max_retries: int,
    secrets: tuple[str, ...],
) -> LLMError:
    """An `LLMError` for an exception of a Stainless-generated SDK (openai, anthropic).

    Status errors keep the status, the provider's message, code and type; timeouts, broken
    connections and bodies that are not JSON are retriable errors that say what happened. The
    text is redacted with `secrets` and every registered secret.
    """
    retries = (
        f" after {max_retries} retr{'y' if max_retries == 1 else 'ies'}" if max_retries else ""
    )
    if isinstance(error, sdk.APIStatusError):
        status = int(error.status_code)
        detail = _error_detail(error.body) or error.message
        code = getattr(error, "code", None)
        error_type = getattr(error, "type", None)
        if error_type is None and isinstance(error.body, dict):
            inner = error.body.get("error")
            error_type = inner.get("type") if isinstance(inner, dict) else None
        retriable = _is_retriable_status(status)
        label_bits = ", ".join(str(x) for x in (status, code or error_type) if x)
        suffix = retries if retriable else ""
        return LLMError(
            _secrets.redact(f"{label} API error ({label_bits}){suffix}: {detail}", secrets),
            status_code=status,
            provider=provider,
            retriable=retriable,
            code=code if isinstance(code, str) else None,
            error_type=error_type if isinstance(error_type, str) else None,
        )
    if _is_transport_error(error):  # the SDK let an HTTP library error through (mid-stream)
        message = f"{label} closed the connection before the response was complete{retries} ({base_url}): {error}"
        return LLMError(_secrets.redact(message, secrets), provider=provider, retriable=True)
    if isinstance(error, sdk.APITimeoutError):
        message = f"{label} request timed out{retries} (base_url={base_url})."
        return LLMError(_secrets.redact(message, secrets), provider=provider, retriable=True)
    if isinstance(error, sdk.APIConnectionError):
        cause = error.__cause__
        if cause is not None and ("peer closed" in str(cause) or "incomplete" in str(cause)):
            message = f"{label} closed the connection before the response was complete{retries} ({base_url}): {cause}"
        else:
            message = f"Could not reach {label} at {base_url}{retries}: {cause or error}"
        return LLMError(_secrets.redact(message, secrets), provider=provider, retriable=True)
    if isinstance(error, ValueError | getattr(sdk, "APIResponseValidationError", ValueError)):
        # json.JSONDecodeError, pydantic's ValidationError: a 200 whose body is not what the API
        # sends (a proxy's HTML page, a cut or corrupted body). Worth another try.
        message = f"{label} returned a malformed response ({type(error).__name__}): {error}"
        return LLMError(_secrets.redact(message[:1000], secrets), provider=provider, retriable=True)
    detail = _error_detail(getattr(error, "body", None)) or str(error)
    return LLMError(
        _secrets.redact(f"{label} API error ({type(error).__name__}): {detail}", secrets),
        provider=provider,
        retriable=False,
        code=getattr(error, "code", None),
        error_type=getattr(error, "type", None),
    )


def _error_detail(body: object) -> str | None:
    """The `message` of an OpenAI error body (`{"error": {"message": ...}}` or the inner dict)."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
    return None
