"""OpenAIClient on the real openai SDK, against the loopback OpenAI-compatible server."""

from __future__ import annotations

import importlib.abc
import json
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from agent_runtime_core.config import configure, reset_config
from agent_runtime_core.context import RunContext, _current_context
from agent_runtime_core.errors import AgentRuntimeError, ConfigurationError, ErrorInfo
from agent_runtime_core.events.base import Event, EventType
from agent_runtime_core.llm.base import LLMClient, StreamChunkType
from agent_runtime_core.llm.openai import LLMError, OpenAIClient
from agent_runtime_core.testing.scripted import (
    ScriptedLLMClient,
    ScriptedModel,
    ScriptRequest,
    call_tool,
    fail,
    reply,
)
from agent_runtime_core.testing.servers.openai import OpenAICompatibleServer

KEY = "sk-test-openaiclient-SECRET-0123456789"

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
QUESTION = [{"role": "user", "content": "Weather in Paris?"}]


def weather_script() -> list[Any]:
    def answer(request: ScriptRequest) -> str:
        return f"It is {request.tool_results[-1].content} in Paris."

    return [call_tool("get_weather", {"city": "Paris"}), reply(answer)]


def after_tool(call: dict[str, Any], result: str) -> list[dict[str, Any]]:
    return [
        *QUESTION,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": result},
    ]


@pytest.fixture
def server() -> Iterator[OpenAICompatibleServer]:
    with OpenAICompatibleServer(ScriptedModel(weather_script())) as srv:
        yield srv


@pytest.fixture
async def client(server: OpenAICompatibleServer) -> AsyncIterator[OpenAIClient]:
    async with OpenAIClient(
        api_key=KEY, base_url=server.base_url, default_model="gpt-4o", max_retries=0
    ) as c:
        yield c


async def test_generate_with_tools_then_answer(
    client: OpenAIClient, server: OpenAICompatibleServer
) -> None:
    assert isinstance(client, LLMClient)
    first = await client.generate(QUESTION, tools=TOOLS)
    assert first.message == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_0_get_weather",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            }
        ],
    }
    assert first.finish_reason == "tool_calls"
    assert first.model == "gpt-4o"
    assert first.usage.input_tokens > 0 and first.usage.output_tokens > 0
    assert first.raw is not None

    second = await client.generate(
        after_tool(first.tool_calls[0], "sunny"), tools=TOOLS, model="gpt-4o-mini"
    )
    assert second.message == {"role": "assistant", "content": "It is sunny in Paris."}
    assert "tool_calls" not in second.message
    assert second.finish_reason == "stop"
    assert second.model == "gpt-4o-mini"
    body = server.requests[0].body
    assert body["tools"] == TOOLS and body["model"] == "gpt-4o"


async def test_stream_yields_deltas_assembled_tool_call_and_done_with_usage(
    client: OpenAIClient, server: OpenAICompatibleServer
) -> None:
    chunks = [chunk async for chunk in client.stream(QUESTION, tools=TOOLS)]
    assert [c.type for c in chunks] == [StreamChunkType.TOOL_CALL, StreamChunkType.DONE]
    call = chunks[0].tool_call
    assert call == {
        "id": "call_0_get_weather",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
    }
    done = chunks[-1].response
    assert done is not None and done.tool_calls == [call] and done.finish_reason == "tool_calls"
    assert done.usage.input_tokens > 0, "usage comes from the stream_options.include_usage chunk"
    assert server.requests[0].body["stream_options"] == {"include_usage": True}

    chunks = [chunk async for chunk in client.stream(after_tool(call, "cloudy"))]
    deltas = [c.text for c in chunks if c.type is StreamChunkType.TEXT_DELTA]
    assert len(deltas) > 1 and "".join(deltas) == "It is cloudy in Paris."
    assert chunks[-1].type is StreamChunkType.DONE
    final = chunks[-1].response
    assert (
        final is not None
        and final.content == "It is cloudy in Paris."
        and final.finish_reason == "stop"
    )
    assert final.usage.output_tokens == 6  # ceil(22 characters / 4)


