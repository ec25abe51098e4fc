"""AnthropicClient on the real anthropic SDK, against the loopback Messages API server."""

from __future__ import annotations

import importlib.abc
import json
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from agent_runtime_core.config import reset_config
from agent_runtime_core.context import RunContext, use_run_context
from agent_runtime_core.errors import ConfigurationError, ErrorInfo
from agent_runtime_core.events.base import Event, EventType
from agent_runtime_core.llm import get_llm_client
from agent_runtime_core.llm.anthropic import (
    AnthropicClient,
    LLMError,
    to_anthropic_messages,
    to_anthropic_tool_choice,
    to_anthropic_tools,
)
from agent_runtime_core.llm.base import LLMClient, StreamChunkType
from agent_runtime_core.testing import (
    ScriptedLLMClient,
    ScriptedModel,
    ScriptRequest,
    call_tool,
    fail,
    reply,
)
from agent_runtime_core.testing.servers.anthropic import AnthropicCompatibleServer

KEY = "sk-ant-test-anthropicclient-SECRET-0123456789"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
QUESTION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Weather in Paris?"},
]
CALL = {
    "id": "call_0_get_weather",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
}


def weather_script() -> list[Any]:
    def answer(request: ScriptRequest) -> str:
        return f"It is {request.tool_results[-1].content} in Paris."

    return [call_tool("get_weather", {"city": "Paris"}), reply(answer)]


def after_tool(result: str) -> list[dict[str, Any]]:
    return [
        *QUESTION,
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": CALL["id"], "content": result},
    ]


@pytest.fixture
def server() -> Iterator[AnthropicCompatibleServer]:
    with AnthropicCompatibleServer(ScriptedModel(weather_script()), api_key=KEY) as srv:
        yield srv


@pytest.fixture
async def client(server: AnthropicCompatibleServer) -> AsyncIterator[AnthropicClient]:
    async with AnthropicClient(
        api_key=KEY,
        base_url=server.base_url,
        default_model="claude-3-5-sonnet-20241022",
        max_retries=0,
    ) as c:
        yield c


async def test_generate_converts_tools_and_messages_both_ways(
    client: AnthropicClient, server: AnthropicCompatibleServer
) -> None:
    assert isinstance(client, LLMClient)
    first = await client.generate(QUESTION, tools=TOOLS)
    assert first.message == {"role": "assistant", "content": None, "tool_calls": [CALL]}
    assert first.tool_calls == [CALL]
    assert first.finish_reason == "tool_calls"
    assert first.model == "claude-3-5-sonnet-20241022"
    assert first.usage.input_tokens > 0 and first.usage.output_tokens > 0
    body = server.requests[0].body
    assert body["system"] == "Be brief."
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]}
    ]
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather for a city.",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
    assert body["max_tokens"] == 4096

    second = await client.generate(after_tool("sunny"), tools=TOOLS, max_tokens=50)
    assert second.message == {"role": "assistant", "content": "It is sunny in Paris."}
    assert second.finish_reason == "stop"
    body = server.requests[1].body
    assert body["max_tokens"] == 50
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": CALL["id"],
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                }
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": CALL["id"], "content": "sunny"}],
        },
    ]


async def test_stream_yields_deltas_assembled_tool_calls_and_usage(client: AnthropicClient) -> None:
    chunks = [c async for c in client.stream(QUESTION, tools=TOOLS)]
    assert [c.type for c in chunks] == [StreamChunkType.TOOL_CALL, StreamChunkType.DONE]
    assert chunks[0].tool_call == CALL, "input_json_delta pieces are assembled"
    done = chunks[-1].response
    assert done is not None and done.tool_calls == [CALL] and done.finish_reason == "tool_calls"
    assert done.usage.input_tokens > 0 and done.usage.output_tokens > 0

    chunks = [c async for c in client.stream(after_tool("cloudy"))]
    deltas = [c.text for c in chunks if c.type is StreamChunkType.TEXT_DELTA]
    assert len(deltas) > 1 and "".join(deltas) == "It is cloudy in Paris."
    final = chunks[-1].response
    assert (
        final is not None
        and final.content == "It is cloudy in Paris."
        and final.finish_reason == "stop"
    )
    assert final.usage.output_tokens == 6  # ceil(22 / 4), from message_delta


async def test_same_script_gives_equal_replies_in_process(client: AnthropicClient) -> None:
    scripted = ScriptedLLMClient(ScriptedModel(weather_script()))
    over_http = await client.generate(QUESTION, tools=TOOLS)
    in_process = await scripted.generate(QUESTION, tools=TOOLS)
    assert over_http.message == in_process.message
    assert over_http.usage == in_process.usage


async def test_rate_limit_is_retried_by_the_sdk_then_succeeds() -> None:
    model = ScriptedModel(
        [fail(429, "Number of requests exceeded.", retry_after=0.01), reply("ok")]
    )
    with AnthropicCompatibleServer(model) as srv:
        async with AnthropicClient(
            api_key=KEY, base_url=srv.base_url, default_model="c", max_retries=2
        ) as client:
            response = await client.generate([{"role": "user", "content": "hi"}])
        assert response.content == "ok"
        assert srv.model_calls == 2


