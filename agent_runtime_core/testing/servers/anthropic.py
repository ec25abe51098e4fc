"""A loopback Anthropic Messages API server that serves a `ScriptedModel`.

The Anthropic twin of `OpenAICompatibleServer`: point the real `anthropic` SDK (or
`AnthropicClient`) at `server.base_url` and it runs offline::

    with AnthropicCompatibleServer(ScriptedModel([call_tool("get_weather", {...}), reply("Sunny.")])) as srv:
        client = AnthropicClient(api_key="test", base_url=srv.base_url)

`POST /v1/messages` answers as the API does: a `message` object with `text` and `tool_use`
blocks, `stop_reason` and `usage`, or, with `"stream": true`, the SSE events `message_start`,
`content_block_start` / `content_block_delta` (`text_delta`, `input_json_delta`) /
`content_block_stop`, `message_delta` (stop reason, output tokens) and `message_stop`. The request
is converted to OpenAI chat messages for the script (system, `tool_use` -> tool calls,
`tool_result` -> tool messages), so one script serves both servers and gives equal replies.
Errors (`fail` turns, bad requests) use Anthropic's body (`{"type": "error", "error": {...}}`),
so the SDK raises its own classes; `inject_fault` serves malformed or truncated responses.
Like its twin, it listens on loopback only, keeps no headers and logs nothing.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from agent_runtime_core.llm.base import LLMResponse
from agent_runtime_core.testing.scripted import ScriptedModel, ScriptEntry, split_text

from ._http import HTTPError, Json, required_str
from .openai import OpenAICompatibleServer, _OpenAIHandler

__all__ = ["AnthropicCompatibleServer"]

_ERROR_TYPES = {"server_error": "api_error", "script_error": "api_error"}
_STOP_REASONS = {"tool_calls": "tool_use", "stop": "end_turn", "length": "max_tokens"}


class AnthropicCompatibleServer(OpenAICompatibleServer):
    """Serves a `ScriptedModel` with Anthropic's Messages API on 127.0.0.1.

    Everything else (lifecycle, `requests`, `model_calls`, `inject_fault`, `fail` turns with
    `retry-after`) works as on `OpenAICompatibleServer`.
    """

    def __init__(
        self,
        model: ScriptedModel | Iterable[ScriptEntry],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        model_names: Iterable[str] = ("claude-3-5-sonnet-20241022",),
    ) -> None:
        """Build a server (not started).

        Args:
            model: The scripted model to serve, or its script.
            host: A loopback address; anything else is refused.
            port: The port; 0 picks a free one.
            api_key: When set, requests must carry it as `x-api-key` or `Authorization: Bearer`
                (else 401).
            model_names: Model ids listed by `GET /v1/models`.
        """
        super().__init__(model, host=host, port=port, api_key=None, model_names=model_names)
        self._anthropic_key = api_key

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        where = self.base_url if self.running else self.host
        return f"<AnthropicCompatibleServer {where} {state} calls={self.model_calls}>"

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT`: what the anthropic SDK takes as `base_url` (it adds `/v1`)."""
        return self.url

    def _key_ok(self, api_key_header: str | None, authorization: str | None) -> bool:
        """`x-api-key: KEY` (SDK 0.x/1.x) or `Authorization: Bearer KEY` (SDK 2.x)."""
        if self._anthropic_key is None:
            return True
        expected = self._anthropic_key.encode()
        if api_key_header is not None and hmac.compare_digest(api_key_header.encode(), expected):
            return True
        bearer = (authorization or "").removeprefix("Bearer ").encode()
        return bool(authorization) and hmac.compare_digest(bearer, expected)


class _AnthropicHandler(_OpenAIHandler):
    server_version = "agent-runtime-scripted-anthropic/1.0"

    def _send_json(self, status: int, body: Json, headers: Mapping[str, str] | None = None) -> None:
        if status >= 400 and isinstance(body.get("error"), dict) and body.get("type") != "error":
            inner = body["error"]
            kind = str(inner.get("type") or "api_error")
            body = {
                "type": "error",
                "error": {
                    "type": _ERROR_TYPES.get(kind, kind),
                    "message": inner.get("message", ""),
                },
            }
        super()._send_json(status, body, headers)

    def _dispatch(self, method: str, route: str, body: Any) -> None:
        app = self.app
        assert isinstance(app, AnthropicCompatibleServer)
        if not app._key_ok(self.headers.get("x-api-key"), self.headers.get("Authorization")):
            raise HTTPError(401, "invalid x-api-key", type="authentication_error")
        if route == "/messages":
            if method != "POST":
                raise HTTPError(405, f"/messages takes POST, not {method}.")
            if not isinstance(body, dict):
                raise HTTPError(400, "The request body must be a JSON object.")
            self._messages(body)
            return
        super()._dispatch(method, route, body)

    def _messages(self, body: Json) -> None:
        app = self.app
        model = required_str(body, "model")
        if not isinstance(body.get("max_tokens"), int):
            raise HTTPError(400, "max_tokens: Field required")
        raw_messages = body.get("messages")
        if not isinstance(raw_messages, list) or not raw_messages:
            raise HTTPError(400, "messages: at least one message is required")
        messages = _to_chat_messages(body.get("system"), raw_messages)
        tools = [
            {
                "type": "function",
                "function": {
                    "name": tool.get("name", ""),
                    "description": tool.get("description", ""),
                    "parameters": tool.get("input_schema", {}),
                },
            }
            for tool in body.get("tools") or []
            if isinstance(tool, dict)
        ]
        response = app._resolve(messages, tools, model).result()
        message_id = f"msg_{app._next_id():08d}"
        fault = app._take_fault()
        if body.get("stream") is not True:
            reply = _message_object(message_id, model, response)
            if fault is not None:
                self._send_broken_json(fault, reply)
            else:
                self._send_json(200, reply)
            return
        events = [
            f"event: {event['type']}\ndata: {json.dumps(event)}\n\n"
            for event in _message_events(message_id, model, response)
        ]
        self._send_sse(events, fault)


