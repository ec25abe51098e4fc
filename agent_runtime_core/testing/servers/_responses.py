"""The Responses API on the wire: its input items as chat messages, and the reply as a response
object or as the event sequence a streamed response sends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from agent_runtime_core.llm.base import LLMResponse
from agent_runtime_core.testing.scripted import message_text, split_text

from ._http import HTTPError, Json


def responses_tools(tools: Any) -> list[Json]:
    """Responses-API function tools (`{"type": "function", "name": ...}`) in chat format."""
    if tools is None:
        return []
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        raise HTTPError(400, "'tools' must be an array of tool objects.", param="tools")
    converted: list[Json] = []
    for tool in tools:
        if tool.get("type") != "function":
            continue  # hosted tools (web search, ...) mean nothing to a scripted model
        function = {
            k: tool[k] for k in ("name", "description", "parameters", "strict") if k in tool
        }
        converted.append({"type": "function", "function": function})
    return converted


def responses_input(raw: Any) -> list[Json]:
    """Responses-API input (a string or items) as chat messages.

    Function calls join the assistant message before them, so one model reply stays one
    assistant message (the scripted model counts turns by assistant messages).
    """
    if raw is None:
        return []
    if isinstance(raw, str):
        return [{"role": "user", "content": raw}]
    if not isinstance(raw, list):
        raise HTTPError(400, "'input' must be a string or an array of input items.", param="input")
    messages: list[Json] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise HTTPError(400, f"'input[{i}]' must be an object.", param=f"input[{i}]")
        kind = item.get("type")
        if kind in (None, "message") and "role" in item:
            role = item.get("role")
            if not isinstance(role, str):
                raise HTTPError(
                    400, f"'input[{i}].role' must be a string.", param=f"input[{i}].role"
                )
            messages.append({"role": role, "content": message_text(item)})
        elif kind == "function_call":
            call_id, name = item.get("call_id"), item.get("name")
            if not isinstance(call_id, str) or not isinstance(name, str):
                raise HTTPError(
                    400,
                    f"'input[{i}]' (function_call) needs string 'call_id' and 'name'.",
                    param=f"input[{i}]",
                )
            arguments = item.get("arguments")
            call = {
                "id": call_id,
                "type": "function",
                "function": {
                    "name": name,
                    "arguments": arguments if isinstance(arguments, str) else "{}",
                },
            }
            if messages and messages[-1].get("role") == "assistant":
                messages[-1].setdefault("tool_calls", []).append(call)
                if not messages[-1].get("content"):
                    messages[-1]["content"] = None
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            call_id = item.get("call_id")
            if not isinstance(call_id, str):
                raise HTTPError(
                    400,
                    f"'input[{i}]' (function_call_output) needs a string 'call_id'.",
                    param=f"input[{i}]",
                )
            output = item.get("output")
            if isinstance(output, str):
                text = output
            elif isinstance(output, list):
                text = message_text({"content": output})
            else:
                text = json.dumps(output)
            messages.append({"role": "tool", "tool_call_id": call_id, "content": text})
        # Other items (reasoning, item_reference, hosted tool calls) carry nothing a script reads.
    return messages


def response_output(response_id: str, response: LLMResponse) -> list[Json]:
    suffix = response_id.removeprefix("resp_")
    items: list[Json] = []
    if response.content:
        items.append(
            {
                "id": f"msg_{suffix}",
                "type": "message",
                "role": "assistant",
                "status": "completed",
                "content": [
                    {
                        "type": "output_text",
                        "text": response.content,
                        "annotations": [],
                        "logprobs": [],
                    }
                ],
            }
        )
    for index, call in enumerate(response.tool_calls):
        items.append(
            {
                "id": f"fc_{suffix}_{index}",
                "type": "function_call",
                "call_id": call["id"],
                "name": call["function"]["name"],
                "arguments": call["function"]["arguments"],
                "status": "completed",
            }
        )
    return items


def _response_usage(response: LLMResponse) -> Json:
    usage = response.usage
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.total_tokens,
    }


def response_object(
    response_id: str,
    created: float,
    model: str,
    body: Json,
    status: str,
    output: list[Json],
    response: LLMResponse | None,
) -> Json:
    tools = []
    for tool in body.get("tools") or []:
        if (
            isinstance(tool, dict)
            and tool.get("type") == "function"
            and isinstance(tool.get("name"), str)
        ):
            tools.append(
                {
                    "type": "function",
                    "name": tool["name"],
                    "description": tool.get("description"),
                    "parameters": tool.get("parameters"),
                    "strict": tool.get("strict"),
                }
            )
    tool_choice = body.get("tool_choice")
    instructions = body.get("instructions")
    return {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "status": status,
        "completed_at": created if status == "completed" else None,
        "error": None,
        "incomplete_details": None,
        "instructions": instructions if isinstance(instructions, str | list) else None,
        "max_output_tokens": body.get("max_output_tokens"),
        "metadata": body.get("metadata") if isinstance(body.get("metadata"), dict) else {},
        "model": model,
        "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls") is not False,
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": None,
        "store": body.get("store") is not False,
        "temperature": body.get("temperature", 1.0),
        "text": {"format": {"type": "text"}},
        "tool_choice": tool_choice if tool_choice in ("auto", "none", "required") else "auto",
        "tools": tools,
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": _response_usage(response) if response is not None else None,
        "user": None,
    }


def response_events(
    response_id: str,
    created: float,
    model: str,
    body: Json,
    output: list[Json],
    response: LLMResponse,
    final: Json,
) -> Iterator[Json]:
    """The event sequence the Responses API streams, as the openai SDK parses it."""
    seq = 0

    def event(kind: str, **fields: Any) -> Json:
        nonlocal seq
        data = {"type": kind, "sequence_number": seq, **fields}
        seq += 1
        return data

    in_progress = response_object(response_id, created, model, body, "in_progress", [], None)
    yield event("response.created", response=in_progress)
    yield event("response.in_progress", response=in_progress)
    for output_index, item in enumerate(output):
        if item["type"] == "message":
            text = item["content"][0]["text"]
            yield event(
                "response.output_item.added",
                output_index=output_index,
                item={**item, "status": "in_progress", "content": []},
            )
            empty_part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            yield event(
                "response.content_part.added",
                item_id=item["id"],
                output_index=output_index,
                content_index=0,
                part=empty_part,
            )
            for piece in split_text(text):
                yield event(
                    "response.output_text.delta",
                    item_id=item["id"],
                    output_index=output_index,
                    content_index=0,
                    delta=piece,
                    logprobs=[],
                )
            yield event(
                "response.output_text.done",
                item_id=item["id"],
                output_index=output_index,
                content_index=0,
                text=text,
                logprobs=[],
            )
            yield event(
                "response.content_part.done",
                item_id=item["id"],
                output_index=output_index,
                content_index=0,
                part=item["content"][0],
            )
        else:
            yield event(
                "response.output_item.added",
                output_index=output_index,
                item={**item, "arguments": "", "status": "in_progress"},
            )
            for piece in split_text(item["arguments"]):
                yield event(
                    "response.function_call_arguments.delta",
                    item_id=item["id"],
                    output_index=output_index,
                    delta=piece,
                )
            yield event(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=output_index,
                name=item["name"],
                arguments=item["arguments"],
            )
        yield event("response.output_item.done", output_index=output_index, item=item)
    yield event("response.completed", response=final)
