"""Chat Completions on the wire: the request's tools, and the reply as a completion or as chunks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent_runtime_core.llm.base import LLMResponse
from agent_runtime_core.testing.scripted import split_text

from ._http import HTTPError, Json


def chat_tools(tools: Any) -> list[Json]:
    if tools is None:
        return []
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        raise HTTPError(400, "'tools' must be an array of tool objects.", param="tools")
    return list(tools)


def _chat_usage(response: LLMResponse) -> Json:
    usage = response.usage
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }


def chat_completion(completion_id: str, created: int, model: str, response: LLMResponse) -> Json:
    message: Json = {
        "role": "assistant",
        "content": response.message.get("content"),
        "refusal": None,
    }
    if response.tool_calls:
        message["tool_calls"] = response.tool_calls
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": response.finish_reason,
            }
        ],
        "usage": _chat_usage(response),
    }


def chat_chunks(
    completion_id: str, created: int, model: str, response: LLMResponse, include_usage: bool
) -> Iterator[Json]:
    def chunk(delta: Json, finish_reason: str | None = None) -> Json:
        data: Json = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": None,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }
        if include_usage:
            data["usage"] = None
        return data

    yield chunk({"role": "assistant", "content": ""})
    for piece in split_text(response.content):
        yield chunk({"content": piece})
    for index, call in enumerate(response.tool_calls):
        function = call["function"]
        yield chunk(
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": call["id"],
                        "type": "function",
                        "function": {"name": function["name"], "arguments": ""},
                    }
                ]
            }
        )
        for piece in split_text(function["arguments"]):
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    yield chunk({}, response.finish_reason)
    if include_usage:
        final = chunk({})
        final["choices"] = []
        final["usage"] = _chat_usage(response)
        yield final
