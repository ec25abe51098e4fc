"""`ScriptedLLMClient`: a `ScriptedModel` as an in-process `LLMClient` (no HTTP, no SDK)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Any

from agent_runtime_core.llm.base import BaseLLMClient, LLMResponse, LLMStreamChunk, StreamChunkType

from ._model import ScriptedModel, split_text
from ._turns import Message, ScriptEntry


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