AnthropicCompatibleServer._handler_class = _AnthropicHandler


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(block.get("text", ""))
            for block in content
            if isinstance(block, dict) and block.get("type") == "text"
        )
    return ""


def _to_chat_messages(system: Any, messages: list[Any]) -> list[Json]:
    """The Messages API request as OpenAI chat messages (what a script reads)."""
    chat: list[Json] = []
    system_text = _text(system)
    if system_text:
        chat.append({"role": "system", "content": system_text})
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise HTTPError(400, f"messages.{i}.role: must be 'user' or 'assistant'")
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not isinstance(blocks, list):
            raise HTTPError(400, f"messages.{i}.content: must be a string or a list of blocks")
        if message["role"] == "assistant":
            text = "".join(
                b.get("text", "") for b in blocks if isinstance(b, dict) and b.get("type") == "text"
            )
            calls = [
                {
                    "id": b.get("id", ""),
                    "type": "function",
                    "function": {
                        "name": b.get("name", ""),
                        "arguments": json.dumps(
                            b.get("input") or {}, ensure_ascii=False, separators=(",", ":")
                        ),
                    },
                }
                for b in blocks
                if isinstance(b, dict) and b.get("type") == "tool_use"
            ]
            entry: Json = {"role": "assistant", "content": text if text or not calls else None}
            if calls:
                entry["tool_calls"] = calls
            chat.append(entry)
            continue
        text_parts: list[str] = []
        for block in blocks:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                chat.append(
                    {
                        "role": "tool",
                        "tool_call_id": block.get("tool_use_id", ""),
                        "content": _text(block.get("content")),
                    }
                )
            elif isinstance(block, dict) and block.get("type") == "text":
                text_parts.append(str(block.get("text", "")))
        if text_parts:
            chat.append({"role": "user", "content": "".join(text_parts)})
    return chat


def _content_blocks(response: LLMResponse) -> list[Json]:
    blocks: list[Json] = []
    if response.content:
        blocks.append({"type": "text", "text": response.content})
    for call in response.tool_calls:
        blocks.append(
            {
                "type": "tool_use",
                "id": call["id"],
                "name": call["function"]["name"],
                "input": json.loads(call["function"]["arguments"] or "{}"),
            }
        )
    return blocks


def _message_object(message_id: str, model: str, response: LLMResponse) -> Json:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": _content_blocks(response),
        "stop_reason": _STOP_REASONS.get(response.finish_reason or "stop", "end_turn"),
        "stop_sequence": None,
        "usage": {
            "input_tokens": response.usage.input_tokens,
            "output_tokens": response.usage.output_tokens,
        },
    }


def _message_events(message_id: str, model: str, response: LLMResponse) -> Iterator[Json]:
    """The SSE events of a streamed Messages API reply, in the API's order."""
    start = _message_object(message_id, model, response)
    start.update(content=[], stop_reason=None)
    start["usage"] = {"input_tokens": response.usage.input_tokens, "output_tokens": 1}
    yield {"type": "message_start", "message": start}
    yield {"type": "ping"}
    for index, block in enumerate(_content_blocks(response)):
        if block["type"] == "text":
            yield {
                "type": "content_block_start",
                "index": index,
                "content_block": {"type": "text", "text": ""},
            }
            for piece in split_text(block["text"]):
                yield {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "text_delta", "text": piece},
                }
        else:
            yield {
                "type": "content_block_start",
                "index": index,
                "content_block": {**block, "input": {}},
            }
            arguments = json.dumps(block["input"], ensure_ascii=False, separators=(",", ":"))
            for piece in split_text(arguments):
                yield {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": piece},
                }
        yield {"type": "content_block_stop", "index": index}
    yield {
        "type": "message_delta",
        "delta": {
            "stop_reason": _STOP_REASONS.get(response.finish_reason or "stop", "end_turn"),
            "stop_sequence": None,
        },
        "usage": {"output_tokens": response.usage.output_tokens},
    }
    yield {"type": "message_stop"}