async def test_same_script_gives_equal_results_in_process_and_over_http(
    client: OpenAIClient,
) -> None:
    scripted = ScriptedLLMClient(ScriptedModel(weather_script()), default_model="gpt-4o")
    over_http = await client.generate(QUESTION, tools=TOOLS)
    in_process = await scripted.generate(QUESTION, tools=TOOLS)
    assert over_http.message == in_process.message
    assert over_http.usage == in_process.usage
    follow_up = after_tool(in_process.tool_calls[0], "mild")
    assert (await client.generate(follow_up)).message == (
        await scripted.generate(follow_up)
    ).message


async def test_provider_errors_keep_status_and_never_show_the_key() -> None:
    script = [fail(401, f"Incorrect API key provided: {KEY}.", times=None)]
    with OpenAICompatibleServer(script) as srv:
        async with OpenAIClient(api_key=KEY, base_url=srv.base_url, max_retries=0) as client:
            with pytest.raises(LLMError) as info:
                await client.generate(QUESTION)
            with pytest.raises(LLMError) as stream_info:
                _ = [c async for c in client.stream(QUESTION)]
    for error in (info.value, stream_info.value):
        assert isinstance(error, AgentRuntimeError)
        assert error.status_code == 401
        assert error.provider == "openai"
        assert error.retriable is False
        assert error.code == "invalid_api_key" or error.error_type == "authentication_error"
        assert "Incorrect API key provided" in str(error)
        assert KEY not in str(error) and KEY not in repr(error)
        assert KEY not in ErrorInfo.from_exception(error).to_dict()["traceback"]
    assert KEY not in repr(client) and KEY not in str(client)


async def test_rate_limit_is_retriable_and_keeps_its_status() -> None:
    with OpenAICompatibleServer([fail(429, "Too many requests."), reply("ok")]) as srv:
        async with OpenAIClient(api_key=KEY, base_url=srv.base_url, max_retries=0) as client:
            with pytest.raises(LLMError) as info:
                await client.generate(QUESTION)
            assert (info.value.status_code, info.value.retriable) == (429, True)
            assert info.value.code == "rate_limit_exceeded"
            assert (await client.generate(QUESTION)).content == "ok"


async def test_connection_errors_are_retriable_without_status() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with OpenAIClient(
        api_key=KEY, base_url=f"http://127.0.0.1:{port}/v1", max_retries=0, timeout=5
    ) as client:
        with pytest.raises(LLMError, match="Could not reach") as info:
            await client.generate(QUESTION)
    assert info.value.status_code is None and info.value.retriable is True


async def test_llm_events_are_emitted_inside_a_run(client: OpenAIClient) -> None:
    events: list[Event] = []

    async def publish(event: Event) -> None:
        events.append(event)

    ctx = RunContext(publish=publish, agent_key="weather")
    token = _current_context.set(ctx)
    try:
        first = await client.generate(QUESTION, tools=TOOLS)
        _ = [c async for c in client.stream(after_tool(first.tool_calls[0], "sunny"))]
    finally:
        _current_context.reset(token)
    types = [e.type for e in events]
    assert types[:2] == [EventType.LLM_CALL_STARTED, EventType.LLM_CALL_COMPLETED]
    assert types[2] is EventType.LLM_CALL_STARTED and types[-1] is EventType.LLM_CALL_COMPLETED
    assert types.count(EventType.ASSISTANT_DELTA) == len(types) - 4 > 1
    assert events[0].payload == {"model": "gpt-4o", "provider": "openai"}
    completed = events[1].payload
    assert completed["provider"] == "openai" and completed["finish_reason"] == "tool_calls"
    assert completed["usage"] == first.usage.to_dict()
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert all(e.run_id == ctx.run_id for e in events)


async def test_failed_call_emits_llm_call_failed_redacted() -> None:
    events: list[Event] = []

    async def publish(event: Event) -> None:
        events.append(event)

    with OpenAICompatibleServer([fail(500, f"boom {KEY}", times=None)]) as srv:
        async with OpenAIClient(api_key=KEY, base_url=srv.base_url, max_retries=0) as client:
            token = _current_context.set(RunContext(publish=publish))
            try:
                with pytest.raises(LLMError):
                    await client.generate(QUESTION)
            finally:
                _current_context.reset(token)
    assert [e.type for e in events] == [EventType.LLM_CALL_STARTED, EventType.LLM_CALL_FAILED]
    error = events[1].payload["error"]
    assert error["type"] == "LLMError" and "boom" in error["message"]
    assert KEY not in json.dumps(events[1].payload)