async def test_errors_after_the_last_retry_keep_status_and_message_without_the_key() -> None:
    script = [
        fail(529, f"Overloaded (key {KEY})", type="overloaded_error", times=None, retry_after=0.01)
    ]
    with AnthropicCompatibleServer(script) as srv:
        async with AnthropicClient(
            api_key=KEY, base_url=srv.base_url, default_model="c", max_retries=1
        ) as client:
            with pytest.raises(LLMError) as info:
                await client.generate([{"role": "user", "content": "hi"}])
            with pytest.raises(LLMError) as stream_info:
                _ = [c async for c in client.stream([{"role": "user", "content": "hi"}])]
        assert srv.model_calls == 4
    for error in (info.value, stream_info.value):
        assert error.status_code == 529 and error.retriable is True
        assert error.provider == "anthropic" and error.error_type == "overloaded_error"
        assert "Overloaded" in str(error) and "after 1 retry" in str(error)
        assert (
            KEY not in str(error)
            and KEY not in ErrorInfo.from_exception(error).to_dict()["traceback"]
        )


async def test_auth_error_is_not_retriable(server: AnthropicCompatibleServer) -> None:
    async with AnthropicClient(
        api_key="sk-ant-wrong-key-000000", base_url=server.base_url, default_model="c"
    ) as bad:
        with pytest.raises(LLMError) as info:
            await bad.generate([{"role": "user", "content": "hi"}])
    assert info.value.status_code == 401 and info.value.retriable is False
    assert info.value.error_type == "authentication_error"
    assert server.model_calls == 0


@pytest.mark.parametrize("fault", ["malformed_json", "truncated"])
@pytest.mark.parametrize("stream", [False, True], ids=["generate", "stream"])
async def test_malformed_or_truncated_responses_are_clear_retriable_errors(
    client: AnthropicClient, server: AnthropicCompatibleServer, fault: Any, stream: bool
) -> None:
    server.inject_fault(fault)
    with pytest.raises(LLMError) as info:
        if stream:
            _ = [c async for c in client.stream(QUESTION, tools=TOOLS)]
        else:
            await client.generate(QUESTION, tools=TOOLS)
    expected = (
        "malformed response" if fault == "malformed_json" else "before the response was complete"
    )
    assert expected in str(info.value)
    assert info.value.retriable is True and info.value.provider == "anthropic"
    assert (await client.generate(QUESTION, tools=TOOLS)).tool_calls == [CALL], (
        "the next call works"
    )


async def test_calls_inside_a_run_emit_llm_events(client: AnthropicClient) -> None:
    events: list[Event] = []

    async def publish(event: Event) -> None:
        events.append(event)

    with use_run_context(RunContext(publish=publish)):
        first = await client.generate(QUESTION, tools=TOOLS)
        _ = [c async for c in client.stream(after_tool("sunny"))]
    types = [e.type for e in events]
    assert types[:2] == [EventType.LLM_CALL_STARTED, EventType.LLM_CALL_COMPLETED]
    assert types.count(EventType.ASSISTANT_DELTA) > 1 and types[-1] is EventType.LLM_CALL_COMPLETED
    assert events[0].payload["provider"] == "anthropic"
    assert events[1].payload["usage"] == first.usage.to_dict()
    assert KEY not in json.dumps([e.to_dict() for e in events])


def test_conversion_merges_tool_results_and_maps_tool_choice() -> None:
    system, turns = to_anthropic_messages(
        [
            {"role": "system", "content": "a"},
            {"role": "developer", "content": "b"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "hi"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA"}},
                ],
            },
            {
                "role": "assistant",
                "content": "calling",
                "tool_calls": [
                    CALL,
                    {**CALL, "id": "c2", "function": {"name": "x", "arguments": "not json"}},
                ],
            },
            {"role": "tool", "tool_call_id": CALL["id"], "content": "r1"},
            {"role": "tool", "tool_call_id": "c2", "content": "r2"},
        ]
    )
    assert system == "a\n\nb"
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert turns[0]["content"][1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "AAA"},
    }
    assert turns[1]["content"][2]["input"] == {"arguments": "not json"}
    assert [b["tool_use_id"] for b in turns[2]["content"]] == [CALL["id"], "c2"]
    assert to_anthropic_tool_choice("required") == {"type": "any"}
    assert to_anthropic_tool_choice({"type": "function", "function": {"name": "f"}}) == {
        "type": "tool",
        "name": "f",
    }
    assert to_anthropic_tools([{"name": "server_tool", "type": "web_search_20250305"}]) == [
        {"name": "server_tool", "type": "web_search_20250305"}
    ]


def test_key_from_env_and_clear_error_without_one(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="ANTHROPIC_API_KEY"):
        AnthropicClient()
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    reset_config()
    client = get_llm_client("anthropic", default_model="claude-x")
    assert isinstance(client, AnthropicClient) and client.default_model == "claude-x"
    assert KEY not in repr(client)


class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "anthropic" or name.startswith("anthropic."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


def test_missing_anthropic_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in sys.modules if n == "anthropic" or n.startswith("anthropic.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [_Block(), *sys.meta_path])
    with pytest.raises(ImportError, match=r"pip install 'agent-runtime-core\[anthropic\]'"):
        AnthropicClient(api_key=KEY)