def test_missing_key_is_a_clear_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="pass api_key=.*OPENAI_API_KEY"):
        OpenAIClient()


async def test_key_and_base_url_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, server: OpenAICompatibleServer
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    reset_config()
    async with OpenAIClient(max_retries=0) as client:
        assert client.base_url == server.base_url
        assert (await client.generate(QUESTION)).tool_calls
    assert KEY not in repr(client)
    configure(default_model="gpt-4o-mini")
    assert OpenAIClient().default_model == "gpt-4o-mini"


class _BlockOpenAI(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "openai" or name.startswith("openai."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


def test_missing_openai_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in sys.modules if n == "openai" or n.startswith("openai.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [_BlockOpenAI(), *sys.meta_path])
    with pytest.raises(ImportError) as info:
        OpenAIClient(api_key=KEY)
    assert str(info.value) == (
        "OpenAIClient requires the 'openai' package. Install it with: pip install 'agent-runtime-core[openai]'"
    )
    assert isinstance(info.value.__cause__, ImportError)


async def test_one_sdk_client_per_event_loop(client: OpenAIClient) -> None:
    first = client.client
    assert client.client is first
    await client.aclose()
    assert client.client is not first


async def test_rate_limit_is_retried_by_the_sdk_then_succeeds() -> None:
    model = ScriptedModel([fail(429, "Too many requests.", retry_after=0.01), reply("ok")])
    with OpenAICompatibleServer(model) as srv:
        async with OpenAIClient(api_key=KEY, base_url=srv.base_url, max_retries=2) as client:
            assert (await client.generate(QUESTION)).content == "ok"
        assert srv.model_calls == 2


async def test_error_after_the_last_retry_says_so_and_keeps_the_status() -> None:
    script = [fail(503, "Service overloaded.", times=None, retry_after=0.01)]
    with OpenAICompatibleServer(script) as srv:
        async with OpenAIClient(api_key=KEY, base_url=srv.base_url, max_retries=2) as client:
            with pytest.raises(LLMError) as info:
                await client.generate(QUESTION)
        assert srv.model_calls == 3
    assert info.value.status_code == 503 and info.value.retriable is True
    assert "after 2 retries" in str(info.value) and "Service overloaded." in str(info.value)


@pytest.mark.parametrize("fault", ["malformed_json", "truncated"])
@pytest.mark.parametrize("stream", [False, True], ids=["generate", "stream"])
async def test_malformed_or_truncated_responses_are_clear_retriable_errors(
    client: OpenAIClient, server: OpenAICompatibleServer, fault: Any, stream: bool
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
    assert info.value.retriable is True and info.value.provider == "openai"
    assert KEY not in str(info.value)
    assert (await client.generate(QUESTION, tools=TOOLS)).tool_calls, "the next call works"


async def test_a_client_built_after_an_environment_change_calls_the_new_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from agent_runtime_core.config import get_config
    from agent_runtime_core.llm import get_llm_client

    with OpenAICompatibleServer(ScriptedModel([reply("from one")])) as one, \
            OpenAICompatibleServer(ScriptedModel([reply("from two")])) as two:
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", one.base_url)
        assert get_config().openai_base_url == one.base_url
        async with OpenAIClient(max_retries=0) as first:
            assert (await first.generate(QUESTION)).message["content"] == "from one"
        monkeypatch.setenv("OPENAI_BASE_URL", two.base_url)
        # Built after the change, with an explicit key: the base URL still comes from the environment.
        async with OpenAIClient(api_key=KEY, max_retries=0) as second:
            assert second.base_url == two.base_url
            assert (await second.generate(QUESTION)).message["content"] == "from two"
        # get_llm_client() builds a new client for the new settings, not the cached old one.
        selected = get_llm_client("openai", max_retries=0)
        assert isinstance(selected, OpenAIClient) and selected.base_url == two.base_url
        assert (await selected.generate(QUESTION)).message["content"] == "from two"
        await selected.aclose()
        assert (one.model_calls, two.model_calls) == (1, 2)
        assert KEY not in repr(second) and KEY not in repr(get_config())
